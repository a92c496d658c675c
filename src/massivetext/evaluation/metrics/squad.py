"""SQuAD v1.1 and v2.0: exact match and token F1 as in the official evaluation scripts (``evaluate-v1.1.py``,
``evaluate-v2.0.py``), with ``evaluate``'s input format.

predictions: ``[{"id", "prediction_text"}]`` (v2 also ``"no_answer_probability"``) or plain strings;
references: ``[{"id", "answers": {"text": [...], "answer_start": [...]}}]``, or a string / list of strings per
example. Normalisation (official): lower case, drop punctuation and the articles a/an/the, collapse white space.
Each example's EM and F1 are the maxima over its gold answers. v2: an example with no gold answer is unanswerable;
its gold is the empty string; ``no_answer_probability > no_answer_threshold`` turns the prediction into "no answer";
when every prediction has a ``no_answer_probability``, v2 also reports the official script's ``best_exact``/``best_f1``
and the thresholds that reach them (``best_exact_thresh``/``best_f1_thresh``), as ``evaluate``'s squad_v2 does.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Any

import numpy as np

from massivetext.errors import MassiveTextError
from massivetext.evaluation.metrics.base import Metric, Scored, mean_from_sums, register

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """The official scripts' normalisation."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1(prediction: str, truth: str, v2: bool = True) -> float:
    """Token F1 after normalisation; v2's rule: if either side is empty, F1 is 1 when both are, else 0 (v1.1 has no
    such rule: no common token is 0)."""
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if v2 and (not p or not t):
        return float(p == t)
    common = collections.Counter(p) & collections.Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


def _pred(p: Any, i: int) -> tuple[str, float | None, Any]:
    if isinstance(p, str):
        return p, None, None
    if isinstance(p, dict) and isinstance(p.get("prediction_text"), str):
        prob = p.get("no_answer_probability")
        return p["prediction_text"], (float(prob) if prob is not None else None), p.get("id")
    raise MassiveTextError(f"prediction {i} must be a string or {{'id', 'prediction_text'}}, got {p!r:.80}")


def _golds(r: Any, i: int) -> tuple[list[str], Any]:
    if isinstance(r, str):
        return [r], None
    if isinstance(r, list | tuple) and all(isinstance(x, str) for x in r):
        return list(r), None
    if isinstance(r, dict) and isinstance(r.get("answers"), dict):
        texts = r["answers"].get("text", [])
        if isinstance(texts, list | tuple) and all(isinstance(x, str) for x in texts):
            return list(texts), r.get("id")
    raise MassiveTextError(f"reference {i} must be answers text(s) or {{'id', 'answers': {{'text': [...]}}}}")


def best_threshold(
    scores: np.ndarray, na_prob: np.ndarray, has_answer: np.ndarray, answered: np.ndarray
) -> tuple[float, float]:
    """The official v2.0 script's ``find_best_thresh``: the score (0-100) and the no-answer threshold that maximise
    it. Start from "no answer everywhere" (every unanswerable question right), then answer the questions in
    increasing order of no-answer probability (stable), each adding its raw score if it has an answer, or -1 if
    it has none and the raw prediction is not empty; the first running maximum above the start wins."""
    order = np.argsort(na_prob, kind="stable")
    diff = np.where(has_answer, scores, np.where(answered, -1.0, 0.0))[order]
    start = float((~has_answer).sum())
    running = start + np.cumsum(diff)
    best = int(np.argmax(running)) if len(running) else 0
    if len(running) and running[best] > start:
        return 100.0 * float(running[best]) / len(scores), float(na_prob[order][best])
    return 100.0 * start / len(scores), 0.0


class _Squad(Metric):
    text_inputs = False
    v2 = False

    def _parse(self, predictions: list[Any], references: list[Any], threshold: float) -> np.ndarray:
        """(n, 6) per example: EM, F1, has-answer flag, 1, no-answer probability (NaN if none given), whether the
        prediction (before the threshold) is non-empty."""
        rows = np.empty((len(predictions), 6))
        for i, (p, r) in enumerate(zip(predictions, references)):
            text, prob, pid = _pred(p, i)
            golds, rid = _golds(r, i)
            if pid is not None and rid is not None and pid != rid:
                raise MassiveTextError(f"example {i}: prediction id {pid!r} does not match reference id {rid!r}")
            has_answer = bool(golds)  # v2: from the raw answers, as the official script decides it
            golds = [g for g in golds if normalize_answer(g)] if self.v2 else golds
            if not golds:
                if not self.v2:
                    raise MassiveTextError(f"reference {i} has no answer (use squad_v2 for unanswerable questions)")
                golds = [""]
            answered = bool(text)
            if self.v2 and prob is not None and prob > threshold:
                text = ""
            rows[i] = (
                max(exact_match(text, g) for g in golds),
                max(f1(text, g, self.v2) for g in golds),
                has_answer,
                1,
                np.nan if prob is None else prob,
                answered,
            )
        return rows


@register("squad")
class Squad(_Squad):
    """``evaluate``'s ``squad``: ``exact_match`` and ``f1`` on a 0-100 scale."""

    name = "squad"
    main_key = "f1"
    defaults: dict[str, Any] = {}

    def _score(self, predictions: list[Any], references: list[Any], cfg: dict[str, Any]) -> Scored:
        rows = self._parse(predictions, references, 1.0)
        stats = rows[:, [0, 1, 3]]
        from_sums = mean_from_sums(["exact_match", "f1"], scale=100.0)
        return Scored({k: float(v[0]) for k, v in from_sums(stats.sum(0)).items()}, stats, from_sums)


@register("squad_v2")
class SquadV2(_Squad):
    """The official v2.0 script's output: exact, f1, total, HasAns_* and NoAns_* (0-100)."""

    name = "squad_v2"
    main_key = "f1"
    v2 = True
    defaults: dict[str, Any] = {"no_answer_threshold": 1.0}

    def _score(self, predictions: list[Any], references: list[Any], cfg: dict[str, Any]) -> Scored:
        rows = self._parse(predictions, references, cfg["no_answer_threshold"])
        em, f, has = rows[:, 0], rows[:, 1], rows[:, 2].astype(bool)
        result: dict[str, Any] = {"exact": 100 * em.mean(), "f1": 100 * f.mean(), "total": len(rows)}
        for name, mask in (("HasAns", has), ("NoAns", ~has)):
            if mask.any():
                result[f"{name}_exact"] = 100 * em[mask].mean()
                result[f"{name}_f1"] = 100 * f[mask].mean()
                result[f"{name}_total"] = int(mask.sum())
        if len(rows) and not np.isnan(rows[:, 4]).any():  # every prediction has a no-answer probability
            raw = rows if cfg["no_answer_threshold"] >= 1.0 else self._parse(predictions, references, np.inf)
            for key, col in (("exact", 0), ("f1", 1)):
                result[f"best_{key}"], result[f"best_{key}_thresh"] = best_threshold(
                    raw[:, col], raw[:, 4], raw[:, 2].astype(bool), raw[:, 5].astype(bool)
                )
        result = {k: float(v) if isinstance(v, np.floating) else v for k, v in result.items()}
        stats = rows[:, [0, 1, 3]]
        return Scored(result, stats, mean_from_sums(["exact", "f1"], scale=100.0))
