"""text-classification, zero-shot, fill-mask and feature-extraction: mt.pipeline against transformers' pipeline
(in-process: transformers 5 still has these tasks) on the same tiny random checkpoints and inputs."""

from __future__ import annotations

import numpy as np
import pytest
import transformers
from pipeline_helpers import assert_same, sentences

import massivetext as mt

TEXTS = sentences(12, seed=5, lo=1, hi=10) + ["Extraordinary reconstruction in Krakow!", "a"]


def hf(task, model_dir, **kw):
    return transformers.pipeline(task, model=model_dir, tokenizer=model_dir, **kw)


@pytest.mark.parametrize("fixture", ["bert_cls_dir", "roberta_cls_dir"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"top_k": 2}, {"top_k": None}, {"function_to_apply": "sigmoid"}, {"top_k": 1, "function_to_apply": "none"}],
)
def test_text_classification(fixture, kwargs, request):
    d = request.getfixturevalue(fixture)
    ref, ours = hf("text-classification", d), mt.pipeline("sentiment-analysis", model=d, batch_size=4)
    assert_same(ours(TEXTS[0], **kwargs), ref(TEXTS[0], **kwargs))
    assert_same(ours(TEXTS, **kwargs), ref(TEXTS, **kwargs))  # batched, sorted by length, order restored
    pair = {"text": "Alice visited Rome", "text_pair": "the castle of Oslo"}
    assert_same(ours(pair, **kwargs), ref(pair, **kwargs))
    assert_same(ours([pair, pair], **kwargs), ref([pair, pair], **kwargs))


def test_text_classification_unbatched_equals_batched(bert_cls_dir):
    one = mt.pipeline("text-classification", model=bert_cls_dir, batch_size=1)
    many = mt.pipeline("text-classification", model=bert_cls_dir, batch_size=64)
    assert_same(many(TEXTS, top_k=None), one(TEXTS, top_k=None))


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot(nli_dir, multi_label):
    ref, ours = hf("zero-shot-classification", nli_dir), mt.pipeline("zero-shot-classification", model=nli_dir)
    labels = ["travel", "history", "science"]
    for args in ((TEXTS[0], labels), (TEXTS[:5], labels), (TEXTS[3], ["castle"])):
        kw = {"multi_label": multi_label, "hypothesis_template": "The topic is {}."}
        assert_same(ours(*args, **kw), ref(*args, **kw))
    assert_same(ours(TEXTS[0], candidate_labels="travel, history"), ref(TEXTS[0], candidate_labels="travel, history"))


@pytest.mark.parametrize("fixture,mask", [("bert_mlm_dir", "[MASK]"), ("roberta_mlm_dir", "<mask>")])
@pytest.mark.parametrize(
    "kwargs", [{}, {"top_k": 3}, {"targets": ["the", "city", "river"]}, {"top_k": 2, "targets": "of"}]
)
def test_fill_mask(fixture, mask, kwargs, request):
    d = request.getfixturevalue(fixture)
    ref, ours = hf("fill-mask", d), mt.pipeline("fill-mask", model=d)
    one = f"the river {mask} of the city"
    two = f"{mask} walked to the {mask} yesterday"
    items = [one, f"Alice visited {mask}.", f"{mask}"]
    assert_same(ours(one, **kwargs), ref(one, **kwargs))
    assert_same(ours(two, **kwargs), ref(two, **kwargs))  # two masks: one list per mask
    assert_same(ours(items, **kwargs), ref(items, **kwargs))
    assert_same(ours([one], **kwargs), ref([one], **kwargs))


@pytest.mark.parametrize("fixture", ["bert_mlm_dir", "gpt2_dir"])
def test_feature_extraction_tokens(fixture, request):
    d = request.getfixturevalue(fixture)
    ref, ours = hf("feature-extraction", d), mt.pipeline("feature-extraction", model=d, batch_size=3)
    assert_same(ours(TEXTS[0]), ref(TEXTS[0]), tol=1e-4)
    assert_same(ours(TEXTS[:6]), ref(TEXTS[:6]), tol=1e-4)


def test_embeddings_pooling(bert_mlm_dir):
    ref = hf("feature-extraction", bert_mlm_dir)
    emb = mt.pipeline("embeddings", model=bert_mlm_dir, batch_size=4)
    for pooling in ("mean", "cls", "last"):
        for normalize in (False, True):
            got = np.array(emb(TEXTS[:6], pooling=pooling, normalize=normalize))
            for text, vec in zip(TEXTS[:6], got):
                h = np.array(ref(text))[0]  # tokens x hidden, one text at a time: no padding
                want = h.mean(0) if pooling == "mean" else h[0] if pooling == "cls" else h[-1]
                if normalize:
                    want = want / np.linalg.norm(want)
                np.testing.assert_allclose(vec, want, atol=1e-4)
    assert isinstance(emb(TEXTS[0], return_tensors=True), np.ndarray)
