"""CUDA-only paths: fp16 with a GradScaler (saved in the checkpoint and resumed), bf16 autocast, torch.compile."""

from __future__ import annotations

import pytest
import torch
from training_helpers import counting_sequences, tiny_gpt2

from massivetext.training.arguments import TrainingArguments
from massivetext.training.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("mode", ["fp16", "bf16", "bf16_compile"])
def test_mixed_precision_learns_and_resumes(tmp_path, mode):
    data = [{"input_ids": row} for row in counting_sequences(256, 32)]  # no `datasets` needed
    kw = {"fp16": mode == "fp16", "bf16": mode.startswith("bf16"), "torch_compile": mode.endswith("compile")}
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=60,
        per_device_train_batch_size=16,
        learning_rate=1e-2,
        logging_steps=10,
        save_steps=30,
        disable_tqdm=True,
        **kw,
    )
    trainer = Trainer(tiny_gpt2(), args, train_dataset=data, eval_dataset=data[:32])
    assert trainer.device.type == "cuda"
    trainer.train()
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    assert losses[-1] < 0.5 * losses[0], losses
    assert (tmp_path / "checkpoint-30" / "scaler.pt").exists() == (mode == "fp16")
    assert trainer.evaluate()["eval_loss"] < 1.0
    resumed = Trainer(tiny_gpt2(seed=1), args, train_dataset=data)
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-30"))
    assert resumed.state.global_step == 60
