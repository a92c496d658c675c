"""Input forms (one item, list, generator, datasets.Dataset streaming back in order) and 8 threads calling one
pipeline, which must give the sequential results."""

from __future__ import annotations

import types
from concurrent.futures import ThreadPoolExecutor

import datasets
from pipeline_helpers import assert_same, sentences

import massivetext as mt

TEXTS = sentences(40, seed=9, lo=1, hi=10)


def test_generator_and_dataset_stream_in_order(bert_cls_dir):
    clf = mt.pipeline("text-classification", model=bert_cls_dir, batch_size=3)
    want = clf(TEXTS, top_k=None)
    out = clf((t for t in TEXTS), top_k=None)
    assert isinstance(out, types.GeneratorType)
    assert_same(list(out), want)
    ds = datasets.Dataset.from_dict({"text": TEXTS, "id": list(range(len(TEXTS)))})
    assert_same(list(clf(ds, top_k=None)), want)


def test_qa_dataset_rows(bert_qa_dir):
    qa = mt.pipeline("question-answering", model=bert_qa_dir)
    rows = [{"question": "who walked?", "context": t} for t in TEXTS[:6]]
    assert_same(list(qa(datasets.Dataset.from_list(rows))), [qa(r) for r in rows])


def test_eight_threads_equal_sequential(bert_cls_dir, bert_ner_dir, bert_qa_dir):
    clf = mt.pipeline("text-classification", model=bert_cls_dir, batch_size=4)
    ner = mt.pipeline("ner", model=bert_ner_dir, batch_size=4)
    qa = mt.pipeline("question-answering", model=bert_qa_dir, batch_size=4)
    long = " ".join(TEXTS)
    jobs = [
        (lambda i=i: clf(TEXTS[i : i + 5], top_k=None))
        if i % 3 == 0
        else (lambda i=i: ner(TEXTS[i : i + 5], aggregation_strategy="first"))
        if i % 3 == 1
        else (lambda i=i: qa(question=TEXTS[i].split()[0] + "?", context=long, max_seq_len=40, doc_stride=10, top_k=2))
        for i in range(24)
    ]
    sequential = [job() for job in jobs]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(lambda job: job(), jobs))
    assert_same(threaded, sequential)
