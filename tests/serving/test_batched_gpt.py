"""The engine's model calls: slot prefill + per-row-position decode give the logits of a full forward pass, through
MKL's matmuls and through oneDNN's prepacked weights alike."""

from __future__ import annotations

import copy

import pytest
import torch

from massivetext.serving.batched_gpt import _ONEDNN, BatchedGPT

PROMPTS = ["the quick brown fox", "a", "hello world, my email is", "continuous batching keeps", "Ünïcödé text"]


def _setup(tiny_model, packed: bool, slots: int = 8):
    model, tok = tiny_model
    runner = BatchedGPT(model, slots, 128)
    if not packed:
        runner.packed = None
    prompts = [tok.encode(p) for p in PROMPTS]
    first = runner.prefill(prompts, [4, 0, 2, 1, 3])  # slots out of order: rows 0..4 of the decode below
    order = [1, 3, 2, 4, 0]  # slot s holds prompts[order[s]]
    prompts = [prompts[j] for j in order]
    first = first[torch.tensor(order)]
    # one more token per row, each at its own position (the prompts differ in length)
    nxt = [(7 * i + 11) % model.config.vocab_size for i in range(len(prompts))]
    positions = [len(p) for p in prompts]
    return model, runner, prompts, nxt, positions, first


def _step(runner, nxt, positions, rows: int) -> torch.Tensor:
    pos = positions[:rows]
    return runner.decode(
        torch.tensor(nxt[:rows]), torch.tensor(pos), max(pos) + 1, min(pos) < max(pos), before_head=None
    )


def _reference(model, prompts, nxt) -> torch.Tensor:
    with torch.inference_mode():
        return torch.stack([model(torch.tensor([p + [t]])).logits[0, -1] for p, t in zip(prompts, nxt)])


def test_prefill_and_decode_at_mixed_positions_equal_a_full_forward_pass(tiny_model):
    for packed in (True, False):
        model, runner, prompts, nxt, positions, first = _setup(tiny_model, packed)
        with torch.inference_mode():
            ref_first = torch.stack([model(torch.tensor([p])).logits[0, -1] for p in prompts])
        torch.testing.assert_close(first, ref_first, atol=2e-5, rtol=1e-5, msg=f"prefill, packed={packed}")
        ref = _reference(model, prompts, nxt)
        for rows in (1, len(prompts)):  # B = 1 and B > 1 take different paths
            logits = _step(runner, nxt, positions, rows)
            assert logits.shape == (rows, model.config.vocab_size)
            torch.testing.assert_close(logits, ref[:rows], atol=2e-5, rtol=1e-5, msg=f"packed={packed}, {rows} rows")
            assert torch.equal(logits.argmax(-1), ref[:rows].argmax(-1))


def test_a_cpu_float32_gpt2_gets_the_packed_weights(tiny_model):
    if _ONEDNN is None or not torch.backends.mkldnn.is_available():
        pytest.skip("this torch has no oneDNN: the engine uses MKL's matmuls (the test above covers that path)")
    runner = BatchedGPT(tiny_model[0], 4, 64)
    assert runner.packed is not None and len(runner.packed.layers) == tiny_model[0].config.n_layer
    assert BatchedGPT(copy.deepcopy(tiny_model[0]).double(), 4, 64).packed is None  # anything else: MKL's path


def test_a_lone_request_takes_generates_one_row_step_with_the_same_bits(tiny_model):
    """At one running slot ``decode`` takes ``_lean_decode_one`` (views, one copy per key/value); it must give the
    general step's logits bit for bit and leave the same keys and values in the cache, over several steps."""
    model, tok = tiny_model
    prompt = tok.encode(PROMPTS[0])
    one, general = BatchedGPT(model, 4, 64), BatchedGPT(model, 4, 64)
    assert one.lean is not None
    with torch.inference_mode():
        t1 = t2 = one.prefill([prompt], [0]).argmax(-1)
        general.prefill([prompt], [0])
        calls = []
        real = one._lean_decode_one
        one._lean_decode_one = lambda *a: calls.append(1) or real(*a)
        for pos in range(len(prompt), len(prompt) + 5):
            a = one.decode(t1, torch.tensor([pos]), pos + 1, False)
            p = torch.tensor([pos])
            where = ((general._slot_heads[:1] + p[:, None]).view(-1), general.head_dim)
            b = general._lean_decode(t2, p, where, pos + 1, None, None)
            assert torch.equal(a, b)
            t1, t2 = a.argmax(-1), b.argmax(-1)
    assert len(calls) == 5
    assert torch.equal(one.k_cache, general.k_cache) and torch.equal(one.v_cache, general.v_cache)
