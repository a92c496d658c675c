"""The engine alone (no HTTP): continuous batching keeps generate's tokens, requests join and leave mid-batch."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from _serving_tiny import reference

from massivetext.serving.engine import Engine, EngineConfig, QueueFull, RequestRejected, SamplingParams


class Collector:
    def __init__(self):
        self.tokens: dict[int, list[int]] = {}
        self.text: dict[int, str] = {}
        self.reasons: dict[int, str] = {}
        self.events = []
        self.done = threading.Event()
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.error = None

    def __call__(self, ev):
        self.events.append(ev)
        if ev.error is not None:
            self.error = ev.error
        for c in ev.choices:
            if c.token_ids and self.first_at is None:
                self.first_at = time.monotonic()
            self.tokens.setdefault(c.index, []).extend(c.token_ids)
            self.text[c.index] = self.text.get(c.index, "") + c.text
            if c.finish_reason:
                self.reasons[c.index] = c.finish_reason
        if ev.finished:
            self.last_at = time.monotonic()
            self.done.set()


@pytest.fixture
def engine(tiny_model):
    model, tok = tiny_model
    e = Engine(model, tok, EngineConfig(max_batch_size=4, max_queue=8, max_prefill_tokens=64))
    yield e
    e.shutdown(0)


def test_requests_join_and_leave_a_running_batch(engine, tiny_model):
    """More requests than slots, different lengths, staggered arrival: every greedy output equals generate's."""
    model, tok = tiny_model
    prompts = ["the quick brown fox", "a", "hello world, my email is", "continuous batching", "Ünïcödé", "lazy"]
    lengths = [30, 5, 17, 40, 12, 25]
    cols = []
    for i, (p, n) in enumerate(zip(prompts, lengths)):
        col = Collector()
        engine.submit(tok.encode(p), SamplingParams(max_tokens=n, temperature=0), col)
        cols.append(col)
        if i == 2:
            time.sleep(0.05)  # later requests arrive while the first ones decode
    for p, n, col in zip(prompts, lengths, cols):
        assert col.done.wait(60)
        ids, text = reference(tiny_model, p, n)
        assert col.tokens[0] == ids and col.text[0] == text


def test_first_token_comes_before_the_longest_request_ends(engine, tiny_model):
    _, tok = tiny_model
    long = Collector()
    engine.submit(tok.encode("the"), SamplingParams(max_tokens=400, temperature=0, ignore_eos=True), long)
    while long.first_at is None:
        time.sleep(0.001)
    short = Collector()
    engine.submit(tok.encode("hello"), SamplingParams(max_tokens=3, temperature=0, ignore_eos=True), short)
    assert short.done.wait(30) and long.done.wait(60)
    # the short request joined the running batch and finished while the long one was still generating
    assert short.last_at < long.last_at
    assert len(long.tokens[0]) == 400 and len(short.tokens[0]) == 3


def test_sampling_with_seed_matches_generate_even_in_a_busy_batch(engine, tiny_model):
    _, tok = tiny_model
    busy = [Collector() for _ in range(3)]
    for i, c in enumerate(busy):
        engine.submit(tok.encode("hello"), SamplingParams(max_tokens=50, temperature=1.0, seed=i), c)
    col = Collector()
    params = SamplingParams(max_tokens=25, temperature=0.8, top_p=0.95, seed=99, ignore_eos=True)
    engine.submit(tok.encode("the quick brown fox"), params, col)
    assert col.done.wait(30)
    ids, _ = reference(
        tiny_model,
        "the quick brown fox",
        25,
        do_sample=True,
        temperature=0.8,
        top_p=0.95,
        eos_token_id=None,
        generator=torch.Generator().manual_seed(99),
    )
    assert col.tokens[0] == ids
    for c in busy:
        assert c.done.wait(30)


