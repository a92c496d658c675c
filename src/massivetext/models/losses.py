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
