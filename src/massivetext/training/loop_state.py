"""What one `Trainer.train` call works with besides the `TrainerState`: the step plan and the running numbers.

`TrainerState` is what a checkpoint keeps; `TrainingRun` is what lives only as long as the call: the wrapped model,
the progress bar, and the step losses summed on the device since the last log row (read back only when a row is
written, so a step never waits for the device).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch


class StepPlan(NamedTuple):
    max_steps: int
    steps_per_epoch: int | None  # None: the data is a stream of unknown length
    loader_len: int | None  # micro-batches in one pass (this rank), None for a stream
    iterable: bool
    drop_last: bool


@dataclass
class TrainingRun:
    plan: StepPlan
    device: torch.device
    forward: Any  # what is called for training: the model, DDP-wrapped and/or compiled
    ddp: Any  # the DDP wrapper (for no_sync), or the model
    log_every: int = 0
    eval_every: int = 0
    save_every: int = 0
    params: list[torch.nn.Parameter] = field(default_factory=list)
    peak_flops: float = 1.0
    bar: Any = None
    stop: bool = False
    # since the last log row
    loss: torch.Tensor = None  # type: ignore[assignment]  # summed step losses, on the device
    steps: int = 0
    tokens: int = 0
    t_log: float = 0.0
    # the last step's numbers
    seq_len: int = 0
    lr: float = 0.0
    grad_norm: torch.Tensor = field(default_factory=lambda: torch.zeros(()))

    def __post_init__(self) -> None:
        self.loss = torch.zeros((), device=self.device)
        self.t_log = time.perf_counter()

    def reset_window(self) -> None:
        self.loss.zero_()
        self.steps = self.tokens = 0
        self.t_log = time.perf_counter()


def every(value: float | None, total: int) -> int:
    """An interval in steps: a fraction (< 1) of the run's steps, or a step count; 0 for None (never)."""
    if value is None:
        return 0
    return max(1, math.ceil(value * total)) if value < 1 else int(value)