def test_validation_and_queue_limit(engine, tiny_model):
    _, tok = tiny_model
    with pytest.raises(RequestRejected, match="context"):
        engine.submit(tok.encode("hi"), SamplingParams(max_tokens=10_000), Collector())
    with pytest.raises(RequestRejected):
        engine.submit([], SamplingParams(), Collector())
    cols = [Collector() for _ in range(8)]
    handles = [
        engine.submit(tok.encode("hi"), SamplingParams(max_tokens=300, ignore_eos=True, temperature=0), c) for c in cols
    ]
    with pytest.raises(QueueFull):
        engine.submit(tok.encode("hi"), SamplingParams(max_tokens=3), Collector())
    for h in handles:
        h.cancel()
    deadline = time.monotonic() + 10
    while engine.held or engine.running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    ok = Collector()
    engine.submit(tok.encode("hi"), SamplingParams(max_tokens=3, temperature=0), ok)  # room again
    assert ok.done.wait(10)


def test_a_request_that_fails_in_the_model_does_not_fail_the_others(tiny_model, monkeypatch):
    model, tok = tiny_model
    engine = Engine(model, tok, EngineConfig(max_batch_size=4, max_queue=8))
    poison = 7
    real = engine.runner.prefill

    def prefill(prompts, slots):
        if any(poison in p for p in prompts):
            raise RuntimeError("boom inside the model")
        return real(prompts, slots)

    monkeypatch.setattr(engine.runner, "prefill", prefill)
    try:
        bad, good = Collector(), Collector()
        # queued together, so they share one prefill batch
        with engine._cv:
            engine.submit([poison, 8, 9], SamplingParams(max_tokens=5, temperature=0), bad)
            engine.submit(tok.encode("the quick"), SamplingParams(max_tokens=5, temperature=0), good)
        assert bad.done.wait(10) and good.done.wait(10)
        assert isinstance(bad.error, RuntimeError)
        assert good.error is None and good.tokens[0] == reference(tiny_model, "the quick", 5)[0]
        assert engine.held == 0
    finally:
        engine.shutdown(0)


def test_presence_and_frequency_penalties_follow_openai(engine, tiny_model):
    """Against a plain loop over full forward passes: logit -= count * frequency + (count > 0) * presence."""
    model, tok = tiny_model
    ids = tok.encode("the quick brown fox")
    col = Collector()
    params = SamplingParams(max_tokens=20, temperature=0, ignore_eos=True, presence_penalty=0.7, frequency_penalty=1.3)
    engine.submit(ids, params, col)
    assert col.done.wait(30)
    seq, new = list(ids), []
    with torch.no_grad():
        for _ in range(20):
            logits = model(torch.tensor([seq])).logits[0, -1].float()
            counts = torch.bincount(torch.tensor(new, dtype=torch.long), minlength=logits.shape[0]).float()
            logits = logits - counts * 1.3 - (counts > 0).float() * 0.7
            nxt = int(logits.argmax())
            seq.append(nxt)
            new.append(nxt)
    assert col.tokens[0] == new
    assert new != reference(tiny_model, "the quick brown fox", 20)[0]  # the penalties changed the output


def test_modern_gpt_switches_decode_like_generate(tiny_model):
    """Rotary positions, RMSNorm, SwiGLU, no biases: the module path of the batched decode, rows at mixed positions."""
    from massivetext.models.config import GPTConfig
    from massivetext.models.gpt import GPTForCausalLM

    _, tok = tiny_model
    torch.manual_seed(0)
    cfg = GPTConfig(
        vocab_size=len(tok),
        n_positions=128,
        n_embd=64,
        n_layer=2,
        n_head=4,
        eos_token_id=0,
        bos_token_id=0,
        mt_rotary=True,
        mt_rmsnorm=True,
        mt_swiglu=True,
        mt_bias=False,
        initializer_range=0.3,
    )
    model = GPTForCausalLM(cfg).eval()
    engine = Engine(model, tok, EngineConfig(max_batch_size=4, max_queue=8))
    assert engine.runner.lean is None  # the general path is the one under test
    try:
        prompts = ["the quick brown fox", "a", "hello world, my"]
        cols = [Collector() for _ in prompts]
        for p, c in zip(prompts, cols):
            engine.submit(tok.encode(p), SamplingParams(max_tokens=20, temperature=0), c)
        for p, c in zip(prompts, cols):
            assert c.done.wait(30)
            ids = tok.encode(p)
            out = model.generate(torch.tensor([ids]), max_new_tokens=20)[0, len(ids) :].tolist()
            if 0 in out:
                out = out[: out.index(0) + 1]
            assert c.tokens[0] == out
    finally:
        engine.shutdown(0)
