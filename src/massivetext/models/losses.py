"""Token losses shared by the heads: -100 ignored, sum / num_items_in_batch when the Trainer gives it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def token_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_items_in_batch: int | torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy over all positions; the mean over non-ignored targets, or their sum / num_items_in_batch.

    The sum form lets a Trainer take the mean over every predicted token of a whole accumulation window.
    """
    logits = logits.reshape(-1, logits.size(-1)).float()  # float32 softmax: bf16 logits lose the tail
    targets = targets.reshape(-1).to(logits.device)
    if num_items_in_batch is None:
        return F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing)
    total = F.cross_entropy(
        logits, targets, ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing, reduction="sum"
    )
    if isinstance(num_items_in_batch, torch.Tensor):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    shift_labels: torch.Tensor | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Next-token loss: ``labels`` unshifted (position t predicts labels[t+1]), or ``shift_labels`` used as is."""
    if shift_labels is None:
        # pad one ignored target at the end instead of slicing logits: no copy of the (B, T, V) tensor
        shift_labels = F.pad(labels[..., 1:], (0, 1), value=IGNORE_INDEX)
    return token_loss(logits, shift_labels, num_items_in_batch, label_smoothing)


# ---- cross-entropy straight from the hidden states: the (N, V) logits exist one chunk at a time ---------------
# At real vocabulary sizes the fp32 logits are the largest activation of a training step (batch 8 x 1,024 tokens x
# 50,257 words = 1.6 GB, kept for backward). Here each chunk of rows is projected, its loss and its gradient with
# respect to the logits are computed at once (softmax minus the smoothed one-hot: the analytic CE gradient), and
# that gradient is turned into the hidden states' and the weight's gradients before the next chunk. Backward then
# only scales the stored gradients: the same three matmuls as the plain path, no recomputation, peak memory one
# chunk of logits. (Liger-Kernel's fused linear cross-entropy does the same on GPU.)
CHUNK_ELEMENTS = 1 << 23  # logits per chunk: 32 MB in fp32, whatever the vocabulary


def _chunk_rows(rows: int, vocab: int) -> int:
    return max(1, min(rows, CHUNK_ELEMENTS // max(1, vocab)))


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, label_smoothing: float, compute_dtype):  # type: ignore[override]
        rows, vocab = hidden.shape[0], weight.shape[0]
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = bias is not None and ctx.needs_input_grad[2]
        h, w = hidden.to(compute_dtype), weight.to(compute_dtype)
        b = bias.to(compute_dtype) if bias is not None else None
        # in the projection's dtype: the matmul writes it directly (cast to the input's dtype in backward)
        grad_h = torch.empty(hidden.shape, dtype=compute_dtype, device=hidden.device) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(vocab, dtype=torch.float32, device=weight.device) if need_b else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        step = _chunk_rows(rows, vocab)
        eps = label_smoothing
        softmax_dtype = torch.promote_types(compute_dtype, torch.float32)  # bf16 logits: float32 softmax
        for start in range(0, rows, step):
            hc, tc = h[start : start + step], targets[start : start + step]
            logits = torch.addmm(b, hc, w.t()) if b is not None else hc @ w.t()
            # log_softmax in one kernel (logsumexp + subtract would be four passes and two more (rows, V) tensors)
            logp = torch.log_softmax(logits, dim=-1, dtype=softmax_dtype)
            del logits
            valid = tc != IGNORE_INDEX
            safe = tc.clamp(min=0).unsqueeze(1)
            row = -logp.gather(1, safe).squeeze(1)
            if eps:
                row = (1.0 - eps) * row - eps * logp.mean(dim=-1)
            total += (row * valid).sum()
            if need_h or need_w or need_b:
                g = logp.exp_()  # softmax, in place of the log-probabilities
                g.scatter_add_(1, safe, torch.full_like(safe, -(1.0 - eps), dtype=g.dtype))
                if eps:
                    g.sub_(eps / vocab)
                gc = g.to(compute_dtype)
                # ignored rows (-100) get no gradient: masked on the (rows, hidden) side, not over (rows, V)
                keep = valid.unsqueeze(1)
                if need_h:
                    torch.mm(gc, w, out=grad_h[start : start + step]).mul_(keep)
                if need_w:
                    grad_w.add_(gc.t() @ (hc * keep))  # float32 accumulator over the chunks
                if need_b:
                    grad_b.add_(valid.to(g.dtype) @ g)
            del logp
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        return total

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        grad_h, grad_w, grad_b = ctx.saved_tensors
        dh, dw, db = ctx.dtypes
        out_h = grad_h.to(dh) * grad_out if grad_h is not None else None
        out_w = (grad_w * grad_out).to(dw) if grad_w is not None else None
        out_b = (grad_b * grad_out).to(db) if grad_b is not None else None
        return out_h, out_w, out_b, None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    bias: torch.Tensor | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``token_loss(hidden @ weight.T + bias, targets)`` without ever holding the (N, V) logits.

    Same value and gradients as the plain path (up to float summation order); under autocast the projection runs in
    the autocast dtype and the softmax in float32, as the plain path does.
    """
    hidden = hidden.reshape(-1, hidden.shape[-1])
    targets = targets.reshape(-1).to(hidden.device)
    device_type = hidden.device.type
    dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
    with torch.autocast(device_type, enabled=False):
        total = _LinearCrossEntropy.apply(hidden, weight, bias, targets, float(label_smoothing), dtype)
    if num_items_in_batch is None:
        return total / (targets != IGNORE_INDEX).sum()  # all ignored: NaN, as F.cross_entropy's mean
    if isinstance(num_items_in_batch, torch.Tensor):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


def causal_lm_loss_from_hidden(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor | None = None,
    shift_labels: torch.Tensor | None = None,
    num_items_in_batch: int | torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """`causal_lm_loss` of ``hidden @ weight.T`` computed by `linear_cross_entropy` (no full logits)."""
    if shift_labels is None:
        shift_labels = F.pad(labels[..., 1:], (0, 1), value=IGNORE_INDEX)
    return linear_cross_entropy(hidden, weight, shift_labels, bias, num_items_in_batch, label_smoothing)
