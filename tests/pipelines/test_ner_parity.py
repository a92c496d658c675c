"""token-classification against transformers' pipeline (in-process): every aggregation strategy, ignore_labels,
stride over a text longer than the model takes, WordPiece (BERT) and byte-level BPE (RoBERTa) tokenizers."""

from __future__ import annotations

import pytest
import transformers
from pipeline_helpers import assert_same, sentences

import massivetext as mt

TEXTS = sentences(8, seed=7, lo=2, hi=12) + ["Alice visited the Extraordinary castle in Krakow, 1999."]
STRATEGIES = ["none", "simple", "first", "average", "max"]


@pytest.mark.parametrize("fixture", ["bert_ner_dir", "roberta_ner_dir"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_ner_strategies(fixture, strategy, request):
    d = request.getfixturevalue(fixture)
    ref = transformers.pipeline("token-classification", model=d, tokenizer=d, aggregation_strategy=strategy)
    ours = mt.pipeline("ner", model=d, batch_size=3)
    want = [ref(t) for t in TEXTS]
    assert any(want), "the random model should find some entities"
    assert_same(ours(TEXTS, aggregation_strategy=strategy), want)
    assert_same(ours(TEXTS[-1], aggregation_strategy=strategy), want[-1])
    kw = {"aggregation_strategy": strategy, "ignore_labels": ["O", "B-MISC", "I-MISC", "MISC"]}
    ref2 = transformers.pipeline("token-classification", model=d, tokenizer=d, **kw)
    assert_same(ours(TEXTS, **kw), [ref2(t) for t in TEXTS])


@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
def test_ner_stride_over_long_text(bert_ner_dir, strategy):
    long = " ".join(sentences(6, seed=11, lo=10, hi=14))  # far past the 64 positions
    ref = transformers.pipeline(
        "token-classification", model=bert_ner_dir, tokenizer=bert_ner_dir, aggregation_strategy=strategy, stride=16
    )
    ours = mt.pipeline("token-classification", model=bert_ner_dir)
    got = ours(long, aggregation_strategy=strategy, stride=16)
    assert_same(got, ref(long))
    assert max(e["end"] for e in got) > len(long) // 2  # the end of the document is read too
    with pytest.warns(UserWarning, match="cut"):  # without stride: truncated, and said so
        ours(long, aggregation_strategy=strategy)
