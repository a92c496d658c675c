"""Bootstrap resampling over per-example sufficient statistics, vectorised.

A corpus-level metric is a function of the SUM of per-example statistics (BLEU: n-gram matches, totals and lengths;
F1: a confusion row; ROUGE/EM: the example's score and a count of one). A resample is then a vector of multiplicities
``w`` (how often each example was drawn) and its statistics are ``w @ stats``: all resamples at once are one matrix
product ``W @ stats`` followed by the metric's formula evaluated on arrays. Nothing re-runs the metric per resample.

The indices are drawn exactly as sacrebleu draws them (``default_rng(seed).choice(n, (resamples, n))``) so a paired
test with the same seed sees the same resamples as ``sacrebleu.significance``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from massivetext.errors import ConfigError


def resample_weights(n: int, resamples: int, seed: int | None) -> np.ndarray:
    """(resamples, n) multiplicities of each example in each bootstrap resample (rows sum to n)."""
    if resamples < 1:
        raise ConfigError(f"resamples must be >= 1, got {resamples}")
    idx = np.random.default_rng(seed).choice(n, size=(resamples, n), replace=True)
    flat = idx + (np.arange(resamples) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def resampled_sums(stats: Any, weights: np.ndarray) -> np.ndarray:
    """(resamples, k) sums of the (n, k) statistics (dense or scipy sparse) under each resample's weights."""
    if hasattr(stats, "tocsr"):  # sparse: (S^T W^T)^T keeps the product sparse-dense
        return np.asarray((stats.T @ weights.T).T)
    return weights @ np.asarray(stats, dtype=np.float64)


def interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap values."""
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    lo, hi = np.quantile(np.asarray(values, dtype=np.float64), [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def paired_p_value(scores_a: np.ndarray, scores_b: np.ndarray, real_difference: float) -> float:
    """sacrebleu's (Moses') paired bootstrap p-value: how often the centred resampled |difference| exceeds the real
    one, with the +1 correction."""
    diffs = np.abs(scores_b - scores_a)
    centred = diffs - diffs.mean()
    return float((np.sum(centred > real_difference) + 1) / (len(centred) + 1))
