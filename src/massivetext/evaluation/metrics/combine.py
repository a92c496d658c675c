"""``combine([...])``: several metrics computed on the same predictions, results merged (``evaluate.combine``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from massivetext.errors import ConfigError, MassiveTextError
from massivetext.evaluation.metrics.base import Metric, check_lengths


class CombinedMetric:
    def __init__(self, metrics: list[Metric], force_prefix: bool = False):
        if not metrics:
            raise ConfigError("combine() needs at least one metric")
        self.metrics, self.force_prefix = metrics, force_prefix
        self._predictions: list[Any] = []
        self._references: list[Any] = []

    def add(self, *, prediction: Any = None, reference: Any = None) -> None:
        self._predictions.append(prediction)
        self._references.append(reference)

    def add_batch(self, *, predictions: Sequence[Any], references: Sequence[Any]) -> None:
        check_lengths(list(predictions), list(references))
        self._predictions.extend(predictions)
        self._references.extend(references)

    def compute(self, *, predictions: Any = None, references: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Each metric's result; keys are prefixed with the metric name when two metrics share a key (or always
        with ``force_prefix``). Options a metric does not know are not passed to it (bootstrap options go to all)."""
        if predictions is None and references is None:
            predictions, references = self._predictions, self._references
            self._predictions, self._references = [], []
        shared = {k: kwargs[k] for k in ("confidence", "resamples", "seed") if k in kwargs}
        results: list[tuple[str, dict[str, Any]]] = []
        for m in self.metrics:
            own = {k: v for k, v in kwargs.items() if k in m.defaults}
            results.append((m.name, m.compute(predictions=predictions, references=references, **shared, **own)))
        unused = set(kwargs) - set(shared) - {k for m in self.metrics for k in m.defaults}
        if unused:
            raise MassiveTextError(f"no combined metric takes option(s) {', '.join(sorted(unused))}")
        values: dict[str, list[Any]] = {}
        for _, r in results:
            for k, v in r.items():
                values.setdefault(k, []).append(v)
        # a key several metrics share with one value (the bootstrap settings) stays unprefixed and appears once
        clash = {k for k, vs in values.items() if len(vs) > 1 and any(v != vs[0] for v in vs)}
        out: dict[str, Any] = {}
        for name, r in results:
            for k, v in r.items():
                out[f"{name}_{k}" if self.force_prefix or k in clash else k] = v
        return out


def combine(metrics: Sequence[str | Metric], force_prefix: bool = False) -> CombinedMetric:
    from massivetext.evaluation.metrics import load_metric

    return CombinedMetric([load_metric(m) for m in metrics], force_prefix)
