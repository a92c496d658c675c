"""The task routes: same JSON as the pipelines (against transformers' pipelines where transformers 5 still has the
task, else against mt.pipeline, whose parity with transformers 4.57 tests/pipelines proves), batched across
requests."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from peers import require

transformers = require("transformers")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from fastapi.testclient import TestClient  # noqa: E402
from pipeline_helpers import (  # noqa: E402
    LABELS_NER,
    _peaked,
    assert_same,
    bert_config,
    save,
    sentences,
    seq2seq_tokenizer,
    tiny_t5,
    wordpiece_tokenizer,
)

import massivetext as mt  # noqa: E402
from massivetext.serving import create_app  # noqa: E402

TEXTS = sentences(6, seed=3, lo=2, hi=12)


@pytest.fixture(scope="module")
def bert_tok():
    return wordpiece_tokenizer()


def _dir(tmp_path_factory, name, model, tok):
    return save(model, tok, tmp_path_factory.mktemp(name))


@pytest.fixture(scope="module")
def cls_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(0)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    cfg = bert_config(bert_tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    return _dir(tmp_path_factory, "cls", _peaked(transformers.BertForSequenceClassification(cfg)), bert_tok)


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(0)
    labels = dict(enumerate(LABELS_NER))
    cfg = bert_config(bert_tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    return _dir(tmp_path_factory, "ner", _peaked(transformers.BertForTokenClassification(cfg), std=1.0), bert_tok)


@pytest.fixture(scope="module")
def mlm_dir(tmp_path_factory, bert_tok):
    torch.manual_seed(0)
    return _dir(tmp_path_factory, "mlm", transformers.BertForMaskedLM(bert_config(bert_tok)), bert_tok)


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    tok = seq2seq_tokenizer()
    torch.manual_seed(0)
    return _dir(tmp_path_factory, "t5", tiny_t5(tok), tok)


def ready(client):
    deadline = time.monotonic() + 60
    while client.get("/health").status_code != 200:
        assert client.get("/health").json().get("status") != "error", client.get("/health").json()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return client


def hf(task, d):
    return transformers.pipeline(task, model=d, tokenizer=d)


def test_classify_equals_transformers(cls_dir):
    ref = hf("text-classification", cls_dir)
    with TestClient(create_app(cls_dir)) as c:
        ready(c)
        assert_same(c.post("/v1/classify", json={"inputs": TEXTS}).json(), ref(TEXTS))
        r = c.post("/v1/classify", json={"inputs": TEXTS[0], "parameters": {"top_k": None}})
        assert_same(r.json(), ref(TEXTS[0], top_k=None))
        # a route the model cannot serve, an unknown parameter, a wrong input: 400s in the envelope
        assert c.post("/v1/ner", json={"inputs": "x"}).status_code == 400
        assert c.post("/v1/completions", json={"prompt": "x"}).status_code == 400
        bad = c.post("/v1/classify", json={"inputs": "x", "parameters": {"nonsense": 1}})
        assert bad.status_code == 400 and bad.json()["error"]["message"]
        assert c.post("/v1/classify", json={"inputs": [None]}).status_code == 400


def test_ner_equals_transformers(ner_dir):
    ref = hf("token-classification", ner_dir)
    text = "Alice visited the castle of Krakow with Bob yesterday"
    with TestClient(create_app(ner_dir, task="ner")) as c:
        ready(c)
        for strategy in ("none", "simple", "first"):
            r = c.post("/v1/ner", json={"inputs": [text, TEXTS[1]], "parameters": {"aggregation_strategy": strategy}})
            assert_same(r.json(), ref([text, TEXTS[1]], aggregation_strategy=strategy))


def test_fill_mask_equals_transformers(mlm_dir):
    ref = hf("fill-mask", mlm_dir)
    text = "alice visited the [MASK] of paris"
    with TestClient(create_app(mlm_dir)) as c:
        ready(c)
        assert_same(
            c.post("/v1/fill-mask", json={"inputs": text, "parameters": {"top_k": 3}}).json(), ref(text, top_k=3)
        )


def test_summarize_and_translate_equal_the_pipeline(t5_dir):
    texts = ["the river crossed the valley", "Alice visited Paris"]
    summ = mt.pipeline("summarization", model=t5_dir)
    trans = mt.pipeline("translation_en_to_fr", model=t5_dir)
    with TestClient(create_app(t5_dir, task="summarization")) as c:
        ready(c)
        assert c.post("/v1/summarize", json={"inputs": texts}).json() == summ(texts)
    with TestClient(create_app(t5_dir, task="translation_en_to_fr")) as c:
        ready(c)
        assert c.post("/v1/translate", json={"inputs": texts[0]}).json() == trans(texts[0])


def test_requests_are_batched_together(cls_dir, monkeypatch):
    app = create_app(cls_dir)
    with TestClient(app) as c:
        ready(c)
        state = app.state.server
        pipe = state.pipeline
        calls = []
        real = pipe.iter_results

        def counting(items, **kw):
            calls.append(len(items))
            return real(items, **kw)

        monkeypatch.setattr(pipe, "iter_results", counting)
        gate, holding = threading.Event(), threading.Event()

        def hold(items):
            holding.set()
            return [gate.wait(150)]

        # Keep the worker busy, and wait until it really is: a worker that has not yet taken the "hold" job would
        # take it together with the classify requests queued so far and run those as a smaller batch (the cause
        # of this test's rare failures under load).
        state.engine.submit_job("hold", hold, None)
        assert holding.wait(60)
        with ThreadPoolExecutor(8) as ex:
            futures = [ex.submit(c.post, "/v1/classify", json={"inputs": t}) for t in TEXTS]
            deadline = time.monotonic() + 120
            while sum(len(v) for v in state.engine.jobs.values()) < len(TEXTS):  # all six queued behind "hold"
                assert time.monotonic() < deadline
                time.sleep(0.01)
            gate.set()
            results = [f.result().json() for f in futures]
        assert calls == [len(TEXTS)]  # one batched call for six requests
        ref = hf("text-classification", cls_dir)
        for t, r in zip(TEXTS, results):
            assert_same(r, ref(t))
