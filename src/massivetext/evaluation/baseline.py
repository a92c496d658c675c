"""Baselines that put a model's perplexity in context."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def unigram_perplexity(train_tokens: Iterable[np.ndarray], eval_tokens: Iterable[np.ndarray], vocab_size: int) -> dict:
    """Perplexity of a unigram model (token frequencies of the training tokens, add-one smoothed) on eval tokens.

    Both arguments are iterables of token-id arrays (e.g. memory-mapped shards), counted with ``np.bincount`` so
    nothing is held beyond one array and the vocabulary-sized counts.
    """
    counts = np.ones(vocab_size, dtype=np.float64)  # add-one (Laplace) smoothing: no token has probability 0
    for arr in train_tokens:
        counts += np.bincount(np.asarray(arr, dtype=np.int64), minlength=vocab_size)[:vocab_size]
    log_p = np.log(counts / counts.sum())
    nll, n = 0.0, 0
    for arr in eval_tokens:
        ids = np.asarray(arr, dtype=np.int64)
        nll -= float(log_p[ids].sum())
        n += ids.size
    if n == 0:
        raise ValueError("no evaluation tokens")
    loss = nll / n
    return {"loss": loss, "perplexity": math.exp(loss), "tokens": n}
