"""accuracy, precision, recall, f1, matthews_correlation and confusion_matrix, computed by ``sklearn.metrics`` with
``evaluate``'s argument names and result keys.

The bootstrap statistics of one example are three one-hot rows over the label set (its true class, its predicted
class, and its true class again when the prediction is right) and a count: summed, they are every class's support,
predicted count and true positives, from which all these scores follow (sklearn's formulas, vectorised over
resamples). They are sparse, so many classes cost no memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from massivetext.errors import ConfigError, MassiveTextError
from massivetext.evaluation.metrics.base import Metric, Scored, register

AVERAGES = ("binary", "micro", "macro", "weighted", None)


def _labels_array(values: list[Any], what: str) -> np.ndarray:
    for i, v in enumerate(values):
        if isinstance(v, float) and math.isnan(v):
            raise MassiveTextError(f"{what} {i} is NaN")
        if not isinstance(v, int | float | str | np.integer | np.floating | np.bool_ | bool):
            raise MassiveTextError(f"{what} {i} is {type(v).__name__} {v!r:.60}, expected a class label")
    return np.asarray(values)


def label_stats(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray, weight: np.ndarray | None) -> Any:
    """Sparse (n, 3C + 1): [one-hot true | one-hot pred | one-hot true if correct | 1], rows scaled by weight."""
    from scipy import sparse

    n, c = len(y_true), len(labels)
    index = {v: i for i, v in enumerate(labels.tolist())}
    t = np.array([index.get(v, -1) for v in y_true.tolist()])
    p = np.array([index.get(v, -1) for v in y_pred.tolist()])
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    rows, cols, vals = [], [], []
    for offset, col, ok in ((0, t, t >= 0), (c, p, p >= 0), (2 * c, t, (t >= 0) & (t == p))):
        rows.append(np.flatnonzero(ok))
        cols.append(col[ok] + offset)
        vals.append(w[ok])
    rows.append(np.arange(n))
    cols.append(np.full(n, 3 * c))
    vals.append(w)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, 3 * c + 1))


def _div(num: np.ndarray, den: np.ndarray, zero_division: Any) -> np.ndarray:
    z = 0.0 if zero_division == "warn" else float(zero_division)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), z)


def prf_from_sums(
    sums: np.ndarray, c: int, which: str, average: str, pos: int | None, zero_division: Any
) -> np.ndarray:
    """sklearn's precision/recall/f1 (``which``) from summed label statistics, one value per row."""
    s = np.atleast_2d(sums)
    t, p, tp = s[:, :c], s[:, c : 2 * c], s[:, 2 * c : 3 * c]
    if average == "binary":
        t, p, tp = t[:, [pos]], p[:, [pos]], tp[:, [pos]]
    elif average == "micro":
        t, p, tp = t.sum(1, keepdims=True), p.sum(1, keepdims=True), tp.sum(1, keepdims=True)
    num, den = {"precision": (tp, p), "recall": (tp, t), "f1": (2 * tp, t + p)}[which]
    per_class = _div(num, den, zero_division)
    if average == "weighted":
        return _div((per_class * t).sum(1), t.sum(1), zero_division)
    return per_class.mean(1)


def mcc_from_sums(sums: np.ndarray, c: int) -> np.ndarray:
    """sklearn's multiclass Matthews correlation from class supports, predicted counts and true positives."""
    s = np.atleast_2d(sums)
    t, p, tp, n = s[:, :c], s[:, c : 2 * c], s[:, 2 * c : 3 * c], s[:, -1]
    cov_tp = tp.sum(1) * n - (t * p).sum(1)
    cov_pp = n**2 - (p * p).sum(1)
    cov_tt = n**2 - (t * t).sum(1)
    den = cov_tt * cov_pp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, cov_tp / np.sqrt(np.where(den > 0, den, 1)), 0.0)


class _Classification(Metric):
    text_inputs = False

    def _check(self, predictions: Any, references: Any) -> tuple[list[Any], list[Any]]:
        preds, refs = super()._check(predictions, references)
        return _labels_array(preds, "prediction"), _labels_array(refs, "reference")

    @staticmethod
    def _label_set(y_true: np.ndarray, y_pred: np.ndarray, labels: Any) -> np.ndarray:
        from sklearn.utils.multiclass import unique_labels

        present = unique_labels(y_true, y_pred)
        if labels is None:
            return present
        extra = [x for x in present.tolist() if x not in list(labels)]
        return np.asarray(list(labels) + extra)


