"""Dropout for CPU training that keeps one byte per element for backward instead of a float noise tensor.

On CPU, ``F.dropout`` draws a float noise tensor (Bernoulli), divides it by 1 - p, multiplies, and keeps the float
noise alive until backward; ``F.scaled_dot_product_attention`` with ``dropout_p > 0`` leaves its fused kernel for the
math path, which keeps three (B, H, T, T) float tensors per layer (the probabilities, the noise and the dropped
probabilities). Here the kept elements are a boolean mask drawn from 32 random bits each (p is rounded to a multiple
of 2^-32, far below float32's resolution of p), the scale 1 / (1 - p) is applied in float32 on a smaller tensor where
possible, and backward keeps the mask and recomputes what it needs. Same expectation and variance as ``F.dropout``;
the masks themselves differ from torch's (another random stream), so seeded runs reproduce themselves, not torch's
dropout pattern. CUDA keeps torch's fused kernels (``native_dropout``, flash attention with dropout); under
torch.compile inductor's own dropout is traced instead (its masks are generated and fused in the compiled kernels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Boolean tensor, each element True with probability 1 - p, drawn from torch's generator for ``device``.

    Full-range 64-bit draws viewed as int32 pairs: two uniform 32-bit numbers per draw (``random_()`` on int32 would
    give 31 bits from one draw each). Drop when the number falls in the lowest round(p * 2^32) of the 2^32 values.
    """
    n = math.prod(shape)
    bits = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_(-(2**63), None)
    threshold = round(p * 2**32) - 2**31
    return bits.view(torch.int32)[:n].view(shape) >= threshold


def _use_fast(x: torch.Tensor, p: float, training: bool) -> bool:
    # under torch.compile torch's own dropout: inductor draws and fuses its masks (the in-place draw here would
    # break the graph at every dropout)
    return training and p > 0 and x.device.type == "cpu" and not torch.compiler.is_compiling()


class _DropoutAdd(torch.autograd.Function):
    """``residual + dropout(y, p)`` with the scale applied in float32 and one bool mask kept."""

    @staticmethod
    def forward(ctx, residual, y, p: float):  # type: ignore[override]
        keep = keep_mask(y.shape, p, y.device)
        scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        ctx.scale, ctx.y_dtype = scale, y.dtype
        return torch.add(residual, y * keep, alpha=scale)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (keep,) = ctx.saved_tensors
        grad_y = (grad * keep).mul_(ctx.scale).to(ctx.y_dtype) if ctx.needs_input_grad[1] else None
        return grad, grad_y, None


def dropout_add(residual: torch.Tensor, y: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``residual + F.dropout(y, p, training)``; on CPU while training one fused-memory pass with a bool mask."""
    if not _use_fast(y, p, training):
        return residual + (F.dropout(y, p, True) if training and p > 0 else y)
    return _DropoutAdd.apply(residual, y, p)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, p: float):  # type: ignore[override]
        keep = keep_mask(x.shape, p, x.device)
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return (x * keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (keep,) = ctx.saved_tensors
        return (grad * keep).mul_(ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout(x, p, training)``, keeping a bool mask for backward on CPU."""
    if not _use_fast(x, p, training):
        return F.dropout(x, p, True) if training and p > 0 else x
    return _Dropout.apply(x, p)


class _DropoutAttention(torch.autograd.Function):
    """softmax(q k^T * scale + mask) with dropout, times v: SDPA's math path (float32 throughout, as torch runs it on
    CPU for bf16 inputs too), keeping the probabilities and a bool mask instead of three float (B, H, T, T) tensors.
    The dropout scale is applied to the (B, H, T, D) output rather than the (B, H, T, T) probabilities."""

    @staticmethod
    def forward(ctx, q, k, v, allowed, scale: float, p: float):  # type: ignore[override]
        ct = torch.promote_types(q.dtype, torch.float32)  # bf16 in, float32 math (float64 stays float64)
        qf, kf, vf = q.to(ct), k.to(ct), v.to(ct)
        scores = torch.matmul(qf, kf.transpose(-2, -1)).mul_(scale)
        scores.masked_fill_(~allowed, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        del scores
        keep = keep_mask(probs.shape, p, probs.device)
        drop_scale = 1.0 / (1.0 - p)
        out = torch.matmul(probs * keep, vf).mul_(drop_scale)
        ctx.save_for_backward(q, k, v, probs, keep)
        ctx.scale, ctx.drop_scale = scale, drop_scale
        return out.to(q.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        q, k, v, probs, keep = ctx.saved_tensors
        ct = probs.dtype
        g = grad.to(ct) * ctx.drop_scale  # the dropout scale, on the small tensor (never in place: grad is shared)
        dropped = probs * keep
        grad_v = torch.matmul(dropped.transpose(-2, -1), g)
        del dropped
        grad_p = torch.matmul(g, v.to(ct).transpose(-2, -1)).mul_(keep)
        grad_s = torch._softmax_backward_data(grad_p, probs, -1, ct)
        del grad_p
        grad_q = torch.matmul(grad_s, k.to(ct)).mul_(ctx.scale)
        grad_k = torch.matmul(grad_s.transpose(-2, -1), q.to(ct)).mul_(ctx.scale)
        return grad_q.to(q.dtype), grad_k.to(k.dtype), grad_v.to(v.dtype), None, None, None


def _causal(t_q: int, t_k: int, device: torch.device) -> torch.Tensor:
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril()  # top-left aligned, as SDPA


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    attn_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    scale: float,
    training: bool,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` with a bool ``attn_mask`` (True = may attend) or ``is_causal``; with
    dropout on CPU while training it runs the lean math path above, else torch's SDPA."""
    p = dropout_p if training else 0.0
    if not _use_fast(q, p, training) or (attn_mask is not None and attn_mask.dtype != torch.bool):
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=p, is_causal=is_causal, scale=scale
        )
    if attn_mask is None:
        allowed = _causal(q.shape[-2], k.shape[-2], q.device) if is_causal else torch.ones((), dtype=torch.bool)
    else:
        allowed = attn_mask
    with torch.autocast(q.device.type, enabled=False):
        return _DropoutAttention.apply(q, k, v, allowed, scale, p)
