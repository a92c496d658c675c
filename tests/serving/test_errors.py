"""Security and back-pressure against the real server: keys, 400s in the OpenAI envelope, 413, 429, disconnects."""

from __future__ import annotations

import asyncio
import time

import httpx
import psutil
import pytest
from _serving_tiny import Server
from prometheus_client.parser import text_string_to_metric_families

KEY = "sk-test-0123456789"


@pytest.fixture(scope="module")
def keyed(tiny_dir, tmp_path_factory):
    s = Server(
        tiny_dir,
        "--max-batch-size",
        "8",
        "--max-queue",
        "64",
        "--max-body-bytes",
        "4096",
        env={"MASSIVETEXT_API_KEY": KEY},  # the key from the environment, as deployments pass it
        log=tmp_path_factory.mktemp("log") / "keyed.log",
    )
    yield s
    s.stop()


AUTH = {"Authorization": f"Bearer {KEY}"}


def assert_envelope(r: httpx.Response, status: int, retry: bool = False) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert r.headers["x-should-retry"] == ("true" if retry else "false")
    return err


def test_key_required_on_v1_routes(keyed):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}):
        r = httpx.post(keyed.url + "/v1/completions", json={"prompt": "hi"}, headers=headers)
        assert_envelope(r, 401)
        assert httpx.get(keyed.url + "/v1/models", headers=headers).status_code == 401
    # malformed body and no key: still 401 (the key is checked first)
    assert (
        httpx.post(
            keyed.url + "/v1/completions", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 401
    )
    assert httpx.get(keyed.url + "/v1/models", headers=AUTH).status_code == 200
    assert httpx.get(keyed.url + "/health").status_code == 200  # probes need no key


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "hi", "max_tokens": "many"}, "max_tokens"),
        ({"prompt": "hi", "max_tokens": -3}, "max_tokens"),
        ({"prompt": "hi", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "hi", "temperature": -1}, "temperature"),
        ({"prompt": "hi", "temperature": 1e9}, "temperature"),
        ({"prompt": "hi", "top_p": 0}, "top_p"),
        ({"prompt": "hi", "n": 0}, "n"),
        ({"prompt": "hi", "n": 10**6}, "n"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"max_tokens": 3}, "prompt"),
        ({"prompt": "hi", "stream": "yes"}, "stream"),
        ({"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"prompt": "hi", "max_tokens": 100000}, "max_tokens"),
        ({"prompt": "hi " * 600}, "prompt"),
        ({"prompt": [[1, 2, 10**7]]}, "prompt"),
        ({"prompt": "hi", "model": "not-this-one"}, "model"),
    ],
)
def test_bad_completion_requests_get_400(keyed, body, param):
    r = httpx.post(keyed.url + "/v1/completions", json=body, headers=AUTH)
    status = 404 if param == "model" else 400
    err = assert_envelope(r, status)
    assert err["param"] == param, err
    assert err["type"] == "invalid_request_error"


def test_malformed_json_and_wrong_types(keyed):
    r = httpx.post(
        keyed.url + "/v1/completions", content=b'{"prompt": "hi",', headers={**AUTH, "content-type": "application/json"}
    )
    assert "JSON" in assert_envelope(r, 400)["message"]
    r = httpx.post(keyed.url + "/v1/chat/completions", json={"messages": "hello"}, headers=AUTH)
    assert assert_envelope(r, 400)["param"] == "messages"
    r = httpx.post(
        keyed.url + "/v1/chat/completions", json={"messages": [{"role": "wizard", "content": "x"}]}, headers=AUTH
    )
    assert_envelope(r, 400)
    r = httpx.post(keyed.url + "/v1/embeddings", json={"input": None}, headers=AUTH)
    assert_envelope(r, 400)
    assert_envelope(httpx.get(keyed.url + "/v1/nothing", headers=AUTH), 404)


def test_body_over_the_limit_gets_413(keyed):
    r = httpx.post(keyed.url + "/v1/completions", json={"prompt": "x" * 10_000}, headers=AUTH)
    assert assert_envelope(r, 413)["code"] == "request_too_large"

    def chunks():  # no content-length: the limit holds while the body streams in
        for _ in range(10):
            yield b" " * 1000

    r = httpx.post(
        keyed.url + "/v1/completions", content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert_envelope(r, 413)


def _metric(url: str, name: str) -> float:
    text = httpx.get(url + "/metrics").text
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and not s.labels:
                return s.value
    raise KeyError(name)


def test_disconnect_frees_the_slot_at_once(keyed):
    before = _metric(keyed.url, "massivetext_generation_tokens_total")
    body = {"prompt": "hello", "max_tokens": 480, "ignore_eos": True, "stream": True, "temperature": 0}
    with httpx.stream("POST", keyed.url + "/v1/completions", json=body, headers=AUTH, timeout=30) as r:
        lines = r.iter_lines()
        seen = 0
        for line in lines:
            seen += line.startswith("data: ")
            if seen >= 3:
                break
    # the connection is closed: the engine must stop generating for it
    deadline = time.monotonic() + 10
    while _metric(keyed.url, "massivetext_running_sequences") != 0:
        assert time.monotonic() < deadline, "slot still busy after the client left"
        time.sleep(0.02)
    generated = _metric(keyed.url, "massivetext_generation_tokens_total") - before
    time.sleep(0.3)
    assert _metric(keyed.url, "massivetext_generation_tokens_total") - before == generated
    assert 3 <= generated < 480


def test_burst_of_200_with_queue_of_64(keyed):
    proc = psutil.Process(keyed.proc.pid)
    rss_before = proc.memory_info().rss
    body = {"prompt": "the quick brown fox", "max_tokens": 150, "ignore_eos": True, "temperature": 0}

    async def main():
        limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
        async with httpx.AsyncClient(limits=limits, timeout=120, headers=AUTH) as c:
            return await asyncio.wait_for(
                asyncio.gather(*(c.post(keyed.url + "/v1/completions", json=body) for _ in range(200))), 180
            )

    responses = asyncio.run(main())
    codes = [r.status_code for r in responses]
    served, rejected = codes.count(200), codes.count(429)
    assert served + rejected == 200, sorted(set(codes))
    assert served >= 64 and rejected >= 1
    for r in responses:
        if r.status_code == 429:
            assert_envelope(r, 429, retry=True)
            assert int(r.headers["retry-after"]) >= 1
        else:
            assert r.json()["usage"]["completion_tokens"] == 150
    assert _metric(keyed.url, "massivetext_queue_depth") == 0
    assert _metric(keyed.url, "massivetext_running_sequences") == 0
    # the KV cache is preallocated: a burst leaves no lasting growth
    assert proc.memory_info().rss < rss_before + 64 * 2**20


def test_disconnect_of_a_plain_request_frees_its_slots(keyed):
    before = _metric(keyed.url, "massivetext_generation_tokens_total")
    body = {"prompt": "hello", "max_tokens": 480, "n": 4, "ignore_eos": True, "temperature": 0}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
        httpx.post(keyed.url + "/v1/completions", json=body, headers=AUTH, timeout=httpx.Timeout(10, read=0.3))
    deadline = time.monotonic() + 10
    while _metric(keyed.url, "massivetext_running_sequences") != 0:
        assert time.monotonic() < deadline, "slots still busy after the client left"
        time.sleep(0.02)
    generated = _metric(keyed.url, "massivetext_generation_tokens_total") - before
    assert generated < 4 * 480
