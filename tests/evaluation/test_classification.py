"""accuracy / precision / recall / f1 / MCC / confusion matrix equal sklearn; the bootstrap's formulas on the
un-resampled statistics give sklearn's numbers too."""

import numpy as np
import pytest
import sklearn.metrics as skm

import massivetext as mt
from massivetext.errors import MassiveTextError

rng = np.random.default_rng(0)
Y3 = rng.integers(0, 3, 80)
P3 = np.where(rng.random(80) < 0.6, Y3, rng.integers(0, 4, 80))  # class 3 only ever predicted
Y2 = rng.integers(0, 2, 50)
P2 = np.where(rng.random(50) < 0.7, Y2, 1 - Y2)
W = rng.random(80)


def _stat_value(metric, preds, refs, **cfg):
    m = mt.load_metric(metric, **cfg)
    scored = m._score(*m._check(preds, refs), m.config)
    return scored.result, {k: float(v[0]) for k, v in scored.from_sums(np.asarray(scored.stats.sum(0))).items()}


@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
def test_multiclass_prf_equals_sklearn(name, average):
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
    expected = fn(Y3, P3, average=average, zero_division=0)
    result, from_stats = _stat_value(name, P3.tolist(), Y3.tolist(), average=average, zero_division=0)
    assert result[name] == pytest.approx(expected)
    assert from_stats[name] == pytest.approx(expected)


@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_binary_labels_and_weights_equal_sklearn(name):
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
    result, from_stats = _stat_value(name, P2.tolist(), Y2.tolist())
    assert result[name] == pytest.approx(fn(Y2, P2)) and from_stats[name] == pytest.approx(fn(Y2, P2))
    result, from_stats = _stat_value(name, P2.tolist(), Y2.tolist(), pos_label=0)
    assert from_stats[name] == pytest.approx(fn(Y2, P2, pos_label=0))
    exp = fn(Y3, P3, average="macro", labels=[0, 2], zero_division=0)
    result, from_stats = _stat_value(name, P3.tolist(), Y3.tolist(), average="macro", labels=[0, 2], zero_division=0)
    assert result[name] == pytest.approx(exp) and from_stats[name] == pytest.approx(exp)
    exp = fn(Y3, P3, average="weighted", sample_weight=W, zero_division=0)
    _, from_stats = _stat_value(name, P3.tolist(), Y3.tolist(), average="weighted", sample_weight=W, zero_division=0)
    assert from_stats[name] == pytest.approx(exp)


def test_accuracy_mcc_confusion_equal_sklearn():
    for y, p in ((Y3, P3), (Y2, P2)):
        r, s = _stat_value("accuracy", p.tolist(), y.tolist())
        assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, p)) == s["accuracy"]
        r, s = _stat_value("matthews_correlation", p.tolist(), y.tolist())
        assert r["matthews_correlation"] == pytest.approx(skm.matthews_corrcoef(y, p))
        assert s["matthews_correlation"] == pytest.approx(skm.matthews_corrcoef(y, p))
    cm = mt.load_metric("confusion_matrix").compute(predictions=P3, references=Y3)
    assert cm["confusion_matrix"] == skm.confusion_matrix(Y3, P3).tolist() and cm["labels"] == [0, 1, 2, 3]
    # string labels
    y, p = ["pos", "neg", "neg", "pos"], ["pos", "pos", "neg", "neg"]
    assert mt.load_metric("f1", average="macro").compute(predictions=p, references=y)["f1"] == pytest.approx(
        skm.f1_score(y, p, average="macro")
    )


def test_per_class_average_none_and_bad_inputs():
    got = mt.load_metric("f1", average=None).compute(predictions=P3, references=Y3)["f1"]
    assert got == pytest.approx(skm.f1_score(Y3, P3, average=None, zero_division=0).tolist())
    with pytest.raises(MassiveTextError, match="NaN"):
        mt.load_metric("accuracy").compute(predictions=[0.0, float("nan")], references=[0, 1])
    with pytest.raises(MassiveTextError, match="3 predictions but 2 references"):
        mt.load_metric("accuracy").compute(predictions=[0, 1, 1], references=[0, 1])
    with pytest.raises(MassiveTextError, match="empty"):
        mt.load_metric("accuracy").compute(predictions=[], references=[])
    with pytest.raises(MassiveTextError, match="binary"):
        mt.load_metric("f1").compute(predictions=P3, references=Y3)
