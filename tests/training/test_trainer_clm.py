"""Causal LM training: learns a pattern, the loss is the token mean of the accumulation window, decay on matrices."""

from __future__ import annotations

import json

import datasets
import pytest
import torch
import torch.nn.functional as F
from training_helpers import counting_sequences, tiny_gpt2

from massivetext.training.arguments import TrainingArguments
from massivetext.training.trainer import Trainer
from peers import require


def _args(tmp_path, **kw):
    # fp32: these tests check the loss arithmetic against float32 references (bf16="auto" would pick bf16 here)
    base = dict(
        output_dir=str(tmp_path), logging_steps=1, save_strategy="no", disable_tqdm=True, use_cpu=True, report_to="none",
        bf16=False,
    )  # fmt: skip
    return TrainingArguments(**{**base, **kw})


def test_tiny_gpt_learns_counting_pattern(tmp_path):
    """Rows count up mod 16: after the first token everything is predictable. Stated target: eval loss < 0.25
    (the untrained model is at ln(21) = 3.04; a unigram model at ln(16) = 2.77)."""
    train = datasets.Dataset.from_dict({"input_ids": counting_sequences(512, 32, seed=0)})
    valid = datasets.Dataset.from_dict({"input_ids": counting_sequences(64, 32, seed=1)})
    args = _args(
        tmp_path,
        max_steps=80,
        per_device_train_batch_size=16,
        learning_rate=1e-2,
        warmup_steps=5,
        lr_scheduler_type="cosine",
        eval_strategy="steps",
        eval_steps=40,
        logging_steps=10,
        weight_decay=0.01,
    )
    trainer = Trainer(tiny_gpt2(), args, train_dataset=train, eval_dataset=valid)
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_loss"] < 0.25, metrics
    assert metrics["eval_perplexity"] == pytest.approx(torch.tensor(metrics["eval_loss"]).exp().item(), rel=1e-6)
    # logs: JSONL has every record with loss, lr, grad norm, tokens/s and MFU; the PNG exists
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in records if "loss" in r]
    assert len(train_logs) == 8
    for key in ("learning_rate", "grad_norm", "tokens_per_second", "mfu"):
        assert all(r[key] > 0 for r in train_logs), key
    assert any("eval_perplexity" in r for r in records)
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000


def _varied_lengths(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 24, (n,), generator=g).tolist()
    rows = counting_sequences(n, 24, seed=seed)
    return [r[:k] for r, k in zip(rows, lengths)]


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_first_step_loss_is_the_token_mean_over_the_window(tmp_path, tokenizer, label_smoothing):
    """Batch 2 x 4 accumulation steps over rows of different lengths: the logged loss is the mean over all predicted
    tokens of the 8 rows (one big reference forward pass), not the mean of the 4 micro-batch means."""
    rows = _varied_lengths(8)
    model = tiny_gpt2()
    with torch.no_grad():  # sharper logits: token losses differ a lot, so the two averages differ clearly
        model.transformer.wte.weight.mul_(30)
    # reference: every row alone, all token losses summed, divided by the number of predicted tokens
    total, count, micro_means = 0.0, 0, []
    with torch.no_grad():
        for r in rows:
            ids = torch.tensor([r])
            logits = model(ids).logits[0, :-1]
            total += F.cross_entropy(logits, ids[0, 1:], reduction="sum", label_smoothing=label_smoothing).item()
            count += len(r) - 1
    args = _args(
        tmp_path,
        max_steps=1,
        per_device_train_batch_size=2,
        gradient_accumulation_steps=4,
        learning_rate=0.0,
        label_smoothing_factor=label_smoothing,
    )
    trainer = Trainer(model, args, train_dataset=datasets.Dataset.from_dict({"input_ids": rows}), tokenizer=tokenizer)
    trainer.train()
    logged = trainer.state.log_history[0]["loss"]
    assert logged == pytest.approx(total / count, rel=1e-5)
    # the rows differ in length enough that a mean of micro-batch means would be visibly different
    order = list(trainer._loader(trainer.train_dataset, 2, shuffle=True).batch_sampler)
    for idx in order:
        with torch.no_grad():
            s = c = 0.0
            for i in idx:
                ids = torch.tensor([rows[i]])
                s += F.cross_entropy(
                    model(ids).logits[0, :-1], ids[0, 1:], reduction="sum", label_smoothing=label_smoothing
                ).item()
                c += len(rows[i]) - 1
            micro_means.append(s / c)
    assert abs(sum(micro_means) / 4 - total / count) > 0.05


