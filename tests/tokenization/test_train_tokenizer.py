"""train_tokenizer: kinds, special tokens, streaming sources, parity with the bare tokenizers trainer."""

import gzip
import json

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

import massivetext as mt
from tokenization_helpers import TEXTS, corpus, write_jsonl


def test_bpe_equals_the_bare_tokenizers_trainer():
    texts = corpus(120)
    ours = mt.train_tokenizer(texts, vocab_size=400)
    bare = Tokenizer(models.BPE())
    bare.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bare.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, min_frequency=2, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    bare.train_from_iterator(texts, trainer)
    assert ours.get_vocab() == bare.get_vocab()
    for text in TEXTS:
        assert ours.encode(text) == bare.encode(text).ids


def test_streams_from_a_one_shot_generator_in_batches():
    consumed = []

    def gen():
        for i, text in enumerate(corpus(3000)):
            consumed.append(i)
            yield text

    tok = mt.train_tokenizer(gen(), vocab_size=300)
    assert len(consumed) == 3000 and len(tok) == 300


def test_trains_from_files_records_and_datasets(tmp_path):
    docs = [{"id": i, "body": t} for i, t in enumerate(corpus(100))]
    plain = write_jsonl(tmp_path / "a.jsonl", docs[:50])
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs[50:])
    from_files = mt.train_tokenizer(files=[plain, str(tmp_path / "b.jsonl.gz")], vocab_size=350, text_field="body")
    from_records = mt.train_tokenizer(iter(docs), vocab_size=350, text_field="body")
    import datasets

    from_dataset = mt.train_tokenizer(datasets.Dataset.from_list(docs), vocab_size=350, text_field="body")
    assert from_files.get_vocab() == from_records.get_vocab() == from_dataset.get_vocab()
    with pytest.raises(mt.BadInputError, match="body"):
        mt.train_tokenizer(datasets.Dataset.from_list(docs), vocab_size=350)


def test_wordpiece_and_unigram_defaults_and_custom_special_tokens():
    wp = mt.train_tokenizer(corpus(100), kind="wordpiece", vocab_size=200)
    assert [wp.convert_ids_to_tokens(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert wp("Hello")["input_ids"][0] == wp.cls_token_id and "token_type_ids" in wp.model_input_names
    assert wp.decode(wp.encode("Hello World"), skip_special_tokens=True) == "hello world"
    uni = mt.train_tokenizer(corpus(100), kind="unigram", vocab_size=150)
    ids = uni.encode("hello world")
    assert ids[-1] == uni.eos_token_id and uni.decode(ids, skip_special_tokens=True) == "hello world"
    custom = mt.train_tokenizer(corpus(50), vocab_size=300, special_tokens=["<s>", "</s>", "<pad>", "<unk>", "<x>"])
    assert (custom.bos_token, custom.eos_token, custom.pad_token, custom.unk_token) == ("<s>", "</s>", "<pad>", "<unk>")
    assert custom.additional_special_tokens == ["<x>"] and custom.convert_tokens_to_ids("<x>") == 4
    roles = mt.train_tokenizer(corpus(50), vocab_size=300, special_tokens={"eos_token": "<eos>", "pad_token": "<p>"})
    assert roles.eos_token_id == 0 and roles.pad_token_id == 1 and roles.bos_token is None
    with pytest.raises(mt.ConfigError, match="kind"):
        mt.train_tokenizer(corpus(5), kind="bytes")
