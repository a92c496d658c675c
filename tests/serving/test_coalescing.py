"""Coalesced streams say exactly what token-by-token streams say.

The engine process merges a request's events between flushes (``--stream-interval-ms``) and a lone greedy request
runs several decode steps per scheduler pass; both must keep ``model.generate``'s tokens and text, true usage,
the right finish reason, stop strings cut where token-by-token decoding cuts them, and one logprob per token."""

from __future__ import annotations

import pickle
import threading

import pytest
import torch
from _serving_tiny import Server, reference

from massivetext.serving.engine import ChoiceDelta, EngineConfig, EngineOutput, SamplingParams, merge_output
from massivetext.serving.engine_process import _ChildEngine, _unpack
from peers import require

openai = require("openai")

PROMPT = "a model that serves text"
HOURS_MS = 3_600_000.0  # an interval no test outlasts: everything between a first token and an end merges


def _child_run(tiny_model, interval_ms: float, requests: list[tuple[str, SamplingParams]]) -> list[list[EngineOutput]]:
    """Run the requests together through the engine process's engine (in this process; messages pickled as on the
    pipe) and return each request's events in the order they left."""
    model, tok = tiny_model
    events: dict[str, list[EngineOutput]] = {}
    done = threading.Semaphore(0)

    def send(msg: tuple) -> None:
        msg = pickle.loads(pickle.dumps(msg))
        if msg[0] == "events":
            for packed in msg[1]:
                event = _unpack(packed)
                events.setdefault(event.request_id, []).append(event)
                if event.finished:
                    done.release()

    engine = _ChildEngine(model, tok, EngineConfig(max_batch_size=4, stream_interval_ms=interval_ms), send)
    try:
        for i, (prompt, params) in enumerate(requests):
            engine.submit(tok.encode(prompt), params, engine.collect, f"r{i}")
        for _ in requests:
            assert done.acquire(timeout=60)
    finally:
        engine.shutdown(0)
    return [events[f"r{i}"] for i in range(len(requests))]


def _generate(tiny_model, prompt: str, n: int) -> tuple[list[int], str]:
    """``n`` new tokens of greedy ``model.generate`` (EOS not special: the engine requests set ignore_eos)."""
    model, tok = tiny_model
    ids = tok.encode(prompt)
    out = model.generate(torch.tensor([ids]), max_new_tokens=n, eos_token_id=None)[0, len(ids) :].tolist()
    return out, tok.decode(out, skip_special_tokens=True)


def _joined(events: list[EngineOutput], index: int = 0) -> tuple[list[int], str, list, str | None]:
    ids, text, lps, reason = [], "", [], None
    for e in events:
        for c in e.choices:
            if c.index == index:
                ids += c.token_ids
                text += c.text
                lps += c.logprobs or []
                reason = c.finish_reason or reason
    return ids, text, lps, reason


def test_a_lone_greedy_stream_merges_into_few_events_with_generates_tokens(tiny_model):
    params = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
    ref_ids, ref_text = _generate(tiny_model, PROMPT, 40)
    (merged,) = _child_run(tiny_model, HOURS_MS, [(PROMPT, params)])
    (single,) = _child_run(tiny_model, 0.0, [(PROMPT, params)])
    assert len(single) == 40  # interval 0: one event per token
    # the first token leaves alone and at once (time to first token); the other 39 come as one run
    assert [len(e.choices[0].token_ids) for e in merged] == [1, 39]
    for events in (merged, single):
        ids, text, _, reason = _joined(events)
        assert ids == ref_ids and text == ref_text and reason == "length"
        assert events[-1].finished and not any(e.finished for e in events[:-1])
        assert events[-1].completion_tokens == 40 and events[-1].prompt_tokens == len(tiny_model[1].encode(PROMPT))


@pytest.mark.parametrize("logprobs", [None, 2], ids=["multi-step", "per-step-merged"])
def test_a_stop_string_cuts_a_merged_run_where_token_by_token_decoding_does(tiny_model, logprobs):
    _, tok = tiny_model
    ref_ids, ref_text = _generate(tiny_model, PROMPT, 40)
    stop = ref_text[10:13]
    expected = ref_text[: ref_text.index(stop)]
    # the token whose text completes the stop string is the last one generated
    cut = next(n for n in range(1, 41) if stop in tok.decode(ref_ids[:n], skip_special_tokens=True))
    params = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True, stop=[stop], logprobs=logprobs)
    (merged,) = _child_run(tiny_model, HOURS_MS, [(PROMPT, params)])
    (single,) = _child_run(tiny_model, 0.0, [(PROMPT, params)])
    assert len(merged) < cut <= len(single)
    for events in (merged, single):
        ids, text, lps, reason = _joined(events)
        assert text == expected and reason == "stop"
        assert ids == ref_ids[:cut] and events[-1].completion_tokens == cut
        if logprobs is not None:
            assert [lp.token_id for lp in lps] == ids
    if logprobs is not None:  # merging changes no number
        assert [(a.logprob, a.top) for a in _joined(merged)[2]] == [(b.logprob, b.top) for b in _joined(single)[2]]


