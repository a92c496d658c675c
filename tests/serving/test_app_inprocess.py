"""``create_app`` embedded in-process (FastAPI's TestClient): faults inside the model, a tokenizer without a chat
template, readiness."""

from __future__ import annotations

import json
import time

import pytest
from _serving_tiny import make_tiny_gpt2, reference
from fastapi.testclient import TestClient

import massivetext as mt
from massivetext.serving import create_app


def wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 60
    while client.get("/health").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_no_chat_template_is_a_400_that_says_so(tmp_path):
    d = make_tiny_gpt2(tmp_path / "plain", chat_template=False, n_positions=64)
    with TestClient(create_app(d)) as client:
        wait_ready(client)
        r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 400
        err = r.json()["error"]
        assert "chat template" in err["message"] and err["code"] == "no_chat_template"
        assert r.headers["x-should-retry"] == "false"
        assert client.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2}).status_code == 200


def test_exception_inside_the_model_is_a_500_and_the_server_keeps_serving(tiny_dir, tiny_model, monkeypatch):
    model, tok = tiny_model
    app = create_app(model=model, tokenizer=tok, served_model_name="m")
    with TestClient(app) as client:
        wait_ready(client)
        runner = app.state.server.engine.runner
        real = runner.prefill

        def prefill(prompts, slots):
            if any(p[:1] == [5] for p in prompts):
                raise RuntimeError("CUDA error: device-side assert triggered (simulated)")
            return real(prompts, slots)

        monkeypatch.setattr(runner, "prefill", prefill)
        r = client.post("/v1/completions", json={"prompt": [5, 6, 7], "max_tokens": 3})
        assert r.status_code == 500
        err = r.json()["error"]
        assert err["type"] == "server_error" and "simulated" in err["message"]
        ok = client.post("/v1/completions", json={"prompt": "the quick", "max_tokens": 6, "temperature": 0})
        assert ok.status_code == 200
        assert ok.json()["choices"][0]["text"] == reference(tiny_model, "the quick", 6)[1]
        # streamed: the error arrives in the stream (headers are already sent), then [DONE]
        with client.stream("POST", "/v1/completions", json={"prompt": [5, 6], "max_tokens": 3, "stream": True}) as s:
            body = s.read().decode()
        assert '"error"' in body and body.endswith("data: [DONE]\n\n")


def test_health_waits_for_the_model(tiny_dir, monkeypatch):
    from massivetext.serving import state as state_mod

    real = state_mod.ServerState._load

    def slow(self):
        time.sleep(0.5)
        real(self)

    monkeypatch.setattr(state_mod.ServerState, "_load", slow)
    with TestClient(create_app(tiny_dir)) as client:
        r = client.get("/health")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        r = client.post("/v1/completions", json={"prompt": "hi"})
        assert r.status_code == 503 and r.headers["x-should-retry"] == "true"
        wait_ready(client)
        assert client.get("/health").json()["status"] == "ok"


SAID = "mail me at jane.doe@example.com or +44 20 7946 0958 thanks, bye"


def test_redact_pii_in_generated_text(tiny_model):
    """Generated text that holds an e-mail and a phone number, arriving a few characters per token (so matches
    straddle stream chunks): what leaves the server has them replaced, streamed or not."""
    model, tok = tiny_model

    class Parrot:
        """A tokenizer whose decode of n generated tokens is the first 6n characters of a text with PII."""

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def decode(self, ids, skip_special_tokens=False):
            return SAID[: 6 * len(ids)]

    app = create_app(model=model, tokenizer=Parrot(tok), served_model_name="m", redact_pii=True)
    with TestClient(app) as client:
        wait_ready(client)
        body = {"prompt": [3, 4], "max_tokens": 12, "temperature": 0, "ignore_eos": True}
        r = client.post("/v1/completions", json=body)
        expected = "mail me at <EMAIL> or <PHONE> thanks, bye"
        assert r.json()["choices"][0]["text"] == expected
        with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as s:
            chunks = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {")]
        assert "".join(c["choices"][0]["text"] for c in chunks) == expected


def test_create_app_rejects_unknown_options():
    with pytest.raises(TypeError, match="unexpected option"):
        create_app("x", max_batch=3)


def test_public_names():
    assert mt.serve is __import__("massivetext.serving.server", fromlist=["serve"]).serve