@register("accuracy")
class Accuracy(_Classification):
    name = "accuracy"
    main_key = "accuracy"
    defaults = {"normalize": True, "sample_weight": None}

    def _score(self, predictions: Any, references: Any, cfg: dict[str, Any]) -> Scored:
        from sklearn.metrics import accuracy_score

        value = accuracy_score(references, predictions, normalize=cfg["normalize"], sample_weight=cfg["sample_weight"])
        labels = self._label_set(references, predictions, None)
        stats = label_stats(references, predictions, labels, cfg["sample_weight"])
        c, normalize = len(labels), cfg["normalize"]

        def from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
            s = np.atleast_2d(sums)
            correct = s[:, 2 * c : 3 * c].sum(1)
            return {"accuracy": correct / s[:, -1] if normalize else correct}

        return Scored({"accuracy": float(value)}, stats, from_sums)


class _PRF(_Classification):
    defaults = {"average": "binary", "pos_label": 1, "labels": None, "sample_weight": None, "zero_division": "warn"}

    def _score(self, predictions: Any, references: Any, cfg: dict[str, Any]) -> Scored:
        import sklearn.metrics as skm

        average = cfg["average"]
        if average not in AVERAGES:
            raise ConfigError(f"{self.name}: average must be one of {AVERAGES}, got {average!r}")
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[self.name]
        try:
            value = fn(
                references,
                predictions,
                labels=cfg["labels"],
                pos_label=cfg["pos_label"],
                average=average,
                sample_weight=cfg["sample_weight"],
                zero_division=cfg["zero_division"],
            )
        except ValueError as e:  # e.g. average='binary' on multiclass labels
            raise MassiveTextError(f"{self.name}: {e}") from e
        if average is None:
            return Scored({self.name: np.asarray(value).tolist()})
        from sklearn.utils.multiclass import unique_labels

        present = unique_labels(references, predictions).tolist()
        if average == "binary":  # sklearn scores pos_label even when it never occurs
            labels = np.asarray(present + ([cfg["pos_label"]] if cfg["pos_label"] not in present else []))
        elif cfg["labels"] is not None:  # macro/weighted/micro over exactly the given labels
            labels = np.asarray(list(cfg["labels"]))
        else:
            labels = np.asarray(present)
        stats = label_stats(references, predictions, labels, cfg["sample_weight"])
        c, name, zd = len(labels), self.name, cfg["zero_division"]
        pos = labels.tolist().index(cfg["pos_label"]) if average == "binary" else None

        def from_sums(sums: np.ndarray) -> dict[str, np.ndarray]:
            return {name: prf_from_sums(sums, c, name, average, pos, zd)}

        return Scored({self.name: float(value)}, stats, from_sums)


@register("precision")
class Precision(_PRF):
    name = main_key = "precision"


@register("recall")
class Recall(_PRF):
    name = main_key = "recall"


@register("f1")
class F1(_PRF):
    name = main_key = "f1"


@register("matthews_correlation")
class MatthewsCorrelation(_Classification):
    name = main_key = "matthews_correlation"
    defaults = {"sample_weight": None}

    def _score(self, predictions: Any, references: Any, cfg: dict[str, Any]) -> Scored:
        from sklearn.metrics import matthews_corrcoef

        value = matthews_corrcoef(references, predictions, sample_weight=cfg["sample_weight"])
        labels = self._label_set(references, predictions, None)
        stats = label_stats(references, predictions, labels, cfg["sample_weight"])
        c = len(labels)
        return Scored(
            {"matthews_correlation": float(value)}, stats, lambda s: {"matthews_correlation": mcc_from_sums(s, c)}
        )


@register("confusion_matrix")
class ConfusionMatrix(_Classification):
    """sklearn's confusion matrix (rows: true class, columns: predicted) and the label order it uses."""

    name = main_key = "confusion_matrix"
    defaults = {"labels": None, "sample_weight": None, "normalize": None}

    def _score(self, predictions: Any, references: Any, cfg: dict[str, Any]) -> Scored:
        from sklearn.metrics import confusion_matrix

        labels = (
            np.asarray(cfg["labels"]) if cfg["labels"] is not None else self._label_set(references, predictions, None)
        )
        m = confusion_matrix(
            references, predictions, labels=labels, sample_weight=cfg["sample_weight"], normalize=cfg["normalize"]
        )
        return Scored({"confusion_matrix": m.tolist(), "labels": labels.tolist()})
