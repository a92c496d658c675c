"""ROUGE equals rouge-score, aggregated as evaluate does (mean F-measure), with rougeLsum sentence splitting."""

import numpy as np
import pytest
from _eval_text_data import HYPS, REFS_A, REFS_B
from rouge_score import rouge_scorer, scoring

import massivetext as mt
from massivetext.evaluation.metrics.rouge import split_sentences

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


@pytest.mark.parametrize("stem", [False, True])
def test_rouge_equals_rouge_score(stem):
    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=stem)
    per = [scorer.score(split_sentences(r), split_sentences(h)) for h, r in zip(HYPS, REFS_A)]
    got = mt.load_metric("rouge", use_stemmer=stem).compute(predictions=HYPS, references=REFS_A)
    for t in TYPES:
        assert got[t] == pytest.approx(np.mean([s[t].fmeasure for s in per]))
    # evaluate reports rouge-score's BootstrapAggregator "mid": a resampled estimate of this same mean
    agg = scoring.BootstrapAggregator()
    for s in per:
        agg.add_scores(s)
    res = agg.aggregate()
    for t in TYPES:
        assert res[t].low.fmeasure - 1e-9 <= got[t] <= res[t].high.fmeasure + 1e-9


def test_multi_reference_takes_best_like_score_multi():
    scorer = rouge_scorer.RougeScorer(TYPES)
    refs = [[a, b] for a, b in zip(REFS_A, REFS_B)]
    per = [scorer.score_multi([split_sentences(x) for x in r], split_sentences(h)) for h, r in zip(HYPS, refs)]
    got = mt.load_metric("rouge").compute(predictions=HYPS, references=refs, use_aggregator=False)
    for t in TYPES:
        assert got[t] == pytest.approx([s[t].fmeasure for s in per])


def test_rougelsum_splits_sentences_for_the_user():
    hyp = "The cat sat. The dog ran away. A bird sang."
    ref = "The dog ran away. The cat sat. Birds sang."
    got = mt.load_metric("rouge", rouge_types=["rougeLsum"]).compute(predictions=[hyp], references=[ref])
    scorer = rouge_scorer.RougeScorer(["rougeLsum"])
    by_hand = scorer.score(
        "The dog ran away.\nThe cat sat.\nBirds sang.", "The cat sat.\nThe dog ran away.\nA bird sang."
    )
    unsplit = scorer.score(ref, hyp)
    assert got["rougeLsum"] == pytest.approx(by_hand["rougeLsum"].fmeasure)
    assert by_hand["rougeLsum"].fmeasure > unsplit["rougeLsum"].fmeasure  # splitting matters here
    off = mt.load_metric("rouge", rouge_types=["rougeLsum"], split_sentences=False).compute(
        predictions=[hyp], references=[ref]
    )
    assert off["rougeLsum"] == pytest.approx(unsplit["rougeLsum"].fmeasure)


def test_custom_tokenizer_function():
    got = mt.load_metric("rouge", rouge_types=["rouge1"], tokenizer=lambda s: s.split()).compute(
        predictions=["东京 是 首都"], references=["东京 是 日本 首都"]
    )
    assert got["rouge1"] == pytest.approx(2 * 1.0 * 0.75 / 1.75)
