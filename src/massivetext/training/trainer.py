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
import math
import os
import random
import time
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
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
from massivetext.training.data import (
    RankBatchSampler,
    count_items,
    forward_signature,
    is_iterable,
    model_type_flags,
    prepare_dataset,
)
from massivetext.training.eval_loop import PredictionOutput, eval_loop
from massivetext.training.reporting import MetricsWriter, peak_flops, plot_loss_curve
from massivetext.training.schedule import get_scheduler


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


class Trainer:
    """Train and evaluate a model; `transformers.Trainer`'s constructor and main methods."""

    def __init__(
        self,
        model: torch.nn.Module,
        args: TrainingArguments | dict | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        data_collator: Any = None,
        tokenizer: Any = None,
        compute_metrics: Any = None,
        callbacks: list | None = None,
        processing_class: Any = None,
    ):
        if model is None:
            raise ConfigError("Trainer needs a model")
        self.args = TrainingArguments.from_dict(args) if isinstance(args, dict) else (args or TrainingArguments())
        self.tokenizer = tokenizer if tokenizer is not None else processing_class
        self._setup_distributed()
        if self.args.fp16 and self.device.type != "cuda":
            raise ConfigError("fp16=True needs a CUDA device; on CPU use bf16=True")
        self.model = model.to(self.device)
        self.flags = model_type_flags(model)
        self._params, self._var_kw, self._honours_num_items = forward_signature(model)
        self.train_dataset = self._prepare(train_dataset)
        self.eval_dataset = self._prepare(eval_dataset)
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

    def _prepare(self, dataset: Any) -> Any:
        return prepare_dataset(
            dataset, self.tokenizer, self._params, self.args.max_seq_length, self.args.remove_unused_columns
        )

    def _default_collator(self) -> Any:
        tok = self.tokenizer
        if self.flags["causal"]:
            return DataCollatorForLanguageModeling(tok, mlm=False)
        if self.flags["masked"] and tok is not None and getattr(tok, "mask_token_id", None) is not None:
            return DataCollatorForLanguageModeling(tok, mlm=True)
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
        if self.args.bf16 or self.args.fp16:
            dtype = torch.bfloat16 if self.args.bf16 else torch.float16
            return torch.autocast(self.device.type, dtype=dtype)
        return contextlib.nullcontext()

    # ---- loss -------------------------------------------------------------------------------------------------
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _model_inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        allowed = self._params | ({"shift_labels"} if self._var_kw else set())
        return {k: v for k, v in batch.items() if k in allowed}

    def compute_loss(
        self, model: Any, batch: dict[str, Any], num_items: torch.Tensor, smoothing: float = 0.0
    ) -> tuple[torch.Tensor, Any]:
        """Sum of the batch's token losses divided by `num_items` (the count over the whole window)."""
        inputs = self._model_inputs(batch)
        targets = batch.get("shift_labels", batch.get("labels"))
        if smoothing > 0 and "label_smoothing" in self._params:  # the model smooths its own loss (MassiveText)
            inputs["label_smoothing"], smoothing = smoothing, 0.0
        own = targets is not None and not targets.is_floating_point() and (
            smoothing > 0 or ("shift_labels" in batch and "shift_labels" not in self._params and not self._honours_num_items)
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
        if "shift_labels" in batch and "shift_labels" not in self._params:
            inputs["labels"] = batch["shift_labels"]  # transformers: loss runs only when labels is given
        if self._honours_num_items:
            out = model(**inputs, num_items_in_batch=num_items)
            return out.loss if hasattr(out, "loss") else out["loss"], out
        out = model(**inputs)
        loss = out.loss if hasattr(out, "loss") else out["loss"]
        # the model averaged over this batch: turn its mean into this batch's share of the window mean
        return loss * (count_items(batch, self.flags["causal"]).to(loss.device) / num_items), out

    # ---- training ---------------------------------------------------------------------------------------------
    def _num_steps(self, loader_len: int | None) -> tuple[int, int | None]:
        a = self.args
        if loader_len is None:
            if a.max_steps <= 0:
                raise ConfigError("the training dataset has no length (iterable); set max_steps")
            return a.max_steps, None
        per_epoch = max(1, math.ceil(loader_len / a.gradient_accumulation_steps))
        total = a.max_steps if a.max_steps > 0 else math.ceil(a.num_train_epochs * per_epoch)
        return total, per_epoch

    def _every(self, value: float | None, total: int) -> int:
        if value is None:
            return 0
        return max(1, math.ceil(value * total)) if value < 1 else int(value)

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any) -> TrainOutput:
        if kwargs:
            raise ConfigError(f"Trainer.train: unknown argument(s) {sorted(kwargs)}")
        if self.train_dataset is None:
            raise ConfigError("Trainer.train needs a train_dataset")
        a = self.args
        resume = resume_from_checkpoint if resume_from_checkpoint is not None else a.resume_from_checkpoint
        set_seed(a.seed)
        model = self.model
        if a.gradient_checkpointing:
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
        iterable = is_iterable(self.train_dataset)
        drop_last = a.dataloader_drop_last or self.world_size > 1
        bs, ga = a.per_device_train_batch_size, a.gradient_accumulation_steps
        loader_len = None if iterable else len(self._loader(self.train_dataset, bs, shuffle=True, drop=drop_last))
        if loader_len == 0:
            raise ConfigError(
                f"the training dataset ({len(self.train_dataset)} examples) gives no batch of "
                f"{bs} x {self.world_size} process(es) with drop_last={drop_last}"
            )
        max_steps, steps_per_epoch = self._num_steps(loader_len)
        optimizer = self.create_optimizer()
        warmup = a.warmup_steps or math.ceil(a.warmup_ratio * max_steps)
        self.lr_scheduler = get_scheduler(a.lr_scheduler_type, optimizer, warmup, max_steps, a.lr_scheduler_kwargs)
        self.scaler = torch.amp.GradScaler("cuda") if a.fp16 else None

        state = self.state = TrainerState(
            max_steps=max_steps, logging_steps=a.logging_steps, eval_steps=a.eval_steps, save_steps=a.save_steps,
            train_batch_size=bs, is_world_process_zero=self.is_world_process_zero(),
            num_train_epochs=math.ceil(max_steps / steps_per_epoch) if steps_per_epoch else 0,
        )  # fmt: skip
        if resume:
            ckpt = latest_checkpoint(a.output_dir) if resume is True else Path(resume)
            if ckpt is None or not Path(ckpt).is_dir():
                raise MissingFileError(f"no checkpoint to resume from in {a.output_dir if resume is True else resume}")
            saved = load_checkpoint(
                Path(ckpt), model=model, optimizer=optimizer, scheduler=self.lr_scheduler, scaler=self.scaler,
                rank=self.rank, world_size=self.world_size,
            )  # fmt: skip
            state = self.state = TrainerState.from_dict({**saved, "max_steps": max_steps})
            if iterable and state.data_state is not None and hasattr(self.train_dataset, "load_state_dict"):
                self.train_dataset.load_state_dict(state.data_state)

        fwd: Any = model
        if self.world_size > 1:
            ddp_kw = {"device_ids": [self.device.index]} if self.device.type == "cuda" else {}
            fwd = torch.nn.parallel.DistributedDataParallel(
                model, find_unused_parameters=bool(a.ddp_find_unused_parameters), **ddp_kw
            )
        ddp = fwd
        if a.torch_compile:
            fwd = torch.compile(fwd)

        rank0 = self.is_world_process_zero()
        if rank0:
            self._writer = MetricsWriter(a.output_dir, a.logging_dir, "tensorboard" in a.report_targets)
        peak, self.peak_flops_source = peak_flops(self.device, a.peak_flops)
        if self._writer is not None:  # the MFU's denominator, stated once at the top of the metrics file
            self._writer.write(
                {
                    "event": "train_begin",
                    "step": state.global_step,
                    "world_size": self.world_size,
                    "peak_flops_per_device": peak,
                    "peak_flops_assumption": self.peak_flops_source,
                }
            )
        log_every, eval_every = self._every(a.logging_steps, max_steps), self._every(a.eval_steps, max_steps)
        save_every = self._every(a.save_steps, max_steps)
        bar = tqdm(total=max_steps, initial=state.global_step, disable=not rank0 or a.disable_tqdm, desc="train")
        self.control = self.callback_handler.call("on_train_begin", a, state, self.control)

        params = [p for p in model.parameters() if p.requires_grad]
        run_loss = torch.zeros((), device=self.device)  # summed step losses since the last log (no per-step sync)
        run_steps, run_tokens, t_log = 0, 0, time.perf_counter()
        total_loss, total_steps, seq_len, grad_norm = 0.0, 0, 0, torch.zeros(())
        stop = state.global_step >= max_steps
        while not stop:
            epoch = state.data_epoch
            if iterable:
                loader = self._loader(self.train_dataset, bs, shuffle=False, epoch=epoch)
            else:
                loader = self._loader(
                    self.train_dataset, bs, shuffle=True, epoch=epoch, skip=state.data_batches_consumed,
                    drop=drop_last,
                )  # fmt: skip
            batches = iter(loader)
            steps_before = state.global_step
            self.control = self.callback_handler.call("on_epoch_begin", a, state, self.control)
            while True:
                window = [self._to_device(b) for b in islice(batches, ga)]
                if not window:
                    break
                self.control = self.callback_handler.call("on_step_begin", a, state, self.control)
                num_items = sum(count_items(b, self.flags["causal"]).to(self.device) for b in window)
                if self.world_size > 1:
                    dist.all_reduce(num_items)
                num_items = num_items.clamp(min=1)
                step_loss = torch.zeros((), device=self.device)
                for i, batch in enumerate(window):
                    sync = i == len(window) - 1 or self.world_size == 1
                    ctx = contextlib.nullcontext() if sync else ddp.no_sync()
                    with ctx:
                        with self._autocast():
                            # [0]: drop the outputs now, so the logits are not kept alive through backward
                            loss = self.compute_loss(fwd, batch, num_items, a.label_smoothing_factor)[0]
                        # DDP averages gradients over ranks; the loss is already a share of the global mean
                        scaled = loss * self.world_size
                        (self.scaler.scale(scaled) if self.scaler else scaled).backward()
                    step_loss += loss.detach()
                    seq_len = batch["input_ids"].shape[-1] if "input_ids" in batch else seq_len
                    run_tokens += batch["input_ids"].numel() * self.world_size if "input_ids" in batch else 0
                if self.scaler:
                    self.scaler.unscale_(optimizer)
                max_norm = a.max_grad_norm if a.max_grad_norm else float("inf")
                grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                if self.scaler:
                    self.scaler.step(optimizer)
                    self.scaler.update()
                else:
                    optimizer.step()
                lr = self.lr_scheduler.get_last_lr()[0]
                self.lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if self.world_size > 1:
                    dist.all_reduce(step_loss)
                run_loss += step_loss
                run_steps += 1
                state.global_step += 1
                state.data_batches_consumed += len(window)
                state.num_input_tokens_seen += sum(b["input_ids"].numel() for b in window if "input_ids" in b)
                if steps_per_epoch:
                    state.epoch = epoch + min(1.0, state.data_batches_consumed / max(1, loader_len))
                if iterable and hasattr(self.train_dataset, "state_dict"):
                    state.data_state = self.train_dataset.state_dict()
                bar.update(1)
                self.control = self.callback_handler.call("on_step_end", a, state, self.control)
                done = state.global_step >= max_steps
                if state.global_step % log_every == 0 or done or (a.logging_first_step and state.global_step == 1):
                    elapsed = time.perf_counter() - t_log
                    mean_loss = run_loss.item() / run_steps
                    total_loss += run_loss.item()
                    total_steps += run_steps
                    tps = run_tokens / max(elapsed, 1e-9)
                    fpt = self._flops_per_token(seq_len)
                    record = {
                        "loss": mean_loss,
                        "learning_rate": lr,
                        "grad_norm": float(grad_norm),
                        "tokens_per_second": tps,
                        "mfu": tps * fpt / (peak * self.world_size),
                        "epoch": state.epoch,
                    }
                    self.log(record)
                    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.2e}")
                    run_loss.zero_()
                    run_steps, run_tokens, t_log = 0, 0, time.perf_counter()
                t_aside = time.perf_counter()  # eval and save time is not training time (tokens/s, MFU)
                if a.eval_strategy == "steps" and eval_every and state.global_step % eval_every == 0:
                    self.evaluate()
                    model.train()
                save_now = a.save_strategy == "steps" and (state.global_step % save_every == 0 or done)
                if save_now or self.control.should_save:
                    self._save_checkpoint()
                    self.control.should_save = False
                t_log += time.perf_counter() - t_aside
                if done or self.control.should_training_stop:
                    stop = True
                    break
            else_exhausted = not stop
            if else_exhausted and state.global_step == steps_before and state.data_batches_consumed == 0:
                raise ConfigError("the training dataset gave no batch in a whole pass (an empty stream?)")
            self.control = self.callback_handler.call("on_epoch_end", a, state, self.control)
            if else_exhausted or (state.data_batches_consumed >= (loader_len or 0) and not iterable):
                if a.eval_strategy == "epoch":
                    self.evaluate()
                    model.train()
                if a.save_strategy == "epoch":
                    self._save_checkpoint()
                state.data_epoch += 1
                state.data_batches_consumed = 0
                if iterable and hasattr(self.train_dataset, "state_dict"):
                    state.data_state = None  # a new pass over the stream
            stop = stop or self.control.should_training_stop or state.global_step >= max_steps
        bar.close()
        if run_steps:  # steps after the last log (only if training stopped early)
            total_loss += run_loss.item()
            total_steps += run_steps
        if a.load_best_model_at_end and state.best_model_checkpoint:
            load_model_files(model, state.best_model_checkpoint)
        self.control = self.callback_handler.call("on_train_end", a, state, self.control)
        train_loss = total_loss / max(1, total_steps)
        if rank0:
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

    def _save_checkpoint(self) -> None:
        a, state = self.args, self.state
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
        save_checkpoint(
            directory, model=self.model, optimizer=self.optimizer, scheduler=self.lr_scheduler, scaler=self.scaler,
            trainer_state=state.to_dict(), args_dict=a.to_dict(), tokenizer=self.tokenizer,
            rank=self.rank, world_size=self.world_size,
        )  # fmt: skip
        if self.is_world_process_zero():
            rotate_checkpoints(a.output_dir, a.save_total_limit, state.best_model_checkpoint)
        self.control = self.callback_handler.call("on_save", a, state, self.control)

    # ---- evaluation -------------------------------------------------------------------------------------------
    def _eval_loop(self, dataset: Any, prefix: str, keep_predictions: bool):
        return eval_loop(self, dataset, prefix, keep_predictions)

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list | None = None, metric_key_prefix: str = "eval"):
        """Loss (mean over predicted tokens), perplexity and `compute_metrics` on the eval set."""
        dataset = self._prepare(eval_dataset) if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ConfigError("evaluate needs an eval_dataset (in Trainer(...) or as an argument)")
        metrics, _, _ = self._eval_loop(dataset, metric_key_prefix, keep_predictions=self.compute_metrics is not None)
        self.log(metrics)
        self.control = self.callback_handler.call("on_evaluate", self.args, self.state, self.control, metrics=metrics)
        return metrics

    def predict(self, test_dataset: Any, ignore_keys: list | None = None, metric_key_prefix: str = "test"):
        """Logits for every example (padded to a common length with -100), labels, and metrics."""
        dataset = self._prepare(test_dataset)
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
