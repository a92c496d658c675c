"""Golden loss curve: the first 50 steps of a fixed tiny run against a stored curve, per precision (as torchtitan).

A change to the model, the loss, the optimizer, the schedule or the data order that moves the curve fails here.
Tolerance per step: fp32 |loss - golden| <= 2e-3 + 1e-3 * golden (summation order differs across CPUs' kernels);
bf16 |loss - golden| <= 2e-2 + 1e-2 * golden (bf16 rounding differs more across kernels). Regenerate after an
intended change with `python tests/training/test_golden_loss.py` and say why in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).with_name("golden_loss.json")
TOL = {"fp32": (2e-3, 1e-3), "bf16": (2e-2, 1e-2)}


def run_curve(precision: str, out_dir: str) -> list[float]:
    import datasets

    import massivetext as mt

    g = torch.Generator().manual_seed(0)
    # a learnable stream: each row counts up from a random start (mod 40), so the loss falls steadily
    starts = torch.randint(0, 40, (256, 1), generator=g)
    rows = ((starts + torch.arange(24)) % 40 + 2).tolist()
    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=48, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    torch.manual_seed(0)
    model = mt.AutoModelForCausalLM.from_config(cfg)
    args = mt.TrainingArguments(
        output_dir=out_dir, max_steps=50, per_device_train_batch_size=8, learning_rate=3e-3, warmup_steps=5,
        lr_scheduler_type="cosine", weight_decay=0.1, logging_steps=1, save_strategy="no", disable_tqdm=True,
        use_cpu=True, seed=0, bf16=precision == "bf16", torch_compile=False,
    )  # fmt: skip
    trainer = mt.Trainer(model, args, train_dataset=datasets.Dataset.from_dict({"input_ids": rows}))
    trainer.train()
    return [r["loss"] for r in trainer.state.log_history if "loss" in r and "train_loss" not in r]


def _bf16_native() -> bool:
    from massivetext.training.speed import cpu_bf16_unit

    return cpu_bf16_unit() is not None


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_first_50_steps_follow_the_golden_curve(tmp_path, precision):
    if precision == "bf16" and not _bf16_native():
        pytest.skip("this CPU has no native bf16 unit (AMX / AVX-512 BF16): the bf16 curve is not defined here")
    golden = json.loads(GOLDEN.read_text())[precision]
    got = run_curve(precision, str(tmp_path))
    assert len(got) == len(golden) == 50
    atol, rtol = TOL[precision]
    worst = max(abs(a - b) - (atol + rtol * b) for a, b in zip(got, golden))
    assert worst <= 0, f"{precision} curve left the golden one by {worst:.4g} beyond tolerance: {got}"
    assert golden[-1] < 0.6 * golden[0]  # the stored curve is a learning curve, not noise


if __name__ == "__main__":  # regenerate: python tests/training/test_golden_loss.py
    import tempfile

    curves = {}
    for precision in ("fp32", "bf16"):
        with tempfile.TemporaryDirectory() as d:
            curves[precision] = run_curve(precision, d)
        print(precision, curves[precision][0], "->", curves[precision][-1], file=sys.stderr)
    GOLDEN.write_text(json.dumps(curves, indent=1) + "\n")
