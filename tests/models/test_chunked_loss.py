"""The loss from hidden states in chunks (no full logits) equals the plain logits path: value and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import massivetext as mt
from massivetext.models import losses
from massivetext.models.losses import causal_lm_loss, linear_cross_entropy, token_loss

torch.set_num_threads(1)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(losses, "CHUNK_ELEMENTS", 7 * 37)  # several chunks, the last one ragged


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("num_items", [None, 23])
def test_linear_cross_entropy_equals_plain(small_chunks, smoothing, with_bias, num_items):
    g = torch.Generator().manual_seed(0)
    N, C, V = 45, 16, 37
    h = torch.randn(N, C, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(V, C, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(V, generator=g, dtype=torch.float64, requires_grad=True) if with_bias else None
    t = torch.randint(0, V, (N,), generator=g)
    t[::4] = -100  # ignored positions
    ref_inputs = [h, w] + ([b] if with_bias else [])
    plain = token_loss(F.linear(h, w, b), t, num_items, smoothing)
    ref = torch.autograd.grad(plain, ref_inputs)
    chunked = linear_cross_entropy(h, w, t, b, num_items, smoothing)
    got = torch.autograd.grad(chunked, ref_inputs)
    assert_close(chunked.double(), plain.double(), rtol=1e-6, atol=1e-7)
    for a, r in zip(got, ref):
        assert_close(a, r, rtol=1e-6, atol=1e-7)


def _gpt(tie: bool, pad_multiple: int = 1):
    cfg = mt.AutoConfig.for_model(
        "gpt2", vocab_size=61, n_embd=32, n_head=4, n_layer=2, n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, tie_word_embeddings=tie, mt_pad_vocab_multiple=pad_multiple,
    )  # fmt: skip
    torch.manual_seed(0)
    return mt.AutoModelForCausalLM.from_config(cfg).train()


@pytest.mark.parametrize("tie,pad", [(True, 1), (False, 1), (True, 64)])
def test_gpt_chunked_loss_same_loss_and_gradients(small_chunks, tie, pad):
    model = _gpt(tie, pad)
    x = torch.randint(0, 61, (3, 13), generator=torch.Generator().manual_seed(1))
    labels = x.clone()
    labels[0, :5] = -100
    runs = []
    for return_logits in (True, False):
        model.zero_grad(set_to_none=True)
        out = model(x, labels=labels, return_logits=return_logits)
        out.loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        runs.append((out, grads))
    (full, g_full), (chunk, g_chunk) = runs
    assert chunk.logits is None and full.logits.shape == (3, 13, 61)
    # the plain path shifts the labels: check that against a hand-written shift
    ref = F.cross_entropy(full.logits[:, :-1].reshape(-1, 61), labels[:, 1:].reshape(-1), ignore_index=-100)
    assert_close(full.loss, ref)
    assert_close(chunk.loss, full.loss, rtol=1e-6, atol=1e-6)
    assert g_chunk.keys() == g_full.keys() and "transformer.wte.weight" in g_chunk
    for name in g_full:  # embeddings/head (tied or not), and every layer below the hidden states
        assert_close(g_chunk[name], g_full[name], rtol=1e-5, atol=1e-6, msg=name)
    if not tie:
        assert "lm_head.weight" in g_chunk


def test_gpt_chunked_with_shift_labels_and_num_items(small_chunks):
    model = _gpt(True)
    x = torch.randint(0, 61, (2, 9), generator=torch.Generator().manual_seed(2))
    shift = F.pad(x[:, 1:], (0, 1), value=-100)
    full = model(x, shift_labels=shift, num_items_in_batch=40).loss
    chunk = model(x, shift_labels=shift, num_items_in_batch=40, return_logits=False).loss
    assert_close(chunk, full, rtol=1e-6, atol=1e-6)


def test_bf16_autocast_close_to_plain():
    model = _gpt(True)
    x = torch.randint(0, 61, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        full = model(x, labels=x).loss
        chunk = model(x, labels=x, return_logits=False).loss
    fp32 = model(x, labels=x).loss
    assert abs(chunk.item() - full.item()) < 2e-2 and abs(chunk.item() - fp32.item()) < 3e-2


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_masked_lm_chunked_same_loss_and_gradients(small_chunks, family):
    cfg = mt.AutoConfig.for_model(
        family, vocab_size=53, hidden_size=32, num_attention_heads=4, num_hidden_layers=1, intermediate_size=40,
        max_position_embeddings=40, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = mt.AutoModelForMaskedLM.from_config(cfg).train()
    x = torch.randint(5, 53, (2, 11), generator=torch.Generator().manual_seed(4))
    labels = torch.full_like(x, -100)
    labels[:, ::3] = x[:, ::3]
    runs = []
    for return_logits in (True, False):
        model.zero_grad(set_to_none=True)
        out = model(x, labels=labels, return_logits=return_logits)
        out.loss.backward()
        runs.append((out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (l_full, g_full), (l_chunk, g_chunk) = runs
    assert_close(l_chunk, l_full, rtol=1e-6, atol=1e-6)
    assert g_chunk.keys() == g_full.keys()
    for name in g_full:  # the tied word embeddings and the output bias included
        assert_close(g_chunk[name], g_full[name], rtol=1e-5, atol=1e-6, msg=name)


def test_causal_lm_loss_reference_unchanged():
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1))
    assert_close(causal_lm_loss(logits, labels), ref)
