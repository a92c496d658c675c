"""`Trainer`: one training loop for causal LM, masked LM, seq2seq and classification, on one core or many GPUs.

The loop, per optimizer step: take the next `gradient_accumulation_steps` micro-batches, count the predicted tokens
of the whole window (all ranks), run forward/backward on each with the loss summed and divided by that count (the
model does it when it honours `num_items_in_batch`, else the Trainer rescales its mean), clip, step, schedule. The
loss of a step is therefore the mean over every predicted token of the window, whatever the padding or the split.

Resume is exact: the batch order depends only on (seed, epoch), the data position is saved as (epoch, micro-batches
consumed), and every RNG is saved and restored, so N straight steps equal N/2 + resume + N/2 bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from massivetext.errors import ConfigError, MissingFileError
from massivetext.training.arguments import TrainingArguments
from massivetext.training.callbacks import CallbackHandler, TrainerControl, TrainerState
from massivetext.training.checkpoint import (
    PREFIX,
    latest_checkpoint,
    load_checkpoint,
    load_model_files,
    rotate_checkpoints,
    save_checkpoint,
    save_model_files,
)
from massivetext.training.collators import (
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorWithPadding,
    DefaultDataCollator,
)
from massivetext.training.data import RankBatchSampler, count_items, forward_signature, is_iterable, model_type_flags
from massivetext.training.eval_loop import (
    EvalStep,
    PredictionOutput,
    evaluation_loop,
    generate_predictions,
    generation_length,
    pad_to,
)
from massivetext.training.loop_state import StepPlan, TrainingRun
from massivetext.training.loop_state import every as _every
from massivetext.training.prepare import model_max_length, prepare_dataset
from massivetext.training.reporting import MetricsWriter, peak_flops, plot_loss_curve
from massivetext.training.schedule import get_scheduler
from massivetext.training.seed import set_seed
from massivetext.training.speed import CompiledOrEager, resolve_bf16, resolve_compile, use_compile_cache

logger = logging.getLogger(__name__)

__all__ = ["Trainer", "TrainOutput", "set_seed"]


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


class Trainer:
    """Train and evaluate a model; `transformers.Trainer`'s constructor and main methods."""

    def __init__(
        self,
        model: torch.nn.Module | None = None,
        args: TrainingArguments | dict | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        data_collator: Any = None,
        tokenizer: Any = None,
        compute_metrics: Callable[[Any], dict[str, Any]] | None = None,
        callbacks: list | None = None,
        processing_class: Any = None,
        model_init: Callable[[], torch.nn.Module] | None = None,
    ):
        self.args = TrainingArguments.from_dict(args) if isinstance(args, dict) else (args or TrainingArguments())
        # as transformers: seed first, so that a model built by model_init is the same for the same seed
        set_seed(self.args.seed)
        self.model_init = model_init
        if model is None:
            if model_init is None:
                raise ConfigError("Trainer needs a model (or a model_init that builds one)")
            model = self._call_model_init()
        self.tokenizer = tokenizer if tokenizer is not None else processing_class
        self._setup_distributed()
        if self.args.fp16 and self.device.type != "cuda":
            raise ConfigError("fp16=True needs a CUDA device; on CPU use bf16=True")
        self._set_model(model)
        # bf16="auto" follows the hardware; decided once so training and evaluation use the same precision
        self._bf16, self._precision_reason = resolve_bf16(self.args.bf16, self.device, self.args.fp16)
        self._compile_reason = ""
        self.train_dataset = self._prepare(train_dataset, "train")
        self.eval_dataset = self._prepare(eval_dataset, "eval")
        self.data_collator = data_collator if data_collator is not None else self._default_collator()
        self.compute_metrics = compute_metrics
        self.callback_handler = CallbackHandler(callbacks)
        self.state = TrainerState(is_world_process_zero=self.is_world_process_zero())
        self.control = TrainerControl()
        self.optimizer: torch.optim.Optimizer | None = None
        self.lr_scheduler: Any = None
        self.scaler: Any = None
        self._writer: MetricsWriter | None = None
        self.control = self.callback_handler.call("on_init_end", self.args, self.state, self.control)

    # ---- setup ------------------------------------------------------------------------------------------------
    def _call_model_init(self) -> torch.nn.Module:
        model = self.model_init()
        if model is None:
            raise ConfigError("model_init returned None; it must return the model to train")
        return model

    def _set_model(self, model: torch.nn.Module) -> None:
        self.model = model.to(self.device)
        self.flags = model_type_flags(model)
        self._signature = forward_signature(model)

    def _setup_distributed(self) -> None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available() and not self.args.use_cpu
        self.device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
            if self.args.tf32 is not None:
                torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.args.tf32
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend=self.args.ddp_backend or ("nccl" if cuda else "gloo"))
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.rank = dist.get_rank() if dist.is_initialized() else 0

    def is_world_process_zero(self) -> bool:
        return self.rank == 0

    def _prepare(self, dataset: Any, role: str) -> Any:
        return prepare_dataset(
            dataset, self.tokenizer, self._signature.params, self.args.max_seq_length, self.args.remove_unused_columns,
            model_length=model_max_length(self.model), causal=self.flags["causal"], role=role,
        )  # fmt: skip

    def _default_collator(self) -> Any:
        tok = self.tokenizer
        if self.flags["causal"]:
            return DataCollatorForLanguageModeling(tok, mlm=False)
        if self.flags["masked"] and tok is not None:
            return DataCollatorForLanguageModeling(tok, mlm=True)  # says how to add a missing mask token
        if self.flags["seq2seq"] and tok is not None:
            return DataCollatorForSeq2Seq(tok, model=self.model)
        return DataCollatorWithPadding(tok) if tok is not None else DefaultDataCollator()

    def create_optimizer(self) -> torch.optim.Optimizer:
        """AdamW; weight decay on matrices only (ndim >= 2), never on biases, norms' gains or other vectors."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [
            {"params": decay, "weight_decay": self.args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        a = self.args
        kw: dict[str, Any] = {"lr": a.learning_rate, "betas": (a.adam_beta1, a.adam_beta2), "eps": a.adam_epsilon}
        if a.optim == "adamw_torch_fused" and all(p.is_floating_point() for p in params):
            kw["fused"] = True  # one kernel for all tensors: fewer launches on CUDA, vectorized on CPU
        self.optimizer = torch.optim.AdamW(groups, **kw)
        return self.optimizer

    def _loader(self, dataset: Any, batch_size: int, *, shuffle: bool, epoch: int = 0, skip: int = 0, drop=False):
        """Training (shuffle=True) drops an incomplete last global batch when asked or under DDP; eval never."""
        # a private generator: creating the iterator must not draw from torch's global RNG (exact resume)
        gen = torch.Generator().manual_seed(self.args.seed + epoch)
        common = {
            "collate_fn": self.data_collator,
            "num_workers": self.args.dataloader_num_workers,
            "pin_memory": self.args.dataloader_pin_memory and self.device.type == "cuda",
            "generator": gen,
        }
        if is_iterable(dataset):
            return torch.utils.data.DataLoader(dataset, batch_size=batch_size, **common)
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        rank, world = self.rank, self.world_size
        if hasattr(dataset, "set_epoch") and hasattr(dataset, "world_size"):
            # TokenShards orders its own windows per (seed, epoch), and may already hold just this rank's part
            dataset.set_epoch(epoch)
            shuffle = False
            if dataset.world_size > 1:
                rank, world = 0, 1
        sampler = RankBatchSampler(
            len(dataset), batch_size, rank=rank, world_size=world, shuffle=shuffle,
            seed=seed, epoch=epoch, skip_batches=skip, drop_last=drop,
        )  # fmt: skip
        return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, **common)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._bf16 or self.args.fp16:
            dtype = torch.bfloat16 if self._bf16 else torch.float16
            return torch.autocast(self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    # ---- loss -------------------------------------------------------------------------------------------------
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _model_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        allowed = self._signature.params | ({"shift_labels"} if self._signature.var_kw else set())
        return {k: v for k, v in batch.items() if k in allowed}

    def compute_loss(
        self, model: Any, batch: dict[str, Any], num_items: torch.Tensor, smoothing: float = 0.0
    ) -> tuple[torch.Tensor, Any]:
        """Sum of the batch's token losses divided by `num_items` (the count over the whole window)."""
        inputs = self._model_inputs(batch)
        targets = batch.get("shift_labels", batch.get("labels"))
        params, honours = self._signature.params, self._signature.honours_num_items
        if smoothing > 0 and "label_smoothing" in params:  # the model smooths its own loss (MassiveText)
            inputs["label_smoothing"], smoothing = smoothing, 0.0
        own = targets is not None and not targets.is_floating_point() and (
            smoothing > 0 or ("shift_labels" in batch and "shift_labels" not in params and not honours)
        )  # fmt: skip
        if own:  # compute the loss here: label smoothing, or shifted targets the model cannot take
            inputs.pop("labels", None)
            inputs.pop("shift_labels", None)
            out = model(**inputs)
            logits = out.logits if hasattr(out, "logits") else out["logits"]
            if "shift_labels" not in batch and self.flags["causal"]:
                logits, targets = logits[:, :-1], targets[:, 1:]
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                ignore_index=-100, reduction="sum", label_smoothing=smoothing,
            ) / num_items  # fmt: skip
            return loss, out
        if "shift_labels" in batch and "shift_labels" not in params:
            inputs["labels"] = batch["shift_labels"]  # transformers: loss runs only when labels is given
        if "return_logits" in params and torch.is_grad_enabled():
            inputs["return_logits"] = False  # training: the model's chunked loss, no (B, T, V) logits kept
        if honours:
            out = model(**inputs, num_items_in_batch=num_items)
            return out.loss if hasattr(out, "loss") else out["loss"], out
        out = model(**inputs)
        loss = out.loss if hasattr(out, "loss") else out["loss"]
        # the model averaged over this batch: turn its mean into this batch's share of the window mean
        return loss * (count_items(batch, self.flags["causal"]).to(loss.device) / num_items), out

    # ---- training: set-up, epochs of optimizer steps, the log/evaluate/save decisions, the end ----------------
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> TrainOutput:
        """Train to `max_steps` (or `num_train_epochs`), resuming from a checkpoint when asked."""
        run = self._setup_training(resume_from_checkpoint, kwargs)
        while not run.stop:
            self._train_epoch(run)
        return self._finish_training(run)

    def _setup_training(self, resume_from_checkpoint: str | bool | None, kwargs: dict[str, Any]) -> TrainingRun:
        """Seed, (re)build the model, plan the steps, create optimizer and schedule, resume, wrap, open the logs."""
        if kwargs:
            raise ConfigError(f"Trainer.train: unknown argument(s) {sorted(kwargs)}")
        if self.train_dataset is None:
            raise ConfigError("Trainer.train needs a train_dataset")
        a = self.args
        set_seed(a.seed)
        if self.model_init is not None:  # as transformers: a fresh model drawn from the seed, for every train()
            self._set_model(self._call_model_init())
        self._prepare_model_for_training()
        plan = self._plan_steps()
        self.create_optimizer()
        warmup = a.warmup_steps or math.ceil(a.warmup_ratio * plan.max_steps)
        self.lr_scheduler = get_scheduler(
            a.lr_scheduler_type, self.optimizer, warmup, plan.max_steps, a.lr_scheduler_kwargs
        )
        self.scaler = torch.amp.GradScaler("cuda") if a.fp16 else None
        self.state = TrainerState(
            max_steps=plan.max_steps, logging_steps=a.logging_steps, eval_steps=a.eval_steps, save_steps=a.save_steps,
            train_batch_size=a.per_device_train_batch_size, is_world_process_zero=self.is_world_process_zero(),
            num_train_epochs=math.ceil(plan.max_steps / plan.steps_per_epoch) if plan.steps_per_epoch else 0,
        )  # fmt: skip
        resume = resume_from_checkpoint if resume_from_checkpoint is not None else a.resume_from_checkpoint
        if resume:
            self._resume_from(resume, plan)
        run = TrainingRun(plan=plan, device=self.device, **self._wrap_model())
        run.log_every, run.eval_every = _every(a.logging_steps, plan.max_steps), _every(a.eval_steps, plan.max_steps)
        run.save_every = _every(a.save_steps, plan.max_steps)
        run.params = [p for p in self.model.parameters() if p.requires_grad]
        self._begin_reporting(run, resumed=bool(resume))
        self.control = self.callback_handler.call("on_train_begin", a, self.state, self.control)
        run.stop = self.state.global_step >= plan.max_steps
        return run

    def _prepare_model_for_training(self) -> None:
        model = self.model
        if self.args.gradient_checkpointing:
            # transformers >= 5.2x renamed it activation_checkpointing_enable (the old name warns)
            enable = getattr(model, "activation_checkpointing_enable", None) or getattr(
                model, "gradient_checkpointing_enable", None
            )
            if enable is None:
                raise ConfigError("gradient_checkpointing=True but the model has no gradient_checkpointing_enable()")
            enable()
            if hasattr(getattr(model, "config", None), "use_cache"):
                model.config.use_cache = False
        model.train()

    def _plan_steps(self) -> StepPlan:
        """How many optimizer steps, and how many micro-batches one pass over the data gives (None: a stream)."""
        a = self.args
        iterable = is_iterable(self.train_dataset)
        drop_last = a.dataloader_drop_last or self.world_size > 1
        bs = a.per_device_train_batch_size
        loader_len = None if iterable else len(self._loader(self.train_dataset, bs, shuffle=True, drop=drop_last))
        if loader_len == 0:
            raise ConfigError(
                f"the training dataset ({len(self.train_dataset)} examples) gives no batch of "
                f"{bs} x {self.world_size} process(es) with drop_last={drop_last}"
            )
        if loader_len is None:
            if a.max_steps <= 0:
                raise ConfigError("the training dataset has no length (iterable); set max_steps")
            return StepPlan(a.max_steps, None, None, iterable, drop_last)
        per_epoch = max(1, math.ceil(loader_len / a.gradient_accumulation_steps))
        total = a.max_steps if a.max_steps > 0 else math.ceil(a.num_train_epochs * per_epoch)
        return StepPlan(total, per_epoch, loader_len, iterable, drop_last)

    def _resume_from(self, resume: str | bool, plan: StepPlan) -> None:
        """Model, optimizer, schedule, scaler, RNG and the trainer state (data position included) from a checkpoint."""
        out = self.args.output_dir
        ckpt = latest_checkpoint(out) if resume is True else Path(str(resume))
        if ckpt is None or not Path(ckpt).is_dir():
            raise MissingFileError(f"no checkpoint to resume from in {out if resume is True else resume}")
        saved = load_checkpoint(
            Path(ckpt), model=self.model, optimizer=self.optimizer, scheduler=self.lr_scheduler, scaler=self.scaler,
            rank=self.rank, world_size=self.world_size,
        )  # fmt: skip
        self.state = TrainerState.from_dict({**saved, "max_steps": plan.max_steps})
        data_state = self.state.data_state
        if plan.iterable and data_state is not None and hasattr(self.train_dataset, "load_state_dict"):
            self.train_dataset.load_state_dict(data_state)
        elif data_state and "weights" in data_state and _mixture(self.train_dataset) is not None:
            # a map-style mixture resumes from (data_epoch, batches consumed); this refuses different weights
            self.train_dataset.load_state_dict(data_state)

    def _wrap_model(self) -> dict[str, Any]:
        """The module that is called for training (DDP, then torch.compile) and the one that knows `no_sync`."""
        fwd: Any = self.model
        if self.world_size > 1:
            ddp_kw = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            fwd = torch.nn.parallel.DistributedDataParallel(
                fwd, find_unused_parameters=bool(self.args.ddp_find_unused_parameters), **ddp_kw
            )
        ddp = fwd
        # the whole run's length, not the steps left: a resumed run makes the choice of the run it continues
        # (compiled and eager kernels round differently, and a resume must stay bit-identical); the cache makes
        # its compile cheap
        steps = self.state.max_steps
        a = self.args  # the work of one step, for the compile break-even: batch x context tokens
        tokens = a.per_device_train_batch_size * a.gradient_accumulation_steps * (model_max_length(self.model) or 512)
        step_flops = self._flops_per_token(model_max_length(self.model) or 512) * tokens
        compile_, self._compile_reason = resolve_compile(
            a.torch_compile, self.model, self.device, steps, step_flops, self._bf16
        )
        if compile_:
            use_compile_cache()
            fwd = CompiledOrEager(fwd)
        logger.info("training: %s; %s", self._precision_reason, self._compile_reason)
        return {"forward": fwd, "ddp": ddp}

    def _begin_reporting(self, run: TrainingRun, resumed: bool) -> None:
        a, state = self.args, self.state
        run.peak_flops, self.peak_flops_source = peak_flops(self.device, a.peak_flops)
        rank0 = self.is_world_process_zero()
        if rank0:
            keep_through = state.global_step if resumed else None  # rows of the steps about to be redone go
            self._writer = MetricsWriter(a.output_dir, a.logging_dir, "tensorboard" in a.report_targets, keep_through)
            # the MFU's denominator, stated once at the top of this run's part of the metrics file
            self._writer.write(
                {
                    "event": "train_begin",
                    "step": state.global_step,
                    "world_size": self.world_size,
                    "peak_flops_per_device": run.peak_flops,
                    "peak_flops_assumption": self.peak_flops_source,
                    "precision": self._precision_reason,  # what "auto" chose, and why
                    "compile": self._compile_reason,
                }
            )
        run.bar = tqdm(
            total=run.plan.max_steps, initial=state.global_step, disable=not rank0 or a.disable_tqdm, desc="train"
        )

    def _train_epoch(self, run: TrainingRun) -> None:
        """Optimizer steps over (the rest of) one pass of the data, until it ends or training should stop."""
        state, ga = self.state, self.args.gradient_accumulation_steps
        batches = iter(self._epoch_loader(run))
        steps_before = state.global_step
        self.control = self.callback_handler.call("on_epoch_begin", self.args, state, self.control)
        exhausted = True
        while window := [self._to_device(b) for b in islice(batches, ga)]:
            self.control = self.callback_handler.call("on_step_begin", self.args, state, self.control)
            self._optimizer_step(run, window)
            self.control = self.callback_handler.call("on_step_end", self.args, state, self.control)
            if self._log_evaluate_save(run):
                exhausted = False
                break
        self._end_epoch(run, exhausted, steps_before)

    def _epoch_loader(self, run: TrainingRun) -> Any:
        state, bs = self.state, self.args.per_device_train_batch_size
        if run.plan.iterable:
            return self._loader(self.train_dataset, bs, shuffle=False, epoch=state.data_epoch)
        return self._loader(
            self.train_dataset, bs, shuffle=True, epoch=state.data_epoch, skip=state.data_batches_consumed,
            drop=run.plan.drop_last,
        )  # fmt: skip

    def _optimizer_step(self, run: TrainingRun, window: list[dict[str, torch.Tensor]]) -> None:
        """Forward/backward over the window's micro-batches (loss = mean over the window's tokens), clip, step."""
        num_items = sum(count_items(b, self.flags["causal"]).to(self.device) for b in window)
        if self.world_size > 1:
            dist.all_reduce(num_items)
        num_items = num_items.clamp(min=1)
        step_loss = torch.zeros((), device=self.device)
        for i, batch in enumerate(window):
            step_loss += self._forward_backward(run, batch, num_items, sync=i == len(window) - 1)
            if "input_ids" in batch:
                run.seq_len = batch["input_ids"].shape[-1]
                run.tokens += batch["input_ids"].numel() * self.world_size
        self._clip_and_step(run)
        if self.world_size > 1:
            dist.all_reduce(step_loss)
        run.loss += step_loss
        run.steps += 1
        state = self.state
        state.global_step += 1
        state.data_batches_consumed += len(window)
        state.num_input_tokens_seen += sum(b["input_ids"].numel() for b in window if "input_ids" in b)
        if run.plan.steps_per_epoch:
            state.epoch = state.data_epoch + min(1.0, state.data_batches_consumed / max(1, run.plan.loader_len))
        if run.plan.iterable and hasattr(self.train_dataset, "state_dict"):
            state.data_state = self.train_dataset.state_dict()
        run.bar.update(1)

    def _forward_backward(self, run: TrainingRun, batch: dict[str, Any], num_items: torch.Tensor, sync: bool):
        """One micro-batch; gradients are all-reduced (DDP) only on the window's last one."""
        ctx = contextlib.nullcontext() if sync or self.world_size == 1 else run.ddp.no_sync()
        with ctx:
            with self._autocast():
                # [0]: drop the outputs now, so the logits are not kept alive through backward
                loss = self.compute_loss(run.forward, batch, num_items, self.args.label_smoothing_factor)[0]
            # DDP averages gradients over ranks; the loss is already a share of the global mean
            scaled = loss * self.world_size
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return loss.detach()

    def _clip_and_step(self, run: TrainingRun) -> None:
        optimizer = self.optimizer
        if self.scaler:
            self.scaler.unscale_(optimizer)
        max_norm = self.args.max_grad_norm if self.args.max_grad_norm else float("inf")
        run.grad_norm = torch.nn.utils.clip_grad_norm_(run.params, max_norm)
        if self.scaler:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
        run.lr = self.lr_scheduler.get_last_lr()[0]
        self.lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    def _log_evaluate_save(self, run: TrainingRun) -> bool:
        """After a step: log, evaluate and save when due; True when training should stop now."""
        a, step = self.args, self.state.global_step
        done = step >= run.plan.max_steps
        first = a.logging_first_step and step == 1
        due = a.logging_strategy == "steps" and (step % run.log_every == 0 or done)
        if run.steps and (due or first or self.control.should_log):
            self._log_training(run)
        t_aside = time.perf_counter()  # eval and save time is not training time (tokens/s, MFU)
        eval_due = a.eval_strategy == "steps" and run.eval_every and step % run.eval_every == 0
        if eval_due or self.control.should_evaluate:
            self._evaluate_during_training()
        if (a.save_strategy == "steps" and (step % run.save_every == 0 or done)) or self.control.should_save:
            self._save_checkpoint(run)
        run.t_log += time.perf_counter() - t_aside
        return done or self.control.should_training_stop

    def _log_training(self, run: TrainingRun) -> None:
        """One row of training numbers over the steps since the last one; folds their loss into the run total."""
        elapsed = time.perf_counter() - run.t_log
        loss_sum = run.loss.item()
        self.state.train_loss_sum += loss_sum
        self.state.train_loss_steps += run.steps
        tps = run.tokens / max(elapsed, 1e-9)
        record = {
            "loss": loss_sum / run.steps,
            "learning_rate": run.lr,
            "grad_norm": float(run.grad_norm),
            "tokens_per_second": tps,
            "mfu": tps * self._flops_per_token(run.seq_len) / (run.peak_flops * self.world_size),
            "epoch": self.state.epoch,
            **self._mixture_record(run),
        }
        self.control.should_log = False
        self.log(record)
        run.bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{run.lr:.2e}")
        run.reset_window()

    def _mixture_record(self, run: TrainingRun) -> dict[str, float]:
        """Realised share and passes per source of a weighted ``TokenShards`` up to this step (empty otherwise)."""
        ds = self._sync_mixture(run)
        if ds is None:
            return {}
        shares, epochs = ds.realised_mixture(), ds.source_epochs()
        return {
            **{f"mixture_share/{k}": v for k, v in shares.items()},
            **{f"source_epochs/{k}": v for k, v in epochs.items()},
        }

    def _sync_mixture(self, run: TrainingRun) -> Any:
        """The map-style mixture's position follows the trainer's (epoch, batches consumed): the trainer indexes it
        through its own batch sampler, which takes consecutive global batches (shuffle is off for TokenShards)."""
        ds = self.train_dataset
        if _mixture(ds) is None:
            return None
        if not run.plan.iterable:
            world = self.world_size if ds.world_size == 1 else 1  # a rank-split dataset counts this rank's items
            items = self.state.data_batches_consumed * self.args.per_device_train_batch_size * world
            ds.epoch, ds.position = self.state.data_epoch, min(items, len(ds))
            self.state.data_state = ds.state_dict()  # weights and epochs per source travel in the checkpoint
        return ds

    def _evaluate_during_training(self) -> None:
        self.control.should_evaluate = False
        self.evaluate()
        self.model.train()

    def _end_epoch(self, run: TrainingRun, exhausted: bool, steps_before: int) -> None:
        """The pass ended (data exhausted) or training stops: epoch-strategy log/eval/save, move to the next pass."""
        a, state = self.args, self.state
        if exhausted and state.global_step == steps_before and state.data_batches_consumed == 0:
            raise ConfigError("the training dataset gave no batch in a whole pass (an empty stream?)")
        self.control = self.callback_handler.call("on_epoch_end", a, state, self.control)
        if a.logging_strategy == "epoch" and run.steps:
            self._log_training(run)
        if exhausted or (not run.plan.iterable and state.data_batches_consumed >= (run.plan.loader_len or 0)):
            t_aside = time.perf_counter()
            if a.eval_strategy == "epoch":
                self._evaluate_during_training()
            if a.save_strategy == "epoch":
                self._save_checkpoint(run)
            run.t_log += time.perf_counter() - t_aside
            state.data_epoch += 1
            state.data_batches_consumed = 0
            if run.plan.iterable and hasattr(self.train_dataset, "state_dict"):
                state.data_state = None  # a new pass over the stream
        run.stop = not exhausted or self.control.should_training_stop or state.global_step >= run.plan.max_steps

    def _finish_training(self, run: TrainingRun) -> TrainOutput:
        a, state = self.args, self.state
        run.bar.close()
        if run.steps:  # steps after the last log count toward the run's mean loss
            state.train_loss_sum += run.loss.item()
            state.train_loss_steps += run.steps
            run.reset_window()
        if a.load_best_model_at_end and state.best_model_checkpoint:
            load_model_files(self.model, state.best_model_checkpoint)
        self.control = self.callback_handler.call("on_train_end", a, state, self.control)
        train_loss = state.train_loss_sum / max(1, state.train_loss_steps)
        if self.is_world_process_zero():
            plot_loss_curve(state.log_history, Path(a.output_dir) / "loss_curve.png")
            self._writer.close()
            self._writer = None
        return TrainOutput(state.global_step, train_loss, {"train_loss": train_loss})

    def _flops_per_token(self, seq_len: int) -> float:
        fpt = getattr(self.model, "flops_per_token", None)
        if callable(fpt):
            return float(fpt(seq_len))
        return 6.0 * sum(p.numel() for p in self.model.parameters())  # forward + backward, weights only

    def log(self, logs: dict[str, float]) -> None:
        record = {**logs, "step": self.state.global_step}
        self.state.log_history.append(record)
        if self._writer is not None:
            self._writer.write(record)
        self.control = self.callback_handler.call("on_log", self.args, self.state, self.control, logs=record)

    def _save_checkpoint(self, run: TrainingRun) -> None:
        a, state = self.args, self.state
        self.control.should_save = False
        directory = Path(a.output_dir) / f"{PREFIX}-{state.global_step}"
        metric = a.metric_for_best_model
        if metric is not None:
            key = metric if metric.startswith("eval_") else f"eval_{metric}"
            last = next((r for r in reversed(state.log_history) if key in r), None)
            if last is not None and last["step"] == state.global_step:
                value = last[key]
                better = state.best_metric is None or (
                    value > state.best_metric if a.greater_is_better else value < state.best_metric
                )
                if better:
                    state.best_metric, state.best_model_checkpoint = value, str(directory)
        self._sync_mixture(run)
        saved_state = state.to_dict()
        if run.steps:  # the loss of steps not yet logged belongs to the run total a resume continues from
            saved_state["train_loss_sum"] += run.loss.item()
            saved_state["train_loss_steps"] += run.steps
        save_checkpoint(
            directory, model=self.model, optimizer=self.optimizer, scheduler=self.lr_scheduler, scaler=self.scaler,
            trainer_state=saved_state, args_dict=a.to_dict(), tokenizer=self.tokenizer,
            rank=self.rank, world_size=self.world_size, dataset=self.train_dataset,
        )  # fmt: skip
        if self.is_world_process_zero():
            rotate_checkpoints(a.output_dir, a.save_total_limit, state.best_model_checkpoint)
        self.control = self.callback_handler.call("on_save", a, state, self.control)

    # ---- evaluation -------------------------------------------------------------------------------------------
    def _eval_loop(self, dataset: Any, prefix: str, keep_predictions: bool):
        """Run `evaluation_loop` over `dataset` with this Trainer's batches and `prediction_step`."""
        bs = self.args.per_device_eval_batch_size
        batches = (self._to_device(b) for b in self._loader(dataset, bs, shuffle=False))
        was_training = self.model.training
        self.model.eval()
        try:
            return evaluation_loop(
                batches, lambda batch: self.prediction_step(batch, keep_predictions), prefix=prefix,
                world_size=self.world_size, compute_metrics=self.compute_metrics, keep_predictions=keep_predictions,
            )  # fmt: skip
        finally:
            if was_training:
                self.model.train()

    def prediction_step(self, batch: dict[str, Any], keep_predictions: bool = True) -> EvalStep:
        """One eval batch: its summed token loss and count, and (when kept) logits or generated ids and labels."""
        model, a = self.model, self.args
        labels = batch.get("labels", batch.get("shift_labels"))
        n = count_items(batch, self.flags["causal"]).to(self.device)
        # a decoder-only model evaluated by generation may be given prompts and references of other lengths
        aligned = not (self.flags["causal"] and labels is not None and labels.shape != batch["input_ids"].shape)
        loss_sum, out = None, None
        with self._autocast():
            if n > 0 and aligned:
                loss, out = self.compute_loss(model, batch, n.clamp(min=1))
                loss_sum = loss.double() * n
            elif keep_predictions and not a.predict_with_generate:
                out = model(**self._model_inputs(batch))
            if not keep_predictions:
                return EvalStep(loss_sum, n, None, None)
            if not a.predict_with_generate:
                return EvalStep(loss_sum, n, _logits(out).float(), labels)
            length = generation_length(model, a.generation_max_length)
            pad = self._pad_token_id()
            generated = generate_predictions(
                model, batch, causal=self.flags["causal"], max_length=length, num_beams=a.generation_num_beams,
                pad_token_id=pad,
            )  # fmt: skip
        return EvalStep(loss_sum, n, generated, pad_to(labels, length, pad) if labels is not None else None)

    def _pad_token_id(self) -> int:
        """The tokenizer's pad id, else the model config's, else end-of-text (how generated rows are padded)."""
        config = getattr(self.model, "config", None)
        for value in (
            getattr(self.tokenizer, "pad_token_id", None),
            getattr(config, "pad_token_id", None),
            getattr(self.tokenizer, "eos_token_id", None),
            getattr(config, "eos_token_id", None),
        ):
            if isinstance(value, int):
                return value
        return 0

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list | None = None, metric_key_prefix: str = "eval"):
        """Loss (mean over predicted tokens), perplexity and `compute_metrics` on the eval set."""
        dataset = self._prepare(eval_dataset, "eval") if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ConfigError("evaluate needs an eval_dataset (in Trainer(...) or as an argument)")
        metrics, _, _ = self._eval_loop(dataset, metric_key_prefix, keep_predictions=self.compute_metrics is not None)
        self.log(metrics)
        self.control = self.callback_handler.call("on_evaluate", self.args, self.state, self.control, metrics=metrics)
        return metrics

    def predict(self, test_dataset: Any, ignore_keys: list | None = None, metric_key_prefix: str = "test"):
        """Logits for every example (padded to a common length with -100), labels, and metrics."""
        dataset = self._prepare(test_dataset, "test")
        metrics, preds, labels = self._eval_loop(dataset, metric_key_prefix, keep_predictions=True)
        self.control = self.callback_handler.call("on_predict", self.args, self.state, self.control, metrics=metrics)
        return PredictionOutput(preds, labels, metrics)

    def save_model(self, output_dir: str | None = None) -> None:
        """Model (+ tokenizer) in the Hugging Face layout; only rank 0 writes."""
        if not self.is_world_process_zero():
            return
        directory = output_dir or self.args.output_dir
        save_model_files(self.model, directory)
        if self.tokenizer is not None and hasattr(self.tokenizer, "save_pretrained"):
            self.tokenizer.save_pretrained(directory)
        Path(directory, "training_args.json").write_text(self.args.to_json_string())
        from massivetext.training.model_card import write_model_card

        write_model_card(directory, self.model, self.args.to_dict(), self.state.to_dict(), self.train_dataset)


def _mixture(dataset: Any) -> Any:
    """The source mixture of a weighted ``TokenShards`` (duck-typed: training does not import tokenization)."""
    return getattr(dataset, "mixture", None) if hasattr(dataset, "realised_mixture") else None


def _logits(out: Any) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out["logits"]
