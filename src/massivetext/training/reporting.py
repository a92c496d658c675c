"""Where training numbers go: a metrics JSONL (always), TensorBoard (when asked and installed), a loss-curve PNG.

Also the peak-FLOP/s assumption behind the estimated MFU: a lookup of dense bf16 tensor-core peaks for common CUDA
devices, and 100 GFLOP/s per CPU thread on CPU (an AVX2 core: two 8-wide fp32 FMA units at ~3 GHz = 96 GFLOP/s).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from massivetext._atomic import atomic_write_text

# dense bf16 peak FLOP/s per device (vendor datasheets, no sparsity); matched by substring of the device name
CUDA_PEAK_FLOPS = [
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
    ("A10G", 125e12),
    ("A10", 125e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("V100", 125e12),
    ("T4", 65e12),
    ("4090", 165e12),
    ("3090", 71e12),
]
CPU_FLOPS_PER_THREAD = 100e9


def peak_flops(device: torch.device, override: float | None = None) -> tuple[float, str]:
    """Peak FLOP/s of one device and a sentence saying where the number comes from."""
    if override:
        return float(override), "peak_flops given in TrainingArguments"
    env = os.environ.get("MASSIVETEXT_PEAK_FLOPS")
    if env:
        return float(env), "MASSIVETEXT_PEAK_FLOPS"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, flops in CUDA_PEAK_FLOPS:
            if key in name:
                return flops, f"{name}: dense bf16 datasheet peak {flops / 1e12:.0f} TFLOP/s"
        return 312e12, f"{name}: unknown device, assuming A100 bf16 peak 312 TFLOP/s"
    threads = torch.get_num_threads()
    return threads * CPU_FLOPS_PER_THREAD, f"CPU: {threads} threads x 100 GFLOP/s (AVX2 fp32 FMA estimate)"


class MetricsWriter:
    """Appends every log record to `metrics.jsonl` and mirrors scalars to TensorBoard when enabled.

    `keep_through=N` (a resume from step N) first drops the rows of steps after N, which the resumed run redoes.
    """

    def __init__(self, output_dir: str, logging_dir: str, tensorboard: bool, keep_through: int | None = None):
        os.makedirs(output_dir, exist_ok=True)
        self.path = Path(output_dir) / "metrics.jsonl"
        if keep_through is not None and self.path.exists():
            truncate_metrics(self.path, keep_through)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir=logging_dir)
            except ImportError:
                warnings.warn(
                    "report_to asks for tensorboard but it is not installed; writing metrics.jsonl only", stacklevel=2
                )

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = record.get("step", 0)
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(
                        key.replace("eval_", "eval/") if key.startswith("eval_") else f"train/{key}", value, step
                    )

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def truncate_metrics(path: Path, keep_through: int) -> int:
    """Drop the rows of `path` whose step is after `keep_through` (atomically); return how many were dropped."""
    kept, dropped = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):  # a torn last line (the run was killed mid-write)
                dropped += 1
                continue
            try:
                step = json.loads(line).get("step")
            except (ValueError, AttributeError):
                step = None
            if isinstance(step, (int, float)) and step > keep_through:
                dropped += 1
            else:
                kept.append(line)
    if dropped:
        atomic_write_text(path, "".join(kept))
    return dropped


def plot_loss_curve(log_history: list[dict[str, Any]], path: str | Path) -> Path | None:
    """Train (and eval) loss against step, as a PNG; None when there is nothing to plot."""
    train = [(r["step"], r["loss"]) for r in log_history if "loss" in r and "step" in r]
    evals = [(r["step"], r["eval_loss"]) for r in log_history if "eval_loss" in r and "step" in r]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
