"""Perplexity of a causal LM on token data: the exponential of the mean next-token loss over all predicted tokens.

Accepts a token-shard directory (read with `TokenShards`), a dataset of `input_ids` (+ optional `shift_labels` or
`labels`, -100 ignored), or a list of token lists. The loss is computed here from the logits, so any model that
returns `.logits` works (MassiveText or transformers).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from massivetext.errors import ConfigError
from massivetext.evaluation.scored_forward import split_lm_head, token_nll
from massivetext.training.collators import DataCollatorForLanguageModeling
from massivetext.training.data import count_items

__all__ = [
    "perplexity",
    "sliding_window_nll",
    "sliding_window_perplexity",
    "sliding_windows",
    "split_lm_head",
    "token_nll",
    "token_stream",
]


def perplexity(
    model: torch.nn.Module,
    dataset_or_shards: Any,
    *,
    batch_size: int = 8,
    block_size: int | None = None,
    split: str = "val",
    max_batches: int | None = None,
    device: str | torch.device | None = None,
    tokenizer: Any = None,
) -> dict[str, float]:
    """`{"loss", "perplexity", "tokens"}` of `model` on the data (a shard directory reads `split`)."""
    data = dataset_or_shards
    if isinstance(data, (str, os.PathLike)):
        from massivetext.tokenization.shards import TokenShards

        config = getattr(model, "config", None)
        size = block_size or getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 1024)
        data = TokenShards(str(data), block_size=int(size), split=split, shuffle=False)
    elif isinstance(data, list) and data and isinstance(data[0], list):
        data = [{"input_ids": ids} for ids in data]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, collate_fn=DataCollatorForLanguageModeling(tokenizer, mlm=False)
    )
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            logits = model(**inputs).logits.float()
            if "shift_labels" in batch:
                targets = batch["shift_labels"].to(device)
            else:
                logits, targets = logits[:, :-1], batch["labels"][:, 1:].to(device)
            total += (
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum"
                )
                .double()
                .cpu()
            )
            count += int(count_items(batch, causal=True))
    model.train(was_training)
    loss = float(total / max(count, 1))
    return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf"), "tokens": count}


# ---------------------------------------------------------------------------------------------------------------------
# Sliding-window perplexity (the Hugging Face perplexity guide's method), batched.
#
# A sequence longer than the context is scored in windows of `max_length` tokens that start every `stride` tokens;
# each window predicts only the tokens the previous window did not (its last `end - prev_end`), seeing up to
# `max_length - stride` tokens of context before them. The guide runs one window at a time; here the windows of all
# sequences are batched (right padding is harmless for a causal model: no position sees a later one), sorted by
# length and first scored position so that a batch shares both, and each window is run without its last token
# (only a target). Only the positions that predict a scored token reach the output layer (the body's hidden states
# of those rows, or `logits_to_keep` for a model that cannot be split), and for MassiveText's GPT only they run
# the last block past its keys and values (see `scored_forward.py`), where the guide runs all `max_length`
# positions through every layer and computes their logits and full log-softmax. The guide multiplies each window's
# mean loss by (valid labels - 1), one fewer than the tokens it predicts after the first window; this code counts
# every predicted token once, which is exact (the two agree to ~1e-6 relative on long texts).
# ---------------------------------------------------------------------------------------------------------------------


def sliding_windows(seq_len: int, max_length: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(begin, end, first predicted position) of the guide's windows over a sequence of `seq_len` tokens."""
    if seq_len < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    begins = np.arange(0, seq_len, stride, dtype=np.int64)
    ends = np.minimum(begins + max_length, seq_len)
    last = int(np.argmax(ends == seq_len))  # the guide stops at the first window that reaches the end
    begins, ends = begins[: last + 1], ends[: last + 1]
    prev = np.concatenate([[0], ends[:-1]])
    first_target = np.maximum(prev, begins + 1)  # a window's first token has nothing before it in the window
    return begins, ends, first_target