def test_requests_in_one_batch_each_get_their_own_merged_stream(tiny_model):
    prompts = ["the quick brown fox", "hello world, my email", PROMPT]
    lengths = [30, 7, 22]
    requests = [(p, SamplingParams(max_tokens=n, temperature=0, ignore_eos=True)) for p, n in zip(prompts, lengths)]
    sampled = SamplingParams(max_tokens=15, temperature=0.9, seed=5, n=2, ignore_eos=True)
    results = _child_run(tiny_model, HOURS_MS, [*requests, ("the lazy dog. a", sampled)])
    for (p, n), events in zip(zip(prompts, lengths), results):
        ids, text, _, reason = _joined(events)
        assert (ids, text) == _generate(tiny_model, p, n) and reason == "length"
        assert events[-1].completion_tokens == n
    events = results[-1]
    assert events[-1].completion_tokens == 30
    for index in (0, 1):  # n=2: each choice's deltas merge under its own index
        ids, text, _, reason = _joined(events, index)
        assert len(ids) == 15 and reason == "length"
        assert text == tiny_model[1].decode(ids, skip_special_tokens=True)


def test_merge_output_concatenates_and_keeps_the_latest_state():
    a = EngineOutput("r", [ChoiceDelta(0, "he", [1]), ChoiceDelta(1, "x", [7])], False, 3, 2)
    b = EngineOutput("r", [ChoiceDelta(0, "llo", [2, 3], None, "stop")], False, 3, 4)
    c = EngineOutput("r", [ChoiceDelta(1, "", [], None, "abort")], True, 3, 4)
    merge_output(a, b)
    merge_output(a, c)
    assert [(d.index, d.text, d.token_ids, d.finish_reason) for d in a.choices] == [
        (0, "hello", [1, 2, 3], "stop"),
        (1, "x", [7], "abort"),
    ]
    assert a.finished and a.completion_tokens == 4 and a.prompt_tokens == 3


@pytest.fixture(scope="module")
def slow_stream_server(tiny_dir, tmp_path_factory):
    s = Server(tiny_dir, "--stream-interval-ms", str(HOURS_MS), log=tmp_path_factory.mktemp("log") / "server.log")
    yield s
    s.stop()


def test_merged_chunks_through_the_openai_client(slow_stream_server, tiny_model, tiny_dir):
    """Multi-token chunks on the wire: the official client joins them into generate's text; one logprob per token,
    offsets counted from the start of the text; usage true; chat too."""
    model, tok = tiny_model
    c = openai.OpenAI(base_url=slow_stream_server.url + "/v1", api_key="x", max_retries=0, timeout=60)
    ref_ids, ref_text = reference(tiny_model, PROMPT, 30)
    for logprobs in (None, 1):
        stream = c.completions.create(
            model=tiny_dir.name,
            prompt=PROMPT,
            max_tokens=30,
            temperature=0,
            stream=True,
            logprobs=logprobs,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        parts = [ch.choices[0] for ch in chunks if ch.choices]
        assert len(parts) < len(ref_ids)  # tokens did share chunks
        assert "".join(p.text for p in parts) == ref_text
        assert chunks[-1].usage.completion_tokens == len(ref_ids)
        assert parts[-1].finish_reason == ("stop" if ref_ids[-1] == model.config.eos_token_id else "length")
        if logprobs is not None:
            tokens = [t for p in parts for t in p.logprobs.tokens]
            offsets = [o for p in parts for o in p.logprobs.text_offset]
            assert tokens == [tok.decode([t]) for t in ref_ids]
            assert offsets == [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    messages = [{"role": "user", "content": "the quick brown fox"}]
    ids = tok.encode("<|user|>the quick brown fox<|endoftext|><|assistant|>")
    out = model.generate(torch.tensor([ids]), max_new_tokens=20)[0, len(ids) :].tolist()
    out = out[: out.index(0) + 1] if 0 in out else out
    stream = c.chat.completions.create(
        model=tiny_dir.name, messages=messages, max_tokens=20, temperature=0, stream=True
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
    assert text == tok.decode(out, skip_special_tokens=True)
