"""Trainer state, control flags and callbacks, shaped like `transformers`' so existing callbacks read naturally.

A callback subclasses `TrainerCallback` and overrides any of the `on_*` hooks; each receives
`(args, state, control, **kwargs)` and may set flags on `control` (stop training, force a save or an evaluation).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainerState:
    """Where a run stands; saved as `trainer_state.json` in every checkpoint."""

    global_step: int = 0
    max_steps: int = 0
    epoch: float = 0.0
    num_train_epochs: int = 0
    logging_steps: float = 500
    eval_steps: float | None = None
    save_steps: float = 500
    train_batch_size: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0.0
    log_history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_model_checkpoint: str | None = None
    # data position: epoch being read and micro-batches of it already consumed (exact resume)
    data_epoch: int = 0
    data_batches_consumed: int = 0
    data_state: dict[str, Any] | None = None
    # every step's loss summed, and how many steps: the run's mean `train_loss`, which a resume continues
    train_loss_sum: float = 0.0
    train_loss_steps: int = 0
    is_world_process_zero: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainerState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def save_to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


@dataclass
class TrainerControl:
    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False


class TrainerCallback:
    """Base class: every hook is a no-op."""

    def on_init_end(self, args, state, control, **kwargs): ...
    def on_train_begin(self, args, state, control, **kwargs): ...
    def on_train_end(self, args, state, control, **kwargs): ...
    def on_epoch_begin(self, args, state, control, **kwargs): ...
    def on_epoch_end(self, args, state, control, **kwargs): ...
    def on_step_begin(self, args, state, control, **kwargs): ...
    def on_step_end(self, args, state, control, **kwargs): ...
    def on_evaluate(self, args, state, control, metrics=None, **kwargs): ...
    def on_predict(self, args, state, control, metrics=None, **kwargs): ...
    def on_save(self, args, state, control, **kwargs): ...
    def on_log(self, args, state, control, logs=None, **kwargs): ...


class CallbackHandler:
    """Calls one hook on every callback in order and returns the (possibly changed) control."""

    def __init__(self, callbacks: list[Any] | None = None):
        self.callbacks: list[Any] = []
        for cb in callbacks or []:
            self.add_callback(cb)

    def add_callback(self, callback: Any) -> None:
        self.callbacks.append(callback() if isinstance(callback, type) else callback)

    def call(self, event: str, args, state, control, **kwargs) -> TrainerControl:
        for cb in self.callbacks:
            hook = getattr(cb, event, None)
            if hook is not None:
                result = hook(args, state, control, **kwargs)
                if isinstance(result, TrainerControl):
                    control = result
        return control


class EarlyStoppingCallback(TrainerCallback):
    """Stop when `metric_for_best_model` has not improved for `early_stopping_patience` evaluations."""

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float = 0.0):
        self.patience, self.threshold = early_stopping_patience, early_stopping_threshold
        self.bad_evals = 0
        self.best: float | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        name = args.metric_for_best_model or "loss"
        key = name if name.startswith("eval_") else f"eval_{name}"
        value = (metrics or {}).get(key)
        if value is None:
            return control
        better = self.best is None or (
            value > self.best + self.threshold if args.greater_is_better else value < self.best - self.threshold
        )
        if better:
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
            if self.bad_evals >= self.patience:
                control.should_training_stop = True
        return control
