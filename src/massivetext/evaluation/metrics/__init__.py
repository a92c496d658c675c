"""Metrics shipped in the package (no download): ``load_metric(name, **config)`` and ``combine([...])``.

>>> import massivetext as mt
>>> bleu = mt.load_metric("sacrebleu")
>>> bleu.compute(predictions=["the cat sat"], references=[["the cat sat"]], confidence=0.95)["score"]
100.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from massivetext.evaluation.metrics import bleu, classification, perplexity, rouge, seqeval, squad  # noqa: F401
from massivetext.evaluation.metrics.base import REGISTRY, Metric, Scored, register, unknown_metric
from massivetext.evaluation.metrics.combine import CombinedMetric, combine
from massivetext.evaluation.metrics.paired import paired_bootstrap

__all__ = [
    "REGISTRY",
    "CombinedMetric",
    "Metric",
    "Scored",
    "combine",
    "list_metrics",
    "load",
    "load_metric",
    "paired_bootstrap",
    "register",
]


def load_metric(name: str | Metric, **config: Any) -> Metric:
    """A metric object by name (``evaluate.load``'s role), configured with ``config`` (its compute-time options
    may also be passed to ``compute``). An unknown name raises a MassiveTextError that suggests close names."""
    if isinstance(name, Metric):
        return name
    if not isinstance(name, str):
        raise unknown_metric(repr(name))
    key = name.lower() if name.lower() in REGISTRY else name
    if key not in REGISTRY:
        raise unknown_metric(name)
    cls, preset = REGISTRY[key]
    return cls(**{**preset, **config})


load = load_metric


def list_metrics() -> list[str]:
    return sorted(REGISTRY)


def _as_metrics(metrics: Sequence[str | Metric]) -> list[Metric]:
    return [load_metric(m) for m in metrics]
