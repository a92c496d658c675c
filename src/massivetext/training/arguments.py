"""`TrainingArguments`: the knobs of a training run, spelled as in `transformers` 4.x.

Code written for `transformers.TrainingArguments` runs as written. Unknown names and contradictory settings raise
`ConfigError` with a message that says what to change, instead of being silently ignored. Values of the wrong type
(a YAML string where a number belongs) are converted by the field's type when they read as one, else rejected with
the field's name.

The arguments that transformers' scripts pass but that change nothing here are listed in `COMPATIBILITY_ONLY`, with
why; setting one of them to something other than its default warns once per process.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import typing
import warnings
from dataclasses import dataclass, field
from typing import Any

from massivetext.errors import ConfigError

SCHEDULERS = ("linear", "cosine", "cosine_with_min_lr", "constant", "constant_with_warmup", "warmup_stable_decay")
STRATEGIES = ("no", "steps", "epoch")
REPORTERS = ("none", "all", "tensorboard", "jsonl")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")
# transformers names that mean the same thing here, mapped to ours
_ALIASES = {"evaluation_strategy": "eval_strategy", "no_cuda": "use_cpu"}

# Accepted so that transformers scripts run unchanged, but without effect here: name -> (default, why it does nothing)
COMPATIBILITY_ONLY: dict[str, tuple[Any, str]] = {
    "do_train": (False, "transformers' example scripts read it; Trainer.train() trains whatever it is"),
    "do_eval": (False, "scripts read it; evaluation follows eval_strategy and Trainer.evaluate()"),
    "do_predict": (False, "scripts read it; call Trainer.predict() to predict"),
    "overwrite_output_dir": (False, "output_dir is always written into; resume with resume_from_checkpoint"),
    "run_name": (None, "only experiment trackers (wandb, mlflow) use it, and none is supported"),
    "save_safetensors": (True, "checkpoints are always written as safetensors"),
}
_warned: set[str] = set()


@dataclass(init=False)
class TrainingArguments:
    """Arguments of `Trainer`; the names and defaults of `transformers.TrainingArguments` (4.x).

    Only `output_dir` may be given by position. transformers' old names (`evaluation_strategy`, `no_cuda`) are
    accepted; an unknown name raises `ConfigError` suggesting the nearest known one.
    """

    output_dir: str = "trainer_output"
    overwrite_output_dir: bool = False
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    # length of training
    num_train_epochs: float = 3.0
    max_steps: int = -1
    # batches
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    # optimizer
    optim: str = "adamw_torch_fused"  # transformers' default since torch 2.8; fused also runs on CPU
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    label_smoothing_factor: float = 0.0
    # schedule
    lr_scheduler_type: str = "linear"
    lr_scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    # logging
    logging_dir: str | None = None
    # "steps": every logging_steps (and the last step); "epoch": at each epoch's end; "no": no rows
    logging_strategy: str = "steps"
    logging_steps: float = 500
    logging_first_step: bool = False
    report_to: str | list[str] = "none"
    disable_tqdm: bool = False
    run_name: str | None = None
    # evaluation and checkpoints
    eval_strategy: str = "no"
    eval_steps: float | None = None
    save_strategy: str = "steps"
    save_steps: float = 500
    save_total_limit: int | None = None
    save_safetensors: bool = True
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    resume_from_checkpoint: str | bool | None = None
    # reproducibility
    seed: int = 42
    data_seed: int | None = None
    # speed and memory
    # "auto": bf16 autocast where the hardware has native bf16 (CUDA cc >= 8, CPU with AMX / AVX-512 BF16), else fp32
    bf16: bool | str = "auto"
    fp16: bool = False
    # "auto": compile MassiveText models when the run is longer than the measured break-even (training/speed.py)
    torch_compile: bool | str = "auto"
    gradient_checkpointing: bool = False
    use_cpu: bool = False
    tf32: bool | None = None  # CUDA: allow TF32 matmuls (None leaves torch's setting alone)
    # data
    dataloader_num_workers: int = 0
    dataloader_drop_last: bool = False
    dataloader_pin_memory: bool = True
    remove_unused_columns: bool = True
    max_seq_length: int | None = None  # raw text + tokenizer: truncate to this many tokens (as TRL's SFTConfig)
    # distributed (torchrun sets the rank and world size through the environment)
    ddp_backend: str | None = None
    ddp_find_unused_parameters: bool | None = None
    # estimated MFU: peak FLOP/s of one device; None = look it up (CUDA) or assume 100 GFLOP/s per CPU thread
    peak_flops: float | None = None
    # evaluation by generation (transformers' Seq2SeqTrainingArguments): predictions are generated token ids
    predict_with_generate: bool = False
    generation_max_length: int | None = None  # None: the model's generation_config / config max_length
    generation_num_beams: int | None = None  # None: the model's default (greedy unless it says otherwise)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > 1:
            raise ConfigError("TrainingArguments: pass arguments by name (only output_dir may be positional)")
        if args:
            if "output_dir" in kwargs:
                raise ConfigError("TrainingArguments: output_dir given both by position and by name")
            kwargs["output_dir"] = args[0]
        kwargs = _canonical_names(kwargs)
        hints = _field_types()
        for f in dataclasses.fields(self):
            if f.name in kwargs:
                value = _coerce(f.name, kwargs[f.name], hints[f.name])
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:
                value = f.default_factory()  # type: ignore[misc]
            setattr(self, f.name, value)
        _warn_compatibility_only(self)
        self._check()

    # ---- construction helpers ---------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingArguments:
        """Build from a mapping (a YAML section); unknown names raise `ConfigError`."""
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    @property
    def train_batch_size(self) -> int:
        return self.per_device_train_batch_size

    @property
    def report_targets(self) -> set[str]:
        targets = {self.report_to} if isinstance(self.report_to, str) else set(self.report_to or [])
        return {"tensorboard", "jsonl"} if "all" in targets else targets - {"none"}

    # ---- validation -------------------------------------------------------------------------------------------
    def _check(self) -> None:
        def bad(msg: str) -> None:
            raise ConfigError(f"TrainingArguments: {msg}")

        for name in ("bf16", "torch_compile"):  # True, False or "auto" (YAML and --set give strings)
            value = getattr(self, name)
            if isinstance(value, str):
                value = {"true": True, "false": False, "auto": "auto"}.get(value.strip().lower(), value)
                setattr(self, name, value)
            if value not in (True, False, "auto"):
                bad(f"{name} must be true, false or 'auto', got {value!r}")
        if self.bf16 is True and self.fp16:
            bad("bf16=True and fp16=True are both set; choose one mixed-precision mode")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
            if int(getattr(self, name)) < 1:
                bad(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            bad("set max_steps > 0 or num_train_epochs > 0; as given the run would train for zero steps")
        if self.learning_rate < 0:
            bad(f"learning_rate must be >= 0, got {self.learning_rate}")
        if self.max_grad_norm is not None and self.max_grad_norm < 0:
            bad(f"max_grad_norm must be >= 0 (0 disables clipping), got {self.max_grad_norm}")
        if not 0.0 <= self.label_smoothing_factor < 1.0:
            bad(f"label_smoothing_factor must be in [0, 1), got {self.label_smoothing_factor}")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            bad(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
        if self.warmup_steps < 0:
            bad(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.warmup_steps > 0 and self.warmup_ratio > 0:
            bad("warmup_steps and warmup_ratio are both set; give one of them")
        if self.lr_scheduler_type not in SCHEDULERS:
            bad(f"lr_scheduler_type={self.lr_scheduler_type!r} is not one of {', '.join(SCHEDULERS)}")
        if self.optim not in OPTIMIZERS:
            bad(f"optim={self.optim!r} is not one of {', '.join(OPTIMIZERS)}")
        for name in ("eval_strategy", "save_strategy", "logging_strategy"):
            if getattr(self, name) not in STRATEGIES:
                bad(f"{name}={getattr(self, name)!r} is not one of {', '.join(STRATEGIES)}")
        targets = {self.report_to} if isinstance(self.report_to, str) else set(self.report_to or [])
        unknown = targets - set(REPORTERS)
        if unknown:
            bad(f"report_to={sorted(unknown)} is not supported; use any of {', '.join(REPORTERS)}")
        if self.logging_strategy == "steps" and self.logging_steps <= 0:
            bad(f"logging_steps must be > 0 with logging_strategy='steps', got {self.logging_steps}")
        if self.generation_max_length is not None and self.generation_max_length < 1:
            bad(f"generation_max_length must be >= 1, got {self.generation_max_length}")
        if self.generation_num_beams is not None and self.generation_num_beams < 1:
            bad(f"generation_num_beams must be >= 1, got {self.generation_num_beams}")
        if self.save_strategy == "steps" and self.save_steps <= 0:
            bad(f"save_steps must be > 0 with save_strategy='steps', got {self.save_steps}")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            bad(f"save_total_limit must be >= 1 or None, got {self.save_total_limit}")
        if self.eval_strategy == "steps" and self.eval_steps is None:
            self.eval_steps = self.logging_steps  # as transformers: evaluate as often as we log
        if self.eval_steps is not None and self.eval_steps <= 0:
            bad(f"eval_steps must be > 0, got {self.eval_steps}")
        if self.dataloader_num_workers < 0:
            bad(f"dataloader_num_workers must be >= 0, got {self.dataloader_num_workers}")
        if self.lr_scheduler_type == "cosine_with_min_lr":
            extra = set(self.lr_scheduler_kwargs) - {"min_lr", "min_lr_rate"}
            if extra or len(self.lr_scheduler_kwargs) > 1:
                bad("cosine_with_min_lr takes lr_scheduler_kwargs with exactly one of 'min_lr' or 'min_lr_rate'")
        if self.load_best_model_at_end:
            if self.eval_strategy == "no":
                bad("load_best_model_at_end=True needs evaluation: set eval_strategy to 'steps' or 'epoch'")
            if self.save_strategy != self.eval_strategy:
                bad(
                    f"load_best_model_at_end=True needs save_strategy == eval_strategy, got "
                    f"save_strategy={self.save_strategy!r} and eval_strategy={self.eval_strategy!r}"
                )
            if self.eval_strategy == "steps" and self.save_steps % self.eval_steps != 0:
                bad(
                    f"load_best_model_at_end=True needs save_steps ({self.save_steps}) to be a multiple of "
                    f"eval_steps ({self.eval_steps}), so every checkpoint has a score"
                )
            if self.metric_for_best_model is None:
                self.metric_for_best_model = "loss"
        if self.metric_for_best_model is not None and self.greater_is_better is None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.logging_dir is None:
            self.logging_dir = os.path.join(self.output_dir, "runs")


def _canonical_names(kwargs: dict[str, Any]) -> dict[str, Any]:
    """transformers' old names mapped to ours; an unknown name is a ConfigError with the nearest known one."""
    kwargs = dict(kwargs)
    for old, new in _ALIASES.items():
        if old in kwargs:
            if new in kwargs:
                raise ConfigError(f"TrainingArguments: {old} and {new} are the same setting; give one")
            kwargs[new] = kwargs.pop(old)
    known = {f.name for f in dataclasses.fields(TrainingArguments)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"TrainingArguments: unknown argument(s) {', '.join(hints)}")
    return kwargs


