"""``paired_bootstrap(sys_a, sys_b, refs, metric)``: does system B differ from (beat) system A?

sacrebleu's paired bootstrap resampling (Koehn 2004, as in Moses' bootstrap-hypothesis-difference-significance.pl
and ``sacrebleu --paired-bs``), for any metric with per-example statistics: both systems are scored on the same
resamples (the same indices sacrebleu draws for the same seed), and the p-value is the share of centred resampled
differences at least as large as the observed one. A is the baseline, as sacrebleu's first system.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from massivetext.errors import ConfigError
from massivetext.evaluation.metrics.base import Metric
from massivetext.evaluation.metrics.bootstrap import paired_p_value, resample_weights, resampled_sums


def paired_bootstrap(
    sys_a: Sequence[Any],
    sys_b: Sequence[Any],
    references: Sequence[Any],
    metric: str | Metric = "sacrebleu",
    *,
    resamples: int = 1000,
    seed: int | None = 12345,
    key: str | None = None,
    alpha: float = 0.05,
    **config: Any,
) -> dict[str, Any]:
    """``{"metric", "score_a", "score_b", "difference", "p_value", "significant", "b_better", "mean_a", "ci_a",
    "mean_b", "ci_b"}``; ``ci_*`` is sacrebleu's half-width of the 95% interval around the resampled mean, ``seed``
    defaults to sacrebleu's (12345)."""
    from massivetext.evaluation.metrics import load_metric

    m = load_metric(metric, **config)
    key = key or m.main_key
    a_pred, refs = m._check(sys_a, references)
    b_pred, _ = m._check(sys_b, references)
    sa, sb = m._score(a_pred, refs, m.config), m._score(b_pred, refs, m.config)
    if sa.from_sums is None or key not in sa.result:
        raise ConfigError(f"metric {m.name!r} has no corpus-level score {key!r} to compare")
    weights = resample_weights(sa.stats.shape[0], resamples, seed)
    boot_a = sa.from_sums(resampled_sums(sa.stats, weights))[key]
    boot_b = sb.from_sums(resampled_sums(sb.stats, weights))[key]
    score_a, score_b = float(sa.result[key]), float(sb.result[key])
    p = paired_p_value(boot_a, boot_b, abs(score_a - score_b))
    return {
        "metric": m.name,
        "key": key,
        "score_a": score_a,
        "score_b": score_b,
        "difference": score_b - score_a,
        "p_value": p,
        # sacrebleu's formula gives p = 1/(resamples+1) for identical systems (no resample exceeds 0): not a finding
        "significant": p < alpha and score_a != score_b,
        "b_better": p < alpha and score_b > score_a,
        "mean_a": float(boot_a.mean()),
        "ci_a": _half_width(boot_a),
        "mean_b": float(boot_b.mean()),
        "ci_b": _half_width(boot_b),
    }


def _half_width(values: np.ndarray) -> float:
    """sacrebleu's ``estimate_ci``: half the distance between the 1/40 and 39/40 order statistics."""
    s = np.sort(values)
    lo = len(s) // 40
    return float(0.5 * (s[len(s) - lo - 1] - s[lo]))
