"""The CPU training dropout (models/dropout.py): same values and gradients as the plain formulas given the same
mask, the drop rate it promises, and the GPT using it only where it should."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import massivetext as mt
from massivetext.models import dropout as fd


@pytest.fixture
def recorded(monkeypatch):
    """Every mask keep_mask hands out, in order."""
    masks: list[torch.Tensor] = []
    real = fd.keep_mask

    def record(shape, p, device):
        m = real(shape, p, device)
        masks.append(m)
        return m

    monkeypatch.setattr(fd, "keep_mask", record)
    return masks


def test_keep_mask_rate_and_seed():
    n, p = 1 << 21, 0.1
    torch.manual_seed(0)
    a = fd.keep_mask((n,), p, torch.device("cpu"))
    torch.manual_seed(0)
    b = fd.keep_mask((n,), p, torch.device("cpu"))
    c = fd.keep_mask((n,), p, torch.device("cpu"))
    assert torch.equal(a, b) and not torch.equal(b, c)  # torch's generator: seeded runs repeat, draws differ
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs((~a).float().mean().item() - p) < 5 * sigma
    # odd sizes and other rates: all True at p=0, the rate tracked at p=0.5
    assert fd.keep_mask((3, 5), 0.0, torch.device("cpu")).all()
    half = fd.keep_mask((7, 100_001), 0.5, torch.device("cpu"))
    assert abs(half.float().mean().item() - 0.5) < 5 * math.sqrt(0.25 / half.numel())
    # neighbouring elements are independent (each 64-bit draw feeds two of them)
    pairs = a[: n // 2 * 2].view(-1, 2)
    both_dropped = (~pairs[:, 0] & ~pairs[:, 1]).float().mean().item()
    assert abs(both_dropped - p * p) < 5 * math.sqrt(p * p / pairs.shape[0])


def test_dropout_add_and_dropout_equal_the_formula(recorded):
    torch.manual_seed(1)
    p = 0.3
    x = torch.randn(4, 6, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 6, 8, dtype=torch.float64, requires_grad=True)
    out = fd.dropout_add(x, y, p, training=True)
    keep = recorded[-1].double()
    ref = x + y * keep / (1 - p)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    gx, gy = torch.autograd.grad(out, (x, y), g)
    rx, ry = torch.autograd.grad(ref, (x, y), g)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gy, ry)
    out2 = fd.dropout(y, p, training=True)
    torch.testing.assert_close(out2, y * recorded[-1].double() / (1 - p))
    torch.testing.assert_close(torch.autograd.grad(out2, y, g)[0], g * recorded[-1].double() / (1 - p))
    # eval, or p = 0: the identity, no mask drawn
    n = len(recorded)
    assert torch.equal(fd.dropout_add(x, y, p, training=False), x + y)
    assert torch.equal(fd.dropout(y, 0.0, training=True), y)
    assert len(recorded) == n


def test_dropout_add_bf16_branch_keeps_dtypes():
    x = torch.randn(64, 32)
    y = torch.randn(64, 32, dtype=torch.bfloat16, requires_grad=True)
    out = fd.dropout_add(x, y, 0.1, training=True)
    assert out.dtype == torch.float32
    out.sum().backward()
    assert y.grad.dtype == torch.bfloat16
    kept = out != x
    # kept elements carry y / 0.9 computed in float32 (F.dropout on bf16 would round the scale to bf16)
    torch.testing.assert_close((out - x)[kept], (y.detach().float() / 0.9)[kept])


def _reference_attention(q, k, v, allowed, keep, scale, p):
    s = (q @ k.transpose(-2, -1)) * scale
    s = s.masked_fill(~allowed, float("-inf"))
    return (torch.softmax(s, -1) * keep / (1 - p)) @ v


@pytest.mark.parametrize("padded", [False, True])
def test_dropout_attention_equals_the_formula(recorded, padded):
    torch.manual_seed(2)
    B, H, T, D, p, scale = 2, 3, 7, 4, 0.2, 0.37
    q, k, v = (torch.randn(B, H, T, D, dtype=torch.float64, requires_grad=True) for _ in range(3))
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    if padded:
        from massivetext.models.gpt import padding_causal_mask

        key_mask = torch.ones(B, T, dtype=torch.long)
        key_mask[0, :2] = 0  # left padding in the first row
        mask = padding_causal_mask(key_mask, T, 0)
        out = fd.attention(q, k, v, attn_mask=mask, dropout_p=p, scale=scale, training=True)
        allowed = mask
    else:
        out = fd.attention(q, k, v, is_causal=True, dropout_p=p, scale=scale, training=True)
        allowed = causal
    keep = recorded[-1].double()
    assert keep.shape == (B, H, T, T)
    ref = _reference_attention(q, k, v, allowed, keep, scale, p)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(a, b)
    # no dropout (eval): torch's SDPA itself
    ev = fd.attention(q, k, v, is_causal=True, dropout_p=p, scale=scale, training=False)
    torch.testing.assert_close(ev, F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale))


def test_dropout_attention_bf16_like_sdpa_math(recorded):
    """bf16 inputs: computed in float32 as SDPA's math path does on CPU, returned in bf16."""
    torch.manual_seed(3)
    q, k, v = (torch.randn(2, 2, 16, 8, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    out = fd.attention(q, k, v, is_causal=True, dropout_p=0.1, scale=0.35, training=True)
    assert out.dtype == torch.bfloat16
    causal = torch.ones(16, 16, dtype=torch.bool).tril()
    ref = _reference_attention(q.float(), k.float(), v.float(), causal, recorded[-1].float(), 0.35, 0.1)
    torch.testing.assert_close(out, ref.to(torch.bfloat16))
    out.float().sum().backward()
    assert q.grad.dtype == k.grad.dtype == v.grad.dtype == torch.bfloat16


def test_gpt_training_draws_the_masks_and_eval_is_unchanged(recorded):
    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    assert cfg.attn_pdrop == cfg.resid_pdrop == cfg.embd_pdrop == 0.1  # GPT-2's defaults stay
    torch.manual_seed(0)
    model = mt.AutoModelForCausalLM.from_config(cfg)
    ids = torch.randint(0, 50, (3, 16))
    model.eval()
    a = model(ids).logits
    assert not recorded
    model.train()
    torch.manual_seed(5)
    t1 = model(ids, labels=ids, return_logits=False).loss
    # embedding, then per layer: attention probabilities, attention residual, MLP residual
    assert [tuple(m.shape) for m in recorded] == [(3, 16, 16)] + [(3, 2, 16, 16), (3, 16, 16), (3, 16, 16)] * 2
    torch.manual_seed(5)
    t2 = model(ids, labels=ids, return_logits=False).loss
    assert torch.equal(t1, t2)  # seeded: the same masks
    t1.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    assert torch.equal(model(ids).logits, a)
