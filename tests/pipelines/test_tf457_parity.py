"""question-answering, translation, summarization and text2text-generation against transformers 4.57 (v5 dropped
these pipelines), run in a side virtualenv (see tf457.py) on the same checkpoints and inputs."""

from __future__ import annotations

import pytest
import tf457
from pipeline_helpers import assert_same, sentences

import massivetext as mt

QUESTIONS = ["Who visited the castle?", "Where is the river?", "When was it founded?"]
SHORT = "Alice visited the castle in Krakow in 1999 and the river was quiet."


@pytest.fixture(scope="module")
def long_context():
    return " ".join(sentences(12, seed=21, lo=10, hi=16))  # far longer than max_seq_len


def test_question_answering(bert_qa_dir, long_context):
    calls = [
        {"kwargs": {"question": QUESTIONS[0], "context": SHORT}},
        {"kwargs": {"question": QUESTIONS[0], "context": SHORT, "top_k": 3}},
        {"kwargs": {"question": QUESTIONS[1], "context": SHORT, "handle_impossible_answer": True, "top_k": 2}},
        {"kwargs": {"question": QUESTIONS[2], "context": SHORT, "align_to_words": False, "max_answer_len": 4}},
        # stride: the context spans many windows of max_seq_len tokens
        {"kwargs": {"question": QUESTIONS[0], "context": long_context, "max_seq_len": 48, "doc_stride": 16}},
        {
            "kwargs": {
                "question": QUESTIONS[1],
                "context": long_context,
                "max_seq_len": 40,
                "doc_stride": 12,
                "top_k": 4,
            }
        },
        {"kwargs": {"question": QUESTIONS, "context": long_context, "max_seq_len": 64, "doc_stride": 20}},
        {"args": [[{"question": q, "context": SHORT} for q in QUESTIONS]], "kwargs": {"top_k": 2}},
    ]
    (want,) = tf457.run([{"task": "question-answering", "model": bert_qa_dir, "calls": calls}])
    for batch_size in (1, 8):
        qa = mt.pipeline("question-answering", model=bert_qa_dir, batch_size=batch_size)
        for call, ref in zip(calls, want):
            assert_same(qa(*call.get("args", []), **call["kwargs"]), ref)


def _seq2seq_calls(texts):
    return [
        {"args": [texts[0]], "kwargs": {"max_new_tokens": 8}},
        {"args": [texts], "kwargs": {"max_new_tokens": 8, "num_beams": 1}},
        {"args": [texts], "kwargs": {"max_new_tokens": 6, "num_beams": 3, "num_return_sequences": 2}},
        {"args": [texts[:1]], "kwargs": {}},  # the pipeline's defaults: 4 beams, the model's lengths
        # transformers' NoRepeatNGramLogitsProcessor, greedy and in beam search (random models repeat a lot)
        {"args": [texts], "kwargs": {"max_new_tokens": 12, "num_beams": 1, "no_repeat_ngram_size": 2}},
        {"args": [texts], "kwargs": {"max_new_tokens": 12, "num_beams": 3, "no_repeat_ngram_size": 1}},
    ]


@pytest.mark.parametrize("fixture", ["t5_dir", "marian_dir"])
def test_text2text_translation_summarization(fixture, request):
    d = request.getfixturevalue(fixture)
    texts = sentences(5, seed=3, lo=2, hi=9)
    tasks = ["text2text-generation", "summarization", "translation_en_to_fr"]
    jobs = [{"task": t, "model": d, "calls": _seq2seq_calls(texts)} for t in tasks]
    if fixture == "t5_dir":  # plain "translation" picks T5's translation_xx_to_yy parameters and prefix
        jobs.append({"task": "translation", "model": d, "calls": _seq2seq_calls(texts)})
    want = tf457.run(jobs)
    for job, ref in zip(jobs, want):
        for batch_size in (1, 4):
            pipe = mt.pipeline(job["task"], model=d, batch_size=batch_size)
            for call, r in zip(job["calls"], ref):
                assert_same(pipe(*call["args"], **call["kwargs"]), r)
    # the n-gram calls must exercise the ban: without it the same texts come out different
    pipe = mt.pipeline("text2text-generation", model=d)
    for call in _seq2seq_calls(texts)[-2:]:
        plain = {k: v for k, v in call["kwargs"].items() if k != "no_repeat_ngram_size"}
        assert pipe(*call["args"], **plain) != pipe(*call["args"], **call["kwargs"])


def test_tasks_v5_kept_also_match_v457(bert_cls_dir, bert_ner_dir, bert_mlm_dir):
    """The in-process tests compare with transformers 5; the issue's reference is 4.57, so check it agrees too."""
    texts = sentences(6, seed=13, lo=2, hi=9)
    jobs = [
        {
            "task": "text-classification",
            "model": bert_cls_dir,
            "calls": [{"args": [texts]}, {"args": [texts], "kwargs": {"top_k": None}}],
        },
        {
            "task": "token-classification",
            "model": bert_ner_dir,
            "calls": [
                {"args": [texts], "kwargs": {"aggregation_strategy": s}}
                for s in ("none", "simple", "first", "average", "max")
            ],
        },
        {
            "task": "fill-mask",
            "model": bert_mlm_dir,
            "calls": [{"args": ["the [MASK] of the river"], "kwargs": {"top_k": 3}}],
        },
    ]
    want = tf457.run(jobs)
    for job, ref in zip(jobs, want):
        pipe = mt.pipeline(job["task"], model=job["model"], batch_size=4)
        for call, r in zip(job["calls"], ref):
            assert_same(pipe(*call["args"], **call.get("kwargs", {})), r)
