"""What every pipeline shares: loading, input forms, batching by token budget, padding, and in-order streaming.

A task file says only what differs: ``preprocess`` turns a window of inputs into features (one input may give
several: QA and NER windows over a long text, one premise/hypothesis pair per zero-shot label), ``forward`` runs
the model on one padded batch of features, ``postprocess`` turns one input's feature outputs into the
transformers-v4 result. The base does the rest, the same way for every task:

- inputs are read in windows; inside a window features are sorted by length so a batch pads little, batches are
  cut by a token budget (rows x longest row) and ``batch_size``, padded once, and run under ``inference_mode``;
- results come back in input order, streaming (a generator or ``datasets.Dataset`` in gives an iterator out);
- the tokenizer is called under a lock: its Rust backend keeps per-call padding/truncation state, and a server
  calls one pipeline from many threads.
"""

from __future__ import annotations

import copy
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from massivetext.errors import BadInputError, ConfigError, MassiveTextError

# tokens per padded batch (rows x longest row); batch_size caps the rows
DEFAULT_TOKEN_BUDGET = 4096
# how many inputs are read ahead, tokenized together and sorted by length
WINDOW_BATCHES = 16


@dataclass
class Feature:
    """One model row: token ids plus whatever the task needs to read the output back."""

    input_ids: list[int]
    token_type_ids: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def id2label(config: Any) -> dict[int, str]:
    raw = config.get("id2label") or {}
    n = config.get("num_labels") or len(raw) or 2
    labels = {int(k): v for k, v in raw.items()}
    return {i: labels.get(i, f"LABEL_{i}") for i in range(n)}


def check_text(value: Any, what: str = "input", allow_empty: bool = False) -> str:
    """A pipeline input must be a string; say plainly what it got instead."""
    if value is None:
        raise BadInputError(f"{what} is None; give a string")
    if not isinstance(value, str):
        raise BadInputError(f"{what} must be a string, not {type(value).__name__} ({value!r:.60})")
    if not allow_empty and not value.strip():
        raise BadInputError(f"{what} is an empty string")
    return value


def max_positions(model: Any, tokenizer: Any) -> int | None:
    """The longest sequence the model can take: its position table, or the tokenizer's model_max_length."""
    c = model.config
    limit = None
    for key in ("max_position_embeddings", "n_positions"):
        v = c.get(key)
        if v:
            limit = int(v)
            break
    if limit is not None and getattr(c, "is_roberta", False):
        limit = limit - (int(c.pad_token_id or 1) + 1)  # RoBERTa's positions start after the pad id
    if c.get("model_type") == "gpt2" and c.get("mt_rotary"):
        limit = None  # rotary positions have no table to run past
    tok = tokenizer.model_max_length if tokenizer.model_max_length < 10**12 else None
    if limit is None:
        return tok
    return limit if tok is None else min(limit, tok)