def test_accumulation_equals_one_big_batch(tmp_path, tokenizer):
    """Global batch 8 as 8x1, 4x2 and 2x4 (micro-batch x accumulation) gives the same losses and weights."""
    rows = _varied_lengths(32, seed=3)
    data = datasets.Dataset.from_dict({"input_ids": rows})
    results = []
    for bs, ga in [(8, 1), (4, 2), (2, 4)]:
        args = _args(
            tmp_path / f"{bs}",
            max_steps=4,
            per_device_train_batch_size=bs,
            gradient_accumulation_steps=ga,
            learning_rate=1e-2,
        )
        trainer = Trainer(tiny_gpt2(), args, train_dataset=data, tokenizer=tokenizer)
        trainer.train()
        losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
        results.append((losses, [p.detach().clone() for p in trainer.model.parameters()]))
    for losses, params in results[1:]:
        assert losses == pytest.approx(results[0][0], rel=1e-5)
        for p, q in zip(params, results[0][1]):
            torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)  # Adam magnifies float noise


def test_weight_decay_only_on_matrices(tmp_path):
    model = tiny_gpt2()
    trainer = Trainer(model, _args(tmp_path, weight_decay=0.1, max_steps=1))
    opt = trainer.create_optimizer()
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim < 2 for p in no_decay["params"])
    named = dict(model.named_parameters())
    assert any(p is named["transformer.h.0.ln_1.weight"] for p in no_decay["params"])
    assert any(p is named["transformer.h.0.attn.c_attn.bias"] for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_raw_text_with_tokenizer(tmp_path, tokenizer):
    texts = [" ".join(f"w{(s + i) % 16}" for i in range(12)) for s in range(64)]
    args = _args(
        tmp_path, max_steps=3, per_device_train_batch_size=8, learning_rate=1e-3, save_strategy="steps", save_steps=3
    )
    trainer = Trainer(tiny_gpt2(), args, train_dataset=texts, tokenizer=tokenizer)
    out = trainer.train()
    assert out.global_step == 3 and out.training_loss > 0
    assert (tmp_path / "checkpoint-3" / "tokenizer.json").exists()


def test_gradient_checkpointing_gives_the_same_losses(tmp_path):
    data = datasets.Dataset.from_dict({"input_ids": counting_sequences(32, 16)})
    runs = []
    for gc in (False, True):
        args = _args(tmp_path / str(gc), max_steps=3, per_device_train_batch_size=8, gradient_checkpointing=gc)
        trainer = Trainer(tiny_gpt2(), args, train_dataset=data)
        trainer.train()
        runs.append([r["loss"] for r in trainer.state.log_history if "loss" in r])
    assert runs[1] == pytest.approx(runs[0], rel=1e-5)


def test_tensorboard_request_without_tensorboard_still_writes_jsonl(tmp_path):
    require("matplotlib")
    try:
        import tensorboard  # noqa: F401

        installed = True
    except ImportError:
        installed = False
    data = datasets.Dataset.from_dict({"input_ids": counting_sequences(16, 16)})
    args = _args(tmp_path, max_steps=2, per_device_train_batch_size=8, report_to="tensorboard")
    trainer = Trainer(tiny_gpt2(), args, train_dataset=data)
    if installed:
        trainer.train()
        assert any((tmp_path / "runs").iterdir())
    else:
        with pytest.warns(UserWarning, match="tensorboard"):
            trainer.train()
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["event"] == "train_begin" and "CPU" in first["peak_flops_assumption"]


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        for row in counting_sequences(40, 16):
            yield {"input_ids": torch.tensor(row)}


def test_iterable_dataset_needs_max_steps_and_trains(tmp_path):
    from massivetext.errors import ConfigError

    with pytest.raises(ConfigError, match="max_steps"):
        Trainer(tiny_gpt2(), _args(tmp_path, per_device_train_batch_size=8), train_dataset=Stream()).train()
    trainer = Trainer(tiny_gpt2(), _args(tmp_path, max_steps=7, per_device_train_batch_size=8), train_dataset=Stream())
    assert trainer.train().global_step == 7  # 5 batches a pass: the stream is read again
    assert trainer.state.data_epoch == 1


def test_empty_data_is_a_clear_error_not_a_hang(tmp_path):
    from massivetext.errors import ConfigError

    class Empty(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(())

    with pytest.raises(ConfigError, match="no batch"):
        Trainer(tiny_gpt2(), _args(tmp_path, max_steps=3), train_dataset=Empty()).train()
    rows = datasets.Dataset.from_dict({"input_ids": counting_sequences(3, 8)})
    with pytest.raises(ConfigError, match="no batch"):
        Trainer(tiny_gpt2(), _args(tmp_path, max_steps=3, per_device_train_batch_size=4, dataloader_drop_last=True),
                train_dataset=rows).train()  # fmt: skip