_TYPES: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not _TYPES:  # the annotations are strings (postponed evaluation): resolve them once
        _TYPES.update(typing.get_type_hints(TrainingArguments))
    return _TYPES


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping",
          list: "a list", type(None): "null"}  # fmt: skip


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """`value` as the field's type: kept when it already is one, converted when it reads as one, else ConfigError.

    A config file or `--set` gives `max_steps: "10"` or `learning_rate: 1e-3` (YAML reads that as a string); they
    become 10 and 0.001. `max_steps: "ten"` fails here, naming the field, instead of deep inside the Trainer.
    """
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kinds = [typing.get_origin(t) or t for t in options]
    for kind in kinds:  # already of an accepted type (a bool is not a number here, an int is a float)
        if kind is type(None) and value is None:
            return value
        if kind in (int, float) and isinstance(value, bool):
            continue
        if kind is float and isinstance(value, int) or kind is not type(None) and isinstance(value, kind):
            return value
    for kind in kinds:  # convert what reads as the type
        converted = _convert(value, kind)
        if converted is not None:
            return converted
    wanted = " or ".join(_WORDS.get(k, getattr(k, "__name__", str(k))) for k in kinds)
    raise ConfigError(f"TrainingArguments: {name} must be {wanted}, got {value!r}")


def _convert(value: Any, kind: Any) -> Any:
    if isinstance(value, bool):
        return None
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return None
    if kind is float and isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    if kind is bool and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _warn_compatibility_only(args: TrainingArguments) -> None:
    for name, (default, why) in COMPATIBILITY_ONLY.items():
        value = getattr(args, name)
        if value != default and name not in _warned:
            _warned.add(name)
            warnings.warn(f"TrainingArguments: {name}={value!r} has no effect in MassiveText ({why})", stacklevel=3)
