"""The quickstart's wall-clock budget: train until the clock says stop, with a learning-rate schedule that allows it.

A step count fixed from a calibration at the start overruns as soon as the machine slows down (issue 18: 706 s
against a 600 s budget). Instead training follows warmup-stable-decay: warm up, hold the peak rate for as long as
the clock allows, and when the time left reaches ``decay_fraction`` of the training time, measure the current speed
and plan a decay of exactly the steps that fit before the deadline. The deadline itself leaves room for the stages
after training (evaluation, samples, report), scaled by how much slower the machine has become since calibration.
A hard stop at the deadline catches a machine that slows down during the decay.

Every time comes from ``clock`` (``time.perf_counter`` by default), so tests drive the logic with a fake clock.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import massivetext as mt
from massivetext.training.schedule import wsd_multiplier


def now() -> float:
    """The quickstart's clock (tests replace it with a fake one)."""
    return time.perf_counter()


@dataclass
class WallClockSchedule:
    """Learning-rate multiplier: linear warmup, then the peak until ``start_decay``; from then on a decay whose
    progress at each step is the share of the decay's time already spent (``advance``), so it ends at the deadline
    however the machine's speed changes during it. A decay fixed in steps when it starts ended a run 20% early when
    a concurrent test suite finished during it (the steps planned at 1.31 s went at 0.25 s). The progress of every
    step is kept: ``lr_scheduler_type="warmup_stable_decay"`` with ``decay_progress`` replays the same rates."""

    warmup: int
    min_ratio: float = 0.0
    decay_type: str = "1-sqrt"
    stable: int | None = None  # None until the decay starts
    progress: list[float] = field(default_factory=list)  # the decay's progress at each of its steps

    def __call__(self, step: int) -> float:
        if self.stable is None:
            return min(1.0, step / max(1, self.warmup))
        return self._fn(step)

    def start_decay(self, start: int) -> None:
        """The decay begins at optimizer step ``start`` (its first step has progress 0, the peak rate)."""
        self.warmup = min(self.warmup, start)  # a budget too small to finish the warmup decays from where it is
        self.stable, self.progress = start - self.warmup, [0.0]
        self._fn = wsd_multiplier(warmup=self.warmup, stable=self.stable, decay=1, min_ratio=self.min_ratio,
                                  decay_type=self.decay_type, progress=self.progress)  # fmt: skip

    def advance(self, fraction: float) -> None:
        """Add a decay step whose progress is ``fraction`` of the decay's time (never backwards, at most 1; rounded
        so that ``train.yaml`` holds exactly the values trained with)."""
        self.progress.append(round(min(1.0, max(self.progress[-1], fraction)), 6))

    @property
    def decay(self) -> int:
        return len(self.progress)

    def scheduler_kwargs(self) -> dict[str, Any]:
        """``lr_scheduler_kwargs`` that make the Trainer follow the same schedule (for ``train.yaml``)."""
        return {"num_stable_steps": self.stable, "num_decay_steps": self.decay, "min_lr_ratio": self.min_ratio,
                "decay_type": self.decay_type, "decay_progress": list(self.progress)}  # fmt: skip


@dataclass
class TimeBudget(mt.TrainerCallback):
    """Ends training so that the whole run finishes at ``finish_at`` (a ``clock`` time).

    ``after_s`` is what the stages after training cost at calibration speed and ``step_s`` the calibrated seconds
    per step; ``after_s`` is scaled by the slowdown seen since (recent seconds per step over ``step_s``). The
    callback installs ``schedule`` as the Trainer's learning-rate scheduler when training begins (``trainer`` is
    set once the Trainer exists: the callback is one of its constructor's arguments).
    """

    trainer: Any
    schedule: WallClockSchedule
    finish_at: float
    after_s: float
    step_s: float
    decay_fraction: float = 0.2
    min_train_s: float = 0.0  # train at least this long however late training starts (counted from its start)
    clock: Callable[[], float] = now
    report_every_s: float = 60.0
    started: float = 0.0
    decay_planned_at: float | None = None
    stopped_by: str = ""
    _ends: deque = field(default_factory=lambda: deque(maxlen=21), repr=False)
    _last_report: float = 0.0

    def training_end(self) -> float:
        """The clock time training must stop by: the finish less the later stages, at the current speed."""
        return max(self.finish_at - self.after_s * self.slowdown(), self.started + self.min_train_s)

    def seconds_per_step(self) -> float:
        """The median of the recent step times: an evaluation (or a save) between two steps is one long interval,
        and a mean over the window read it as a slower machine — planned right after the in-training evaluation,
        the decay came out a fifth too short and a quiet run ended 6% early. A lasting slowdown moves the median
        within half a window."""
        if len(self._ends) < 2:
            return self.step_s
        ends = list(self._ends)
        return statistics.median(b - a for a, b in zip(ends, ends[1:]))

    def slowdown(self) -> float:
        return min(20.0, max(0.5, self.seconds_per_step() / self.step_s))

    def on_train_begin(self, args, state, control, **kwargs):
        from torch.optim.lr_scheduler import LambdaLR

        # the Trainer built a scheduler from its arguments; ours replaces it before the first step
        self.trainer.lr_scheduler = LambdaLR(self.trainer.optimizer, self.schedule)
        self.started = self._last_report = self.clock()
        self._ends.append(self.started)

    def on_step_end(self, args, state, control, **kwargs):
        now = self.clock()
        self._ends.append(now)
        end = self.training_end()
        step = state.global_step
        sps = self.seconds_per_step()
        decaying = self.decay_planned_at is not None
        if now >= end:  # a step that overran the deadline (a slowdown the median has not caught up with yet)
            control.should_training_stop, self.stopped_by = True, "deadline"
        elif decaying and now + sps >= end:  # no room for another step: the decay is over
            control.should_training_stop, self.stopped_by = True, "schedule"
        elif not decaying and end - now - sps <= self.decay_fraction * (end - self.started):
            # the last step end before the decay point (with slow steps, the step after may be well past it)
            self.schedule.start_decay(step)
            self.decay_planned_at = now
            print(f"  decay: from step {step}, {end - now:.0f} s left (~{int((end - now) / sps)} steps at "
                  f"{sps:.2f} s/step), its progress read from the clock", flush=True)  # fmt: skip
        elif decaying:
            self.schedule.advance((now - self.decay_planned_at) / max(1e-9, end - self.decay_planned_at))
        if not control.should_training_stop and self.decay_planned_at is not None:
            sched = self.trainer.lr_scheduler
            sched.last_epoch -= 1  # the coming step's rate was set before its progress was known: set it again
            sched.step()
        if now - self._last_report >= self.report_every_s:
            self._last_report = now
            print(f"  step {step}: {now - self.started:.0f} s trained, {max(0.0, end - now):.0f} s to go, "
                  f"{self.seconds_per_step():.2f} s/step", flush=True)  # fmt: skip
        return control
