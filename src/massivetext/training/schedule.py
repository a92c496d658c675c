"""Learning-rate schedules, with the same shapes as `transformers.get_scheduler`.

Each schedule is a multiplier of the peak learning rate as a function of the optimizer step; `LambdaLR` applies it.
The multipliers are `functools.partial`s of module functions, so a scheduler state dict pickles and reloads.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR

from massivetext.errors import ConfigError


def _warmup(step: int, warmup: int) -> float | None:
    return step / max(1, warmup) if step < warmup else None


def _linear(step: int, *, warmup: int, total: int) -> float:
    w = _warmup(step, warmup)
    return w if w is not None else max(0.0, (total - step) / max(1, total - warmup))


def _cosine(step: int, *, warmup: int, total: int, min_rate: float = 0.0) -> float:
    w = _warmup(step, warmup)
    if w is not None:
        return w
    progress = (step - warmup) / max(1, total - warmup)  # not clamped past the end, as transformers
    return max(0.0, min_rate + (1.0 - min_rate) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _constant(step: int, *, warmup: int) -> float:
    w = _warmup(step, warmup)
    return w if w is not None else 1.0


def get_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    scheduler_kwargs: dict | None = None,
) -> LambdaLR:
    """A `LambdaLR` for `name` (linear, cosine, cosine_with_min_lr, constant, constant_with_warmup)."""
    kw = dict(scheduler_kwargs or {})
    if name == "linear":
        fn = partial(_linear, warmup=num_warmup_steps, total=num_training_steps)
    elif name == "cosine":
        fn = partial(_cosine, warmup=num_warmup_steps, total=num_training_steps)
    elif name == "cosine_with_min_lr":
        base_lr = optimizer.param_groups[0]["lr"]
        if "min_lr" in kw:
            rate = kw["min_lr"] / base_lr if base_lr > 0 else 0.0
        else:
            rate = kw.get("min_lr_rate", 0.1)  # no floor given: decay to 10% of the peak (a common choice)
        fn = partial(_cosine, warmup=num_warmup_steps, total=num_training_steps, min_rate=float(rate))
    elif name == "constant":
        fn = partial(_constant, warmup=0)
    elif name == "constant_with_warmup":
        fn = partial(_constant, warmup=num_warmup_steps)
    else:
        raise ConfigError(f"unknown lr_scheduler_type {name!r}")
    return LambdaLR(optimizer, fn)
