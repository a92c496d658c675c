"""`predict_with_generate`: evaluation generates (batched `model.generate`) and `compute_metrics` scores the ids,
as transformers' Seq2SeqTrainer does; the same BLEU as generating and scoring by hand."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import sacrebleu
import torch
import transformers

from massivetext.training.arguments import TrainingArguments
from massivetext.training.trainer import Trainer


def _reverse_rows(tokenizer, n, seed):
    rng = np.random.default_rng(seed)
    src = rng.integers(5, 11, size=(n, 5))
    tgt = np.concatenate([src[:, ::-1], np.full((n, 1), tokenizer.sep_token_id)], axis=1)
    return datasets.Dataset.from_dict({"input_ids": src.tolist(), "labels": tgt.tolist()})


def _bleu_metric(tokenizer):
    pad = tokenizer.pad_token_id

    def compute_metrics(pred):
        preds = np.where(pred.predictions != -100, pred.predictions, pad)
        labels = np.where(pred.label_ids != -100, pred.label_ids, pad)  # as transformers' examples do
        hyps = tokenizer.batch_decode(preds, skip_special_tokens=True)
        refs = tokenizer.batch_decode(labels, skip_special_tokens=True)
        return {"bleu": sacrebleu.corpus_bleu(hyps, [refs]).score}

    return compute_metrics


def test_bleu_from_evaluate_equals_generating_and_scoring_by_hand(tmp_path, tokenizer):
    torch.manual_seed(0)
    config = transformers.T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, dropout_rate=0.0,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )  # fmt: skip
    model = transformers.T5ForConditionalGeneration(config)
    evalset = _reverse_rows(tokenizer, 20, seed=1)
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=60, per_device_train_batch_size=32, per_device_eval_batch_size=8,
        learning_rate=1e-2, save_strategy="no", disable_tqdm=True, use_cpu=True, predict_with_generate=True,
        generation_max_length=9, generation_num_beams=2,
        bf16=False,  # compared with generating by hand in fp32 below (bf16="auto" would evaluate under autocast)
    )  # fmt: skip
    trainer = Trainer(model, args, train_dataset=_reverse_rows(tokenizer, 1024, seed=0), eval_dataset=evalset,
                      tokenizer=tokenizer, compute_metrics=_bleu_metric(tokenizer))  # fmt: skip
    trainer.train()
    metrics = trainer.evaluate()
    # by hand: generate each eval batch, decode, score with sacrebleu
    model.eval()
    hyps, refs = [], []
    for start in range(0, len(evalset), 8):
        rows = evalset[start : start + 8]
        with torch.no_grad():
            out = model.generate(input_ids=torch.tensor(rows["input_ids"]), max_length=9, num_beams=2)
        hyps += tokenizer.batch_decode(out, skip_special_tokens=True)
        refs += tokenizer.batch_decode(rows["labels"], skip_special_tokens=True)
    expected = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert expected > 5, expected  # learned something: the equality below is not 0 == 0
    assert metrics["eval_bleu"] == pytest.approx(expected, abs=1e-9)
    assert "eval_loss" in metrics  # the loss is still computed (teacher forcing), as Seq2SeqTrainer does
    # predict: the generated ids, padded with the pad id to generation_max_length (as Seq2SeqTrainer pads)
    out = trainer.predict(evalset)
    assert out.predictions.shape == (20, 9) and out.label_ids.shape == (20, 9)
    assert tokenizer.batch_decode(out.predictions, skip_special_tokens=True) == hyps


def test_causal_lm_generates_the_continuation_of_each_prompt(tmp_path, tokenizer):
    """A decoder-only model: prompts of different lengths are left-aligned for generate; the predictions are the
    generation_max_length new tokens only, equal to generating each prompt alone."""
    import massivetext as mt

    torch.manual_seed(0)
    model = mt.AutoModelForCausalLM.from_config(
        mt.AutoConfig.for_model(
            "gpt2",
            vocab_size=len(tokenizer),
            n_layer=1,
            n_head=2,
            n_embd=16,
            n_positions=32,
            pad_token_id=0,
            eos_token_id=3,
        )  # fmt: skip
    )
    prompts = [[5, 6, 7], [8, 9, 10, 11, 12], [13, 14]]
    refs = [[20, 5], [6], [7, 8, 9]]
    data = datasets.Dataset.from_dict({"input_ids": prompts, "labels": refs})
    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=3, predict_with_generate=True,
                             generation_max_length=10, disable_tqdm=True, use_cpu=True)  # fmt: skip
    trainer = Trainer(model, args, tokenizer=tokenizer)
    out = trainer.predict(data)
    assert out.predictions.shape == (3, 10)
    model.eval()  # as predict had it (dropout off)
    for row, prompt in zip(out.predictions, prompts):
        alone = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=10)[0, len(prompt) :].tolist()
        assert row[: len(alone)].tolist() == alone
        assert (row[len(alone) :] == tokenizer.pad_token_id).all()


def test_massivetext_t5_predictions_are_its_generate_output_padded(tmp_path, tokenizer):
    """MassiveText's own T5: the predictions are `generate`'s ids for each eval batch, padded with the pad id to
    generation_max_length; the labels padded the same way (Seq2SeqTrainer's `_pad_tensors_to_max_len`)."""
    import massivetext as mt

    torch.manual_seed(0)
    config = mt.AutoConfig.for_model(
        "t5", vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4, dropout_rate=0.0,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )  # fmt: skip
    model = mt.AutoModelForSeq2SeqLM.from_config(config)
    data = _reverse_rows(tokenizer, 6, seed=3)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=4, predict_with_generate=True,
                             generation_max_length=12, generation_num_beams=2, disable_tqdm=True, use_cpu=True)  # fmt: skip
    out = Trainer(model, args, tokenizer=tokenizer).predict(data)
    model.eval()
    expected = []
    for start in range(0, 6, 4):
        ids = model.generate(input_ids=torch.tensor(data["input_ids"][start : start + 4]), max_length=12, num_beams=2)
        row = torch.full((ids.shape[0], 12), tokenizer.pad_token_id)
        row[:, : ids.shape[1]] = ids
        expected.append(row)
    assert np.array_equal(out.predictions, torch.cat(expected).numpy())
    labels = np.full((6, 12), tokenizer.pad_token_id)
    labels[:, :6] = data["labels"]
    assert np.array_equal(out.label_ids, labels)
    assert "test_loss" in out.metrics