class Pipeline:
    """Base class; a task subclass sets ``task``, ``heads`` (model class names it accepts) and the three hooks."""

    task: ClassVar[str] = ""
    heads: ClassVar[tuple[str, ...]] = ()
    auto_class: ClassVar[str] = ""
    dataset_field: ClassVar[str | None] = "text"  # a datasets.Dataset row gives this column (None: the row dict)

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        task: str | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
        batch_size: int = 32,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
    ):
        if self.heads and type(model).__name__ not in self.heads:
            raise ConfigError(
                f"the {task or self.task} pipeline needs one of {sorted(set(self.heads))}, "
                f"not a {type(model).__name__} (model_type {model.config.model_type!r})"
            )
        if device is not None or dtype is not None:
            model = model.to(device=device, dtype=dtype)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.task_name = task or self.task
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, not {batch_size}")
        self.batch_size = int(batch_size)
        self.token_budget = int(token_budget)
        self.max_len = max_positions(model, tokenizer)
        self._tok_lock = threading.RLock()

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ---- hooks ------------------------------------------------------------------------------------------
    def sanitize(self, **kwargs: Any) -> dict[str, Any]:
        """Check and complete the call's options (an unknown one is an error)."""
        if kwargs:
            raise ConfigError(f"{self.task_name}: unknown options {sorted(kwargs)}")
        return {}

    def preprocess(self, items: list[Any], params: dict[str, Any]) -> list[list[Feature]]:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor], feats: list[Feature], params: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def postprocess(self, item: Any, feats: list[Feature], outputs: list[Any], params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def pad_side(self) -> str:
        return "right"

    # ---- calling ----------------------------------------------------------------------------------------
    def __call__(self, inputs: Any = None, *args: Any, **kwargs: Any) -> Any:
        # transformers' call-time options: batch_size for this call (a shallow copy carries it, so concurrent calls
        # with other sizes share the model but not the setting); num_workers fed its DataLoader, and tokenization
        # here is batched in-process, so it is accepted and has nothing to do
        kwargs.pop("num_workers", None)
        batch_size = kwargs.pop("batch_size", None)
        if batch_size is not None and batch_size != self.batch_size:
            if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
                raise ConfigError(f"batch_size must be an integer >= 1, not {batch_size!r}")
            call = copy.copy(self)
            call.batch_size = batch_size
            # the base's __call__ on the copy: a task's own __call__ (this one's caller) wraps the result once
            return Pipeline.__call__(call, inputs, *args, **kwargs)
        inputs, kwargs = self.parse_call(inputs, args, kwargs)
        with self._tok_lock:  # sanitize may tokenize (fill-mask targets)
            params = self.sanitize(**kwargs)
        single, stream, items = self.split_inputs(inputs)
        results = self.run(items, params)
        if single:
            return self.single_result(next(iter(results)), params)
        if stream:
            return results
        return [self.list_result(r, params) for r in results]

    def iter_results(self, items: list[Any], **kwargs: Any) -> Iterator[Any]:
        """For each item, what ``self(item, **kwargs)`` returns, computed in batches (``massivetext run``)."""
        with self._tok_lock:
            params = self.sanitize(**dict(kwargs))
        for item, result in zip(items, self.run(items, params)):
            yield self.as_single(item, result, params, kwargs)

    def as_single(self, item: Any, result: Any, params: dict[str, Any], kwargs: dict[str, Any]) -> Any:
        return self.single_result(result, params)

    def parse_call(self, inputs: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if args:
            raise ConfigError(f"{self.task_name}: unexpected positional arguments {args!r:.80}")
        if inputs is None:
            raise BadInputError(f"{self.task_name}: no input given (got None)")
        return inputs, kwargs

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, str)

    def single_result(self, result: Any, params: dict[str, Any]) -> Any:
        return result

    def list_result(self, result: Any, params: dict[str, Any]) -> Any:
        return result

    def split_inputs(self, inputs: Any) -> tuple[bool, bool, Iterable[Any]]:
        """(one item?, stream the results?, the items)."""
        if self.is_single(inputs):
            return True, False, [inputs]
        datasets = sys.modules.get("datasets")  # a Dataset input means it is imported; never pay its import here
        if datasets is not None and isinstance(inputs, datasets.Dataset):
            column = self.dataset_field
            if column is not None and column in inputs.column_names:
                return False, True, (row[column] for row in inputs)
            return False, True, iter(inputs)
        if isinstance(inputs, (list, tuple)):
            return False, False, list(inputs)
        if isinstance(inputs, Iterator) or hasattr(inputs, "__iter__") and not isinstance(inputs, (dict, bytes)):
            return False, True, inputs
        self.validate(inputs)  # numbers, dicts a task does not take: a clear error
        return True, False, [inputs]

    def validate(self, item: Any) -> Any:
        return check_text(item, f"{self.task_name} input")

    # ---- the engine -------------------------------------------------------------------------------------
    def run(self, items: Iterable[Any], params: dict[str, Any]) -> Iterator[Any]:
        """Results in input order; each window of inputs is tokenized together and run in sorted batches."""
        budget = self.window_budget()
        it = iter(items)
        while True:
            chunk, cost = [], 0
            for item in it:
                chunk.append(item)
                cost += self.item_cost(item)
                if cost >= budget:
                    break
            if not chunk:
                return
            yield from self.run_window(chunk, params)

    def window_budget(self) -> int:
        """How much input (in ``item_cost`` units) one window tokenizes, sorts and batches together; its features
        are held until the window is done."""
        return max(self.batch_size * WINDOW_BATCHES, 64)

    def item_cost(self, item: Any) -> int:
        """An input's share of the window budget (1; a task whose inputs fan out into many features says more)."""
        return 1

    def run_window(self, chunk: list[Any], params: dict[str, Any]) -> list[Any]:
        chunk = [self.validate(item) for item in chunk]
        with self._tok_lock:
            feats_per_item = self.preprocess(chunk, params)
        flat = [(i, f) for i, feats in enumerate(feats_per_item) for f in feats]
        outputs: list[Any] = [None] * len(flat)
        order = sorted(range(len(flat)), key=lambda k: len(flat[k][1].input_ids))
        rows = self.max_rows(params)
        for batch_idx in self.cut_batches([len(flat[k][1].input_ids) for k in order], rows):
            ids = [order[k] for k in batch_idx]
            feats = [flat[k][1] for k in ids]
            with torch.inference_mode():
                outs = self.forward(self.collate(feats), feats, params)
            for k, out in zip(ids, outs):
                outputs[k] = out
        results, pos = [], 0
        for item, feats in zip(chunk, feats_per_item):
            n = len(feats)
            results.append(self.postprocess(item, feats, outputs[pos : pos + n], params))
            pos += n
        return results

    def max_rows(self, params: dict[str, Any]) -> int:
        """Rows per forward pass (generation counts beams and returned sequences as rows)."""
        return self.batch_size

    def cut_batches(self, lengths: list[int], max_rows: int | None = None) -> Iterator[list[int]]:
        """Consecutive runs of the length-sorted features: at most max_rows rows and token_budget tokens."""
        max_rows = max_rows or self.batch_size
        start = 0
        while start < len(lengths):
            end = start + 1
            while (
                end < len(lengths)
                and end - start < max_rows
                and lengths[end] * (end + 1 - start) <= max(self.token_budget, lengths[end])
            ):
                end += 1
            yield list(range(start, end))
            start = end

    def collate(self, feats: list[Feature]) -> dict[str, torch.Tensor]:
        """Pad once per batch (input ids with the pad id, mask 0, token types 0) on the task's side."""
        T = max(len(f.input_ids) for f in feats)
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.model.config.pad_token_id or 0
        ids = np.full((len(feats), T), pad_id, dtype=np.int64)
        mask = np.zeros((len(feats), T), dtype=np.int64)
        types = np.zeros((len(feats), T), dtype=np.int64) if feats[0].token_type_ids is not None else None
        left = self.pad_side() == "left"
        for r, f in enumerate(feats):
            n = len(f.input_ids)
            sl = slice(T - n, T) if left else slice(0, n)
            ids[r, sl] = f.input_ids
            mask[r, sl] = 1
            if types is not None and f.token_type_ids is not None:
                types[r, sl] = f.token_type_ids
        dev = self.device
        batch = {"input_ids": torch.from_numpy(ids).to(dev), "attention_mask": torch.from_numpy(mask).to(dev)}
        if types is not None:
            batch["token_type_ids"] = torch.from_numpy(types).to(dev)
        return batch

    # ---- helpers for tasks ------------------------------------------------------------------------------
    def encode(self, texts: list[Any], pairs: list[Any] | None = None, **kwargs: Any) -> Any:
        """Batch-tokenize (no padding: the base pads per batch) and keep the Rust encodings for offsets."""
        return self.tokenizer(texts, pairs, padding=False, **kwargs)

    def encode_limited(self, texts: list[str], pairs: list[str] | None = None, what: str = "input") -> list[Any]:
        """Rust encodings of a batch; rows longer than the model takes are re-encoded truncated (specials kept),
        with a warning saying how many tokens were cut."""
        encs = list(self.encode(texts, pairs).encodings)
        limit = self.max_len
        if limit is None:
            return encs
        long = [i for i, e in enumerate(encs) if len(e.ids) > limit]
        if long:
            sub_pairs = None if pairs is None else [pairs[i] for i in long]
            cut = self.tokenizer([texts[i] for i in long], sub_pairs, truncation=True, max_length=limit).encodings
            for i, e in zip(long, cut):
                warnings.warn(
                    f"{self.task_name}: {what} {i} has {len(encs[i].ids)} tokens, the model takes {limit}; "
                    f"cut {len(encs[i].ids) - len(e.ids)} tokens",
                    UserWarning,
                    stacklevel=3,
                )
                encs[i] = e
        return encs

    def truncate(self, ids: list[int], limit: int | None, keep_last: int = 0, what: str = "input") -> list[int]:
        """Cut an over-long input to the model's positions, with a warning that says how much was cut."""
        if limit is None or len(ids) <= limit:
            return ids
        warnings.warn(
            f"{self.task_name}: {what} has {len(ids)} tokens, the model takes {limit}; "
            f"cut {len(ids) - limit} tokens from the end",
            UserWarning,
            stacklevel=2,
        )
        tail = ids[len(ids) - keep_last :] if keep_last else []
        return ids[: limit - keep_last] + tail

    def use_token_types(self) -> bool:
        return "token_type_ids" in self.tokenizer.model_input_names and bool(self.model.config.get("type_vocab_size"))


def softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def as_error(e: Exception, where: str) -> MassiveTextError:
    return e if isinstance(e, MassiveTextError) else BadInputError(f"{where}: {e}")
