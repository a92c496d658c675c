"""The classic example (`load_dataset` -> model -> `TrainingArguments` -> `Trainer(train_dataset=...)` -> `train()`)
with the inputs a new user gives it: each fails today with a raw error from deep inside; here it works or says what
to change."""

from __future__ import annotations

import logging

import datasets
import pytest
import transformers
from training_helpers import WORDS, make_tokenizer, tiny_gpt2

from massivetext.errors import ConfigError, MassiveTextError
from massivetext.training.arguments import TrainingArguments
from massivetext.training.trainer import Trainer

TEXTS = [" ".join(WORDS[(i + j) % 16] for j in range(100)) for i in range(8)]  # 100 tokens each


def _args(tmp_path, **kw):
    return TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, save_strategy="no",
                             disable_tqdm=True, use_cpu=True, **kw)  # fmt: skip


def test_whole_dataset_dict_uses_its_train_split(tmp_path, tokenizer, caplog):
    whole = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"text": TEXTS[:4]}), "test": datasets.Dataset.from_dict({"text": TEXTS})}
    )
    with caplog.at_level(logging.WARNING, logger="massivetext"):
        trainer = Trainer(tiny_gpt2(), _args(tmp_path), train_dataset=whole, tokenizer=tokenizer)
    assert "using its 'train' split" in caplog.text
    assert trainer.train().global_step == 2
    assert len(trainer.train_dataset) == 4 * 4  # the train split's 4 texts, each 100 tokens in 4 windows of 32
    no_train = datasets.DatasetDict({"validation": datasets.Dataset.from_dict({"text": TEXTS})})
    with pytest.raises(ConfigError, match=r"splits \['validation'\].*train_dataset=dataset\['validation'\]"):
        Trainer(tiny_gpt2(), _args(tmp_path), train_dataset=no_train, tokenizer=tokenizer)


def test_raw_text_longer_than_the_model_is_windowed_for_causal_lm(tmp_path, tokenizer):
    trainer = Trainer(tiny_gpt2(n_positions=32), _args(tmp_path), train_dataset=TEXTS, tokenizer=tokenizer)
    windows = trainer.train_dataset["input_ids"]
    assert max(len(w) for w in windows) == 32
    # consecutive windows put back together are the whole tokenized texts: nothing cut off
    full = [tokenizer(t)["input_ids"] for t in TEXTS]
    assert sum(windows, []) == sum(full, [])
    assert trainer.train().global_step == 2


def test_raw_text_longer_than_the_model_is_truncated_for_masked_lm(tmp_path, tokenizer):
    config = transformers.BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=24)  # fmt: skip
    trainer = Trainer(transformers.BertForMaskedLM(config), _args(tmp_path), train_dataset=TEXTS, tokenizer=tokenizer)
    assert {len(ids) for ids in trainer.train_dataset["input_ids"]} == {24}
    assert trainer.train().global_step == 2


def test_label_column_under_causal_lm_is_ignored_with_a_log_line(tmp_path, tokenizer, caplog):
    data = datasets.Dataset.from_dict({"text": [t[:40] for t in TEXTS], "label": [i % 2 for i in range(8)]})
    with caplog.at_level(logging.WARNING, logger="massivetext"):
        trainer = Trainer(tiny_gpt2(), _args(tmp_path), train_dataset=data, tokenizer=tokenizer)
    assert "ignores the per-example column(s) ['label']" in caplog.text
    assert "label" not in trainer.train_dataset.column_names
    assert trainer.train().training_loss > 0


def test_masked_lm_without_a_mask_token_says_how_to_add_one(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    no_mask = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    with pytest.raises(
        MassiveTextError, match=r"needs a tokenizer with a mask token.*add_special_tokens\(\{'mask_token'"
    ):
        Trainer(transformers.BertForMaskedLM(config), _args(tmp_path), train_dataset=TEXTS, tokenizer=no_mask)
    # and the advice works: add the token, grow the embeddings, train
    no_mask.add_special_tokens({"mask_token": "[MASK]"})
    model = transformers.BertForMaskedLM(config)
    model.resize_token_embeddings(len(no_mask))
    trainer = Trainer(model, _args(tmp_path), train_dataset=[t[:60] for t in TEXTS], tokenizer=no_mask)
    assert trainer.train().global_step == 2


def test_make_tokenizer_has_no_limit():  # the premise of the length tests: only the model limits the length
    assert make_tokenizer().model_max_length > 10**6
