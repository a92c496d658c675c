"""The metric object API (Hugging Face ``evaluate``'s): ``compute``, ``add``, ``add_batch``; the registry behind
``load_metric``; input checks shared by every metric; bootstrap intervals on top of any metric's statistics.

A metric subclass implements ``_score(predictions, references, cfg) -> Scored``: the point estimate computed by the
reference engine (sacrebleu, rouge-score, sklearn, seqeval ...), plus per-example sufficient statistics and a
vectorised formula from summed statistics to scores, which the bootstrap evaluates on all resamples at once.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from massivetext.errors import ConfigError, MassiveTextError
from massivetext.evaluation.metrics.bootstrap import interval, resample_weights, resampled_sums

REGISTRY: dict[str, tuple[type[Metric], dict[str, Any]]] = {}


def register(name: str, **preset: Any) -> Callable[[type[Metric]], type[Metric]]:
    """Class decorator: ``load_metric(name)`` builds the class with ``preset`` config (e.g. chrF++ = word_order 2)."""

    def deco(cls: type[Metric]) -> type[Metric]:
        REGISTRY[name] = (cls, preset)
        return cls

    return deco


@dataclass
class Scored:
    """What a metric's ``_score`` returns.

    ``result``: the point estimate (the engine's numbers). ``stats``: (n, k) per-example sufficient statistics
    (numpy or scipy sparse), or None when the metric has no corpus-level bootstrap. ``from_sums``: maps (r, k) summed
    statistics to ``{key: (r,) scores}`` for the keys that get intervals; applied to the plain sum it gives ``result``.
    """

    result: dict[str, Any]
    stats: Any = None
    from_sums: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    engine: Any = None  # the reference implementation's object, for metrics that annotate intervals (signatures)


class Metric:
    """Base class. ``defaults`` lists every config option (unknown ones are an error); ``main_key`` is the score
    that ``paired_bootstrap`` compares."""

    name: str = ""
    defaults: dict[str, Any] = {}
    main_key: str = ""
    text_inputs: bool = True  # predictions must be strings and references strings or lists of strings

    def __init__(self, **config: Any):
        self.config = self._merge(self.defaults, config)
        self._predictions: list[Any] = []
        self._references: list[Any] = []

    def _merge(self, base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(extra) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ConfigError(f"metric {self.name!r}: unknown option(s) {', '.join(unknown)}; known: {known}")
        return {**base, **extra}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, config={self.config!r})"

    # -- evaluate's accumulation API ------------------------------------------------------------------------------
    def add(self, *, prediction: Any = None, reference: Any = None) -> None:
        self._predictions.append(prediction)
        self._references.append(reference)

    def add_batch(self, *, predictions: Sequence[Any] | None = None, references: Sequence[Any] | None = None) -> None:
        predictions, references = list(_seq(predictions, "predictions")), list(_seq(references, "references"))
        check_lengths(predictions, references)
        self._predictions.extend(predictions)
        self._references.extend(references)

    def compute(
        self,
        *,
        predictions: Sequence[Any] | None = None,
        references: Sequence[Any] | None = None,
        confidence: float | None = None,
        resamples: int = 1000,
        seed: int | None = 0,
        **config: Any,
    ) -> dict[str, Any]:
        """The metric on the given (or the added) predictions and references. ``confidence=0.95`` adds a bootstrap
        percentile interval ``<key>_ci_low`` / ``<key>_ci_high`` for each corpus-level score."""
        if predictions is None and references is None:
            predictions, references = self._predictions, self._references
            self._predictions, self._references = [], []
        preds, refs = self._check(predictions, references)
        cfg = self._merge(self.config, config)
        return self.finish(self._score(preds, refs, cfg), confidence, resamples, seed)

    def finish(self, scored: Scored, confidence: float | None, resamples: int = 1000, seed: int | None = 0) -> dict:
        """The result of a scored set, with the bootstrap interval when ``confidence`` is given."""
        result = dict(scored.result)
        if confidence is not None:
            if scored.from_sums is None:
                raise ConfigError(f"metric {self.name!r} has no corpus-level score to put an interval on")
            weights = resample_weights(scored.stats.shape[0], resamples, seed)
            boot = scored.from_sums(resampled_sums(scored.stats, weights))
            for key, values in boot.items():
                result[f"{key}_ci_low"], result[f"{key}_ci_high"] = interval(values, confidence)
            result["confidence"], result["resamples"] = confidence, resamples
            self._annotate(result, scored, resamples, seed)
        check_finite(self.name, result)
        return result

    # -- what a subclass provides ---------------------------------------------------------------------------------
    def _score(self, predictions: list[Any], references: list[Any], cfg: dict[str, Any]) -> Scored:
        raise NotImplementedError

    def _annotate(self, result: dict[str, Any], scored: Scored, resamples: int, seed: int | None) -> None:
        """Hook: record the bootstrap settings in the result (sacrebleu metrics put them in the signature)."""

    def _check(self, predictions: Any, references: Any) -> tuple[list[Any], list[Any]]:
        preds, refs = list(_seq(predictions, "predictions")), list(_seq(references, "references"))
        check_lengths(preds, refs)
        if self.text_inputs:
            check_texts(preds, refs)
        return preds, refs


def _seq(x: Any, what: str) -> Sequence[Any]:
    if x is None:
        raise MassiveTextError(f"no {what} given (pass {what}= or call add_batch first)")
    if isinstance(x, str | bytes):
        raise MassiveTextError(f"{what} must be a list (one item per example), got a single string")
    if hasattr(x, "tolist") and not isinstance(x, list):
        x = x.tolist()
    return x


def check_lengths(predictions: Sequence[Any], references: Sequence[Any]) -> None:
    if len(predictions) != len(references):
        raise MassiveTextError(
            f"{len(predictions)} predictions but {len(references)} references: they must pair up one to one"
        )
    if not predictions:
        raise MassiveTextError("no predictions to score (empty list)")


def check_texts(predictions: Sequence[Any], references: Sequence[Any]) -> None:
    """Predictions are strings; references are a string or a non-empty list of strings per example."""
    for i, p in enumerate(predictions):
        if not isinstance(p, str):
            raise MassiveTextError(f"prediction {i} is {type(p).__name__} {p!r:.60}, expected a string")
    for i, r in enumerate(references):
        items = [r] if isinstance(r, str) else r
        if not isinstance(items, list | tuple) or not items:
            raise MassiveTextError(f"reference {i} must be a string or a non-empty list of strings, got {r!r:.60}")
        for x in items:
            if not isinstance(x, str):
                raise MassiveTextError(f"reference {i} holds {type(x).__name__} {x!r:.60}, expected a string")


def ref_lists(references: Sequence[Any]) -> list[list[str]]:
    """Each example's references as a list (one string becomes a list of one)."""
    return [[r] if isinstance(r, str) else list(r) for r in references]


def check_finite(name: str, result: dict[str, Any]) -> None:
    for key, value in result.items():
        if isinstance(value, float) and math.isnan(value):
            raise MassiveTextError(f"metric {name!r}: {key} is NaN (check the inputs: empty texts or classes?)")


def unknown_metric(name: str) -> MassiveTextError:
    close = difflib.get_close_matches(name.lower(), REGISTRY, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return MassiveTextError(f"unknown metric {name!r}{hint} (available: {', '.join(sorted(REGISTRY))})")


def subset_score(
    scored: Scored, rows: np.ndarray, key: str, confidence: float | None, resamples: int = 1000, seed: int | None = 0
) -> dict[str, Any]:
    """``key`` on a subset of the examples (e.g. the uncontaminated ones), from their statistics alone: no
    re-scoring and no model run. With ``confidence``, the subset's own bootstrap interval."""
    if scored.from_sums is None:
        raise ConfigError("this metric has no per-example statistics")
    stats = scored.stats[np.asarray(rows)]
    out: dict[str, Any] = {
        "examples": int(len(rows)),
        key: float(np.ravel(scored.from_sums(np.asarray(stats.sum(0)).ravel())[key])[0]),
    }
    if confidence is not None and len(rows):
        boot = scored.from_sums(resampled_sums(stats, resample_weights(stats.shape[0], resamples, seed)))[key]
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = interval(boot, confidence)
    return out


def mean_from_sums(keys: Sequence[str], scale: float = 1.0) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """For metrics that are means of per-example scores: stats = [score_1 .. score_k, 1]."""

    def f(sums: np.ndarray) -> dict[str, np.ndarray]:
        sums = np.atleast_2d(sums)
        return {k: scale * sums[:, i] / sums[:, -1] for i, k in enumerate(keys)}

    return f
