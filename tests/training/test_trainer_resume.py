"""Checkpoints: HF layout, exact resume, save_total_limit that never deletes the best, best model at the end."""

from __future__ import annotations

import json

import datasets
import pytest
import torch
from training_helpers import counting_sequences, tiny_gpt2

from massivetext.training.arguments import TrainingArguments
from massivetext.training.callbacks import TrainerCallback
from massivetext.training.trainer import Trainer
from peers import require


class StopAt(TrainerCallback):
    """Simulates a crash right after step `step` (and its checkpoint)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _run(tmp_path, stop_at=None, resume=None, seed_model=0):
    # 40 rows / batch 4 = 10 micro-batches = 5 steps an epoch: 12 steps cross two epoch boundaries, resume is
    # mid-epoch; dropout on, so the RNG state matters
    data = datasets.Dataset.from_dict({"input_ids": counting_sequences(40, 16, seed=2)})
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=12, per_device_train_batch_size=4, gradient_accumulation_steps=2,
        learning_rate=3e-3, warmup_steps=2, lr_scheduler_type="cosine", weight_decay=0.1, logging_steps=1,
        save_steps=6, disable_tqdm=True, use_cpu=True, seed=7,
    )  # fmt: skip
    callbacks = [StopAt(stop_at)] if stop_at else None
    trainer = Trainer(tiny_gpt2(dropout=0.1, seed=seed_model), args, train_dataset=data, callbacks=callbacks)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def _losses(trainer):
    return {
        r["step"]: (r["loss"], r["grad_norm"], r["learning_rate"]) for r in trainer.state.log_history if "loss" in r
    }


def test_exact_resume_matches_straight_run(tmp_path):
    straight = _run(tmp_path / "a")
    _run(tmp_path / "b", stop_at=6)
    assert (tmp_path / "b" / "checkpoint-6").is_dir() and not (tmp_path / "b" / "checkpoint-12").exists()
    resumed = _run(tmp_path / "b", resume=True, seed_model=123)  # a different init: everything comes from the ckpt
    a, b = _losses(straight), _losses(resumed)
    assert sorted(b) == list(range(1, 13))  # the log history continues from the checkpoint
    assert [a[s] for s in range(1, 13)] == [b[s] for s in range(1, 13)]  # exact float equality
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_layout_loads_in_transformers(tmp_path):
    transformers = require("transformers")
    trainer = _run(tmp_path, stop_at=6)
    ckpt = tmp_path / "checkpoint-6"
    for name in (
        "model.safetensors",
        "config.json",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "trainer_state.json",
        "training_args.json",
    ):
        assert (ckpt / name).exists(), name
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["global_step"] == 6 and len(state["log_history"]) == 6
    assert state["data_epoch"] == 1 and state["data_batches_consumed"] == 2  # 12 micro-batches read, 10 an epoch
    rng = torch.load(ckpt / "rng_state.pth", weights_only=False)
    assert {"python", "numpy", "cpu"} <= set(rng)
    loaded = transformers.GPT2LMHeadModel.from_pretrained(ckpt).eval()
    ids = torch.tensor([counting_sequences(1, 16)[0]])
    trainer.model.eval()
    torch.testing.assert_close(loaded(ids).logits, trainer.model(ids).logits)


def test_save_total_limit_keeps_best_and_loads_it_at_end(tmp_path):
    data = datasets.Dataset.from_dict({"input_ids": counting_sequences(64, 16, seed=4)})
    # "best" = highest eval loss, i.e. the first evaluation: an old checkpoint the limit must not delete
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=10, per_device_train_batch_size=8, learning_rate=1e-2,
        eval_strategy="steps", eval_steps=2, save_steps=2, save_total_limit=2, load_best_model_at_end=True,
        metric_for_best_model="loss", greater_is_better=True, disable_tqdm=True, use_cpu=True, logging_steps=2,
    )  # fmt: skip
    trainer = Trainer(tiny_gpt2(), args, train_dataset=data, eval_dataset=data.select(range(16)))
    trainer.train()
    kept = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert kept == ["checkpoint-10", "checkpoint-2"]
    assert trainer.state.best_model_checkpoint == str(tmp_path / "checkpoint-2")
    from safetensors.torch import load_file

    best = load_file(str(tmp_path / "checkpoint-2" / "model.safetensors"))
    own = trainer.model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in best.items())
    evals = [r["eval_loss"] for r in trainer.state.log_history if "eval_loss" in r]
    assert trainer.state.best_metric == max(evals) == evals[0]


def test_save_total_limit_plain(tmp_path):
    data = datasets.Dataset.from_dict({"input_ids": counting_sequences(32, 16)})
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=8,
        save_steps=1,
        save_total_limit=3,
        disable_tqdm=True,
        use_cpu=True,
    )
    Trainer(tiny_gpt2(), args, train_dataset=data).train()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5", "checkpoint-6"]


def _rows(out):
    timing = {"tokens_per_second", "mfu"}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in timing} for r in rows if "event" not in r]


def test_resume_keeps_the_whole_runs_train_loss_and_cuts_metrics_back(tmp_path):
    """train_loss after a resume covers all 12 steps (not only the last 6); the rows of steps 7-9 written before the
    crash are redone after the resume, so metrics.jsonl is cut back to the checkpoint's step: no duplicate rows."""
    straight = _run(tmp_path / "a")
    straight_loss = straight.state.train_loss_sum / straight.state.train_loss_steps
    crashed = _run(tmp_path / "b", stop_at=9)  # checkpoint-6 exists; steps 7-9 were logged, then the "crash"
    assert [r["step"] for r in _rows(tmp_path / "b")] == list(range(1, 10))
    assert crashed.state.global_step == 9
    resumed_trainer = _run(tmp_path / "b", resume=str(tmp_path / "b" / "checkpoint-6"), seed_model=123)
    out_loss = resumed_trainer.state.train_loss_sum / resumed_trainer.state.train_loss_steps
    assert resumed_trainer.state.train_loss_steps == 12
    assert out_loss == pytest.approx(straight_loss, rel=1e-6)
    assert _rows(tmp_path / "b") == _rows(tmp_path / "a")  # each step once, the same numbers as the straight run


def test_train_loss_after_resume_counts_steps_not_yet_logged_at_the_checkpoint(tmp_path):
    """logging every 4 steps, checkpoint at 6: steps 5-6 were not logged when it was saved, and still count."""
    data = datasets.Dataset.from_dict({"input_ids": counting_sequences(40, 16, seed=2)})

    def run(out, stop_at=None, resume=None):
        args = TrainingArguments(output_dir=str(out), max_steps=12, per_device_train_batch_size=4, logging_steps=4,
                                 save_steps=6, disable_tqdm=True, use_cpu=True, seed=7)  # fmt: skip
        trainer = Trainer(tiny_gpt2(), args, train_dataset=data, callbacks=[StopAt(stop_at)] if stop_at else None)
        return trainer.train(resume_from_checkpoint=resume)

    straight = run(tmp_path / "a")
    run(tmp_path / "b", stop_at=6)
    resumed = run(tmp_path / "b", resume=True)
    assert resumed.training_loss == pytest.approx(straight.training_loss, rel=1e-6)