def _accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    import inspect

    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _low_precision(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """The autocast type for ``dtype``, or None for full precision."""
    names = {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
    if dtype is None or dtype in ("float32", "fp32", torch.float32):
        return None
    if isinstance(dtype, torch.dtype) and dtype in names.values():
        return dtype
    if isinstance(dtype, str) and dtype in names:
        return names[dtype]
    raise ConfigError(f"dtype must be float32, bfloat16 or float16, got {dtype!r}")


def sliding_window_nll(
    model: torch.nn.Module,
    sequences: list[Any],
    *,
    max_length: int,
    stride: int,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = False,
    split_head: bool = True,
    last_block_scored_only: bool = True,
    dtype: str | torch.dtype | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sequence: summed negative log-likelihood (nats) and number of predicted tokens; and the same two per
    window, (windows, 2), for resampling a single long stream.

    Only the positions that predict a scored token reach the output layer: with ``split_head`` (and a model
    ``split_lm_head`` knows) the body's hidden states of those positions are gathered and ``token_nll`` scores
    them; otherwise the model's logits are asked for the last positions only (``logits_to_keep``, when the model
    takes it) and the scored rows gathered from them. ``last_block_scored_only`` (MassiveText GPT): the last block
    runs past its keys and values only for the scored positions (``scored_forward.gpt_scored_hidden``).

    ``dtype`` None/"float32" computes in the model's own precision (equal to the plain forward); "bfloat16" (or
    "float16") runs the matmuls in that type under ``torch.autocast``: faster where the hardware has it, not
    exact (it moved the perplexity by 2.9e-5 relative on a trained quickstart GPT, 1.1e-6 on a random one)."""
    if stride < 1 or stride > max_length:
        raise ConfigError(f"stride must be in [1, max_length={max_length}], got {stride}")
    seqs = [np.asarray(s, dtype=np.int64).ravel() for s in sequences]
    wins = []  # (seq, begin, end, first target)
    for i, s in enumerate(seqs):
        b, e, f = sliding_windows(len(s), max_length, stride)
        wins.append(np.column_stack([np.full(len(b), i), b, e, f]))
    table = np.concatenate(wins) if wins else np.zeros((0, 4), np.int64)
    table = table[table[:, 2] - table[:, 1] > 1] if len(table) else table  # a 1-token window predicts nothing
    # a window's input is [begin, end - 1) (its last token is only a target) and its hidden states from position
    # first - begin - 1 on predict scored tokens: batches share input length (longest first) and, within a length,
    # that first scored position (latest first: a sequence's first window, which scores from position 1, joins
    # the batch of leftovers rather than making a full batch run its last block for every position)
    order = np.lexsort((-(table[:, 3] - table[:, 1]), -(table[:, 2] - table[:, 1])))
    table = table[order]
    nll = np.zeros(len(seqs))
    count = np.zeros(len(seqs), dtype=np.int64)
    per_window = np.zeros((len(table), 2))
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    head = split_lm_head(model, last_block_scored_only=last_block_scored_only) if split_head else None
    keep_ok = head is None and _accepts_logits_to_keep(model)
    low = _low_precision(dtype)
    # bfloat16/float16: matmuls in that type under autocast (norms, softmax and the loss stay float32); the output
    # layer's weight is cast once here rather than once per block of rows
    autocast = torch.autocast(dev.type, dtype=low) if low is not None else contextlib.nullcontext()
    if head is not None:
        weight, bias = head.weight, head.bias
        if low is not None:
            weight, bias = weight.to(low), None if bias is None else bias.to(low)
    was_training = model.training
    model.eval()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(table), desc="perplexity", unit="window")
    with torch.inference_mode():
        for start in range(0, len(table), batch_size):
            rows = table[start : start + batch_size]
            lengths = rows[:, 2] - rows[:, 1] - 1
            t = int(lengths.max())
            ids = np.zeros((len(rows), t + 1), dtype=np.int64)  # inputs and, one further, the last target
            for j, (si, b, e, _) in enumerate(rows.tolist()):
                ids[j, : e - b] = seqs[si][b:e]
            # the output at position p predicts the token at p + 1: a window scores positions [f-b-1, e-b-1)
            n = rows[:, 2] - rows[:, 3]
            row_of = np.repeat(np.arange(len(rows)), n)
            pos = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + np.repeat(rows[:, 3] - rows[:, 1] - 1, n)
            first = int(pos.min())  # hidden states of positions [first, t) are needed
            targets = torch.from_numpy(ids[row_of, pos + 1]).to(dev)
            x = torch.from_numpy(ids[:, :t]).to(dev)
            if head is not None:
                with autocast:
                    h = head.body(x, first)
                flat = torch.from_numpy(row_of * (t - first) + pos - first).to(dev)
                h = h.reshape(-1, h.shape[-1]).index_select(0, flat).to(weight.dtype)
                lp = token_nll(h, weight, bias, targets)
            else:
                keep = t - first if keep_ok else 0
                with autocast:
                    out = model(input_ids=x, logits_to_keep=keep) if keep else model(input_ids=x)
                logits = out.logits if hasattr(out, "logits") else out["logits"]
                kept = logits.shape[1]  # the last `kept` positions
                flat = torch.from_numpy(row_of * kept + pos - (t - kept)).to(dev)
                picked = logits.reshape(-1, logits.shape[-1]).index_select(0, flat)
                lp = F.cross_entropy(picked.float(), targets, reduction="none")
            per_row = np.bincount(row_of, weights=lp.double().cpu().numpy(), minlength=len(rows))
            np.add.at(nll, rows[:, 0], per_row)
            np.add.at(count, rows[:, 0], n)
            per_window[start : start + len(rows)] = np.column_stack([per_row, n])
            if bar is not None:
                bar.update(len(rows))
    if bar is not None:
        bar.close()
    model.train(was_training)
    return nll, count, per_window


def token_stream(directory: str | os.PathLike, split: str = "val") -> np.ndarray:
    """All token ids of a split of a token-shard directory, in order (memory-mapped shards concatenated)."""
    from massivetext.tokenization.shards import TokenShards

    shards = TokenShards(directory, block_size=1, split=split, shuffle=False)
    return np.concatenate([np.asarray(m) for m in shards._shards()])


def sliding_window_perplexity(
    model: torch.nn.Module,
    data: Any,
    *,
    tokenizer: Any = None,
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 16,
    split: str = "val",
    add_start_token: bool = False,
    device: str | torch.device | None = None,
    progress: bool = False,
    dtype: str | torch.dtype | None = None,
) -> dict[str, Any]:
    """Perplexity with the guide's sliding window over texts (each scored on its own; needs `tokenizer`), lists of
    token ids, one 1-D token array, or a token-shard directory (its `split` as one stream, like the guide's
    concatenated test set). Returns the corpus perplexity (all predicted tokens pooled), the per-sequence ones, the
    mean of those (``evaluate``'s ``mean_perplexity``), and the per-sequence (nll, tokens) sufficient statistics.
    ``dtype="bfloat16"``: faster matmuls, not exact (see ``sliding_window_nll``)."""
    config = getattr(model, "config", None)
    max_length = int(
        max_length or getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 1024)
    )
    stride = int(stride or max_length)
    if isinstance(data, str | os.PathLike):
        sequences: list[Any] = [token_stream(data, split)]
    elif isinstance(data, np.ndarray | torch.Tensor) and data.ndim == 1:
        sequences = [np.asarray(data)]
    elif isinstance(data, list | tuple) and data and all(isinstance(t, str) for t in data):
        if tokenizer is None:
            raise ConfigError("perplexity over texts needs a tokenizer")
        bos = getattr(tokenizer, "bos_token_id", None)
        if add_start_token and bos is None:
            raise ConfigError("add_start_token=True but the tokenizer has no bos_token")
        sequences = [
            ([bos] if add_start_token else []) + list(tokenizer.encode(t, add_special_tokens=False)) for t in data
        ]
    elif isinstance(data, list | tuple) and data:
        sequences = [np.asarray(s) for s in data]
    else:
        raise ConfigError("perplexity needs texts, token id lists, a 1-D token array or a token-shard directory")
    nll, count, per_window = sliding_window_nll(
        model,
        sequences,
        max_length=max_length,
        stride=stride,
        batch_size=batch_size,
        device=device,
        progress=progress,
        dtype=dtype,
    )
    total = int(count.sum())
    if total == 0:
        raise ConfigError("no token to predict: every sequence is shorter than 2 tokens")
    loss = float(nll.sum() / total)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        per = np.where(count > 0, np.exp(nll / np.maximum(count, 1)), np.nan)
    return {
        "perplexity": math.exp(loss) if loss < 700 else float("inf"),
        "loss": loss,
        "tokens": total,
        "perplexities": per.tolist(),
        "mean_perplexity": float(np.nanmean(per)),
        "nll": nll,
        "counts": count,
        "window_stats": per_window,
    }
