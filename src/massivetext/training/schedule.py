"""Learning-rate schedules, with the same shapes as `transformers.get_scheduler`.

Each schedule is a multiplier of the peak learning rate as a function of the optimizer step; `LambdaLR` applies it.
The multipliers are `functools.partial`s of module functions, so a scheduler state dict pickles and reloads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def _wsd(
    step: int,
    *,
    warmup: int,
    stable: int,
    decay: int,
    min_ratio: float = 0.0,
    decay_type: str = "cosine",
    progress: Sequence[float] | None = None,
) -> float:
    """Warmup-stable-decay (transformers' ``warmup_stable_decay``): linear warmup, a flat peak, then a decay of
    ``decay`` steps to ``min_ratio``. A run cut short before its decay can still be finished by starting the decay
    then, which is why a wall-clock budget uses it (Hägele et al. 2024). ``progress`` (MassiveText's extension)
    gives the decay's progress at each of its steps instead of ``i / decay``: a decay driven by the wall clock
    (the quickstart) records it so that ``massivetext train`` replays the same rates step for step."""
    if progress is not None:
        decay = len(progress)
    if step < warmup:
        return max(0.0, (step / max(1, warmup)) * (1.0 - min_ratio) + min_ratio)
    if step < warmup + stable:
        return 1.0
    if step < warmup + stable + decay:
        i = step - warmup - stable
        progress = progress[i] if progress is not None else i / max(1, decay)
        if decay_type == "linear":
            factor = 1.0 - progress
        elif decay_type == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * progress))
        else:  # "1-sqrt"
            factor = 1.0 - math.sqrt(progress)
        return max(0.0, factor * (1.0 - min_ratio) + min_ratio)
    return min_ratio


def wsd_multiplier(
    *,
    warmup: int,
    decay: int,
    total: int | None = None,
    stable: int | None = None,
    min_ratio: float = 0.0,
    decay_type: str = "cosine",
    progress: Sequence[float] | None = None,
) -> partial:
    """The multiplier of a warmup-stable-decay schedule; ``stable`` defaults to what ``total`` leaves; ``progress``
    (one value in [0, 1] per decay step, the list may grow while training) replaces the even spacing of the decay."""
    if decay_type not in ("linear", "cosine", "1-sqrt"):
        raise ConfigError(f"warmup_stable_decay: decay_type must be linear, cosine or 1-sqrt, got {decay_type!r}")
    if stable is None:
        if total is None:
            raise ConfigError("warmup_stable_decay needs num_stable_steps or the total number of steps")
        stable = total - warmup - decay
    if decay < 0 or stable < 0:
        raise ConfigError(f"warmup_stable_decay: {warmup} warmup + {decay} decay steps do not fit in {total} steps")
    if progress is not None and (decay != len(progress) or any(not 0.0 <= p <= 1.0 for p in progress)):
        raise ConfigError(
            f"warmup_stable_decay: decay_progress needs num_decay_steps ({decay}) values in [0, 1], got {len(progress)}"
        )
    return partial(_wsd, warmup=warmup, stable=stable, decay=decay, min_ratio=float(min_ratio),
                   decay_type=decay_type, progress=progress)  # fmt: skip


def get_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    scheduler_kwargs: dict | None = None,
) -> LambdaLR:
    """A `LambdaLR` for `name` (linear, cosine, cosine_with_min_lr, constant, constant_with_warmup,
    warmup_stable_decay: ``scheduler_kwargs`` num_decay_steps, num_stable_steps, min_lr_ratio, decay_type and
    MassiveText's decay_progress)."""
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
    elif name == "warmup_stable_decay":
        if "num_decay_steps" not in kw:
            raise ConfigError("lr_scheduler_type warmup_stable_decay needs lr_scheduler_kwargs num_decay_steps")
        fn = wsd_multiplier(
            warmup=num_warmup_steps, decay=int(kw["num_decay_steps"]), total=num_training_steps,
            stable=kw.get("num_stable_steps"), min_ratio=kw.get("min_lr_ratio", 0.0),
            decay_type=kw.get("decay_type", "cosine"), progress=kw.get("decay_progress"),
        )  # fmt: skip
    else:
        raise ConfigError(f"unknown lr_scheduler_type {name!r}")
    return LambdaLR(optimizer, fn)
