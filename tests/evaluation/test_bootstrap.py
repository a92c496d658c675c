"""Bootstrap intervals (contain the estimate, narrow with data, seeded) and the paired test against sacrebleu's."""

import numpy as np
import pytest
from _eval_text_data import random_corpus
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

import massivetext as mt
from massivetext.evaluation.metrics.bootstrap import resample_weights


@pytest.mark.parametrize(
    "name,key,kind",
    [
        ("sacrebleu", "score", "text"),
        ("chrf", "score", "text"),
        ("rouge", "rougeL", "text"),
        ("squad", "f1", "text"),
        ("f1", "f1", "label"),
        ("matthews_correlation", "matthews_correlation", "label"),
    ],
)
def test_interval_contains_estimate_and_narrows(name, key, kind):
    def run(n, seed=0):
        hyps, refs = random_corpus(n, seed=3)
        if kind == "label":
            hyps, refs = (
                [len(h) % 2 for h in hyps],
                [len(r) % 2 if i % 3 else 1 - len(r) % 2 for i, r in enumerate(hyps)],
            )
        return mt.load_metric(name).compute(
            predictions=hyps, references=refs, confidence=0.95, resamples=500, seed=seed
        )

    small, big = run(40), run(640)
    for r in (small, big):
        assert r[f"{key}_ci_low"] <= r[key] <= r[f"{key}_ci_high"]
    width = lambda r: r[f"{key}_ci_high"] - r[f"{key}_ci_low"]  # noqa: E731
    assert width(big) < width(small) * 0.6  # ~1/sqrt(16) = 0.25 in theory
    assert run(40, seed=7) == run(40, seed=7)
    assert (
        run(40, seed=7)[f"{key}_ci_low"] != small[f"{key}_ci_low"]
        or run(40, seed=7)[f"{key}_ci_high"] != small[f"{key}_ci_high"]
    )


def test_weights_draw_sacrebleus_indices():
    idx = np.random.default_rng(5).choice(30, size=(20, 30), replace=True)
    w = resample_weights(30, 20, 5)
    assert all((np.bincount(idx[r], minlength=30) == w[r]).all() for r in range(20))


def test_seqeval_and_perplexity_style_intervals_exist():
    refs = [["B-PER", "O"], ["B-LOC", "I-LOC"], ["O", "B-ORG"]] * 10
    preds = [["B-PER", "O"], ["B-LOC", "O"], ["O", "B-ORG"]] * 10
    r = mt.load_metric("seqeval").compute(predictions=preds, references=refs, confidence=0.9, seed=1)
    assert r["overall_f1_ci_low"] <= r["overall_f1"] <= r["overall_f1_ci_high"]


@pytest.mark.parametrize("metric,engine", [("sacrebleu", BLEU()), ("chrf", CHRF())])
def test_paired_bootstrap_agrees_with_sacrebleu(metric, engine, monkeypatch):
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)  # sacrebleu's default seed: 12345, ours too
    refs, _ = random_corpus(120, seed=11)
    a, _ = random_corpus(120, seed=12)
    rng = np.random.default_rng(0)
    b = [r if rng.random() < 0.3 else h for h, r in zip(a, refs)]  # B copies some references: clearly better
    _, scores = PairedTest([("a", a), ("b", b)], {"m": engine}, [refs], test_type="bs", n_samples=1000)()
    name = [k for k in scores if k != "System"][0]
    base, other = scores[name]
    ours = mt.evaluation.paired_bootstrap(a, b, refs, metric)
    assert ours["score_a"] == pytest.approx(base.score) and ours["score_b"] == pytest.approx(other.score)
    assert ours["p_value"] == pytest.approx(other.p_value, abs=2 / 1001)
    assert ours["mean_b"] == pytest.approx(other.mean, rel=1e-6) and ours["ci_b"] == pytest.approx(other.ci, rel=1e-6)
    assert ours["mean_a"] == pytest.approx(base.mean, rel=1e-6) and ours["ci_a"] == pytest.approx(base.ci, rel=1e-6)
    assert ours["b_better"] and ours["p_value"] < 0.05
    # a system against itself: no difference
    same = mt.evaluation.paired_bootstrap(a, list(a), refs, metric)
    assert not same["significant"] and not same["b_better"] and same["difference"] == 0


def test_paired_bootstrap_other_metrics():
    _, refs = random_corpus(100, seed=1)
    _, a = random_corpus(100, seed=2)
    res = mt.evaluation.paired_bootstrap(a, refs, refs, "rouge", key="rouge1", resamples=300)
    assert res["b_better"] and res["score_b"] == pytest.approx(1.0)
