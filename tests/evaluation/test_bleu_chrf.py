"""BLEU / sacrebleu / chrF(++) equal sacrebleu itself: score, precisions, lengths, signature."""

import numpy as np
import pytest
import sacrebleu
from _eval_text_data import HYPS, REFS_A, REFS_B, random_corpus
from sacrebleu.metrics import BLEU, CHRF

import massivetext as mt
from massivetext.evaluation.metrics.bleu import bleu_from_sums, chrf_from_sums


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"lowercase": True},
        {"tokenize": "intl"},
        {"tokenize": "char"},
        {"tokenize": "zh"},
        {"tokenize": "none"},
        {"smooth_method": "floor", "smooth_value": 0.2},
        {"smooth_method": "add-k"},
        {"smooth_method": "none"},
        {"use_effective_order": True, "smooth_method": "none"},
        {"max_ngram_order": 2},
    ],
)
def test_sacrebleu_equals_sacrebleu(options):
    engine_opts = {
        "lowercase": options.get("lowercase", False),
        "tokenize": options.get("tokenize"),
        "smooth_method": options.get("smooth_method", "exp"),
        "smooth_value": options.get("smooth_value"),
        "effective_order": options.get("use_effective_order", False),
        "max_ngram_order": options.get("max_ngram_order", 4),
    }
    ref = BLEU(**engine_opts)
    expected = ref.corpus_score(HYPS, [REFS_A, REFS_B])
    got = mt.load_metric("sacrebleu", **options).compute(
        predictions=HYPS, references=[[a, b] for a, b in zip(REFS_A, REFS_B)]
    )
    assert got["score"] == pytest.approx(expected.score, abs=1e-9)
    assert got["precisions"] == pytest.approx(expected.precisions)
    assert got["counts"] == expected.counts and got["totals"] == expected.totals
    assert (got["sys_len"], got["ref_len"]) == (expected.sys_len, expected.ref_len)
    assert got["bp"] == pytest.approx(expected.bp)
    assert got["signature"] == ref.get_signature().format()


def test_single_and_variable_references():
    single = mt.load_metric("sacrebleu").compute(predictions=HYPS, references=REFS_A)
    assert single["score"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS_A]).score)
    # variable number of references: sacrebleu takes None for a missing one
    refs = [[a, b] if i % 2 else [a] for i, (a, b) in enumerate(zip(REFS_A, REFS_B))]
    stream_b = [b if i % 2 else None for i, b in enumerate(REFS_B)]
    got = mt.load_metric("sacrebleu").compute(predictions=HYPS, references=refs)
    expected = BLEU()
    assert got["score"] == pytest.approx(expected.corpus_score(HYPS, [REFS_A, stream_b]).score)
    assert got["signature"].startswith("nrefs:var")


def test_bleu_uses_evaluate_keys_and_scale():
    got = mt.evaluate.load("bleu").compute(predictions=HYPS, references=[[a, b] for a, b in zip(REFS_A, REFS_B)])
    expected = BLEU(smooth_method="none").corpus_score(HYPS, [REFS_A, REFS_B])
    assert got["bleu"] == pytest.approx(expected.score / 100)
    assert got["precisions"] == pytest.approx([p / 100 for p in expected.precisions])
    assert got["translation_length"] == expected.sys_len and got["reference_length"] == expected.ref_len
    assert got["length_ratio"] == pytest.approx(expected.sys_len / expected.ref_len)
    smooth = mt.load_metric("bleu", smooth=True).compute(predictions=HYPS, references=REFS_A)
    assert smooth["bleu"] == pytest.approx(
        BLEU(smooth_method="add-k", smooth_value=1).corpus_score(HYPS, [REFS_A]).score / 100
    )


@pytest.mark.parametrize(
    "name,options,engine",
    [
        ("chrf", {}, {}),
        ("chrf++", {}, {"word_order": 2}),
        ("chrf", {"lowercase": True, "beta": 3}, {"lowercase": True, "beta": 3}),
        ("chrf", {"whitespace": True, "eps_smoothing": True}, {"whitespace": True, "eps_smoothing": True}),
        ("chrf", {"char_order": 4, "word_order": 1}, {"char_order": 4, "word_order": 1}),
    ],
)
def test_chrf_equals_sacrebleu(name, options, engine):
    ref = CHRF(**engine)
    expected = ref.corpus_score(HYPS, [REFS_A, REFS_B])
    got = mt.load_metric(name, **options).compute(predictions=HYPS, references=list(zip(REFS_A, REFS_B)))
    assert got["score"] == pytest.approx(expected.score, abs=1e-9)
    assert got["signature"] == ref.get_signature().format()


@pytest.mark.parametrize("method", ["none", "exp", "floor", "add-k"])
@pytest.mark.parametrize("effective", [False, True])
def test_vectorised_bleu_formula_equals_sacrebleu_on_resamples(method, effective):
    """The bootstrap's array formula gives sacrebleu's compute_bleu on many random statistic sums."""
    hyps, refs = random_corpus(60, seed=1)
    engine = BLEU(smooth_method=method, effective_order=effective)
    stats = np.array(engine._extract_corpus_statistics(hyps, [refs]), dtype=np.float64)
    rng = np.random.default_rng(0)
    sums = np.stack([stats[rng.choice(len(stats), rng.integers(1, 4))].sum(0) for _ in range(200)])
    got = bleu_from_sums(sums, 4, method, None, effective)
    expected = [engine._compute_score_from_stats(list(s)).score for s in sums]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("opts", [{}, {"word_order": 2}, {"eps_smoothing": True}])
def test_vectorised_chrf_formula_equals_sacrebleu_on_resamples(opts):
    hyps, refs = random_corpus(40, seed=2)
    engine = CHRF(**opts)
    stats = np.array(engine._extract_corpus_statistics(hyps, [refs]), dtype=np.float64)
    rng = np.random.default_rng(0)
    sums = np.stack([stats[rng.choice(len(stats), rng.integers(1, 4))].sum(0) for _ in range(100)])
    got = chrf_from_sums(sums, engine.order, engine.beta, engine.eps_smoothing)
    expected = [engine._compute_score_from_stats(list(s)).score for s in sums]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_add_batch_and_add_accumulate():
    m = mt.load_metric("sacrebleu")
    m.add_batch(predictions=HYPS[:5], references=REFS_A[:5])
    for h, r in zip(HYPS[5:], REFS_A[5:]):
        m.add(prediction=h, reference=r)
    assert m.compute()["score"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS_A]).score)
