"""The evaluation loop shared by `Trainer.evaluate` and `Trainer.predict`, and evaluation by generation.

The loss is the mean over every predicted token of the whole eval set (sums and counts all-reduced over ranks), so
it does not depend on the batch size, the padding or the number of processes; perplexity is its exponential.

The loop knows nothing of the Trainer: it is given the batches and a `step` that turns one batch into an `EvalStep`
(loss sum, token count, predictions, labels). With `predict_with_generate` the Trainer's step returns generated ids
(`generate_predictions`) instead of logits, as transformers' `Seq2SeqTrainer` does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist


class EvalPrediction(NamedTuple):
    """What `compute_metrics` receives: logits (or generated ids), and the labels (-100 where ignored)."""

    predictions: np.ndarray
    label_ids: np.ndarray | None


class PredictionOutput(NamedTuple):
    predictions: np.ndarray
    label_ids: np.ndarray | None
    metrics: dict[str, float]


class EvalStep(NamedTuple):
    loss_sum: torch.Tensor | None  # the batch's token losses summed (float64); None when it has no loss
    num_items: torch.Tensor  # how many predicted tokens (or examples) that sum covers
    predictions: torch.Tensor | None  # logits or generated ids, when kept
    labels: torch.Tensor | None


def evaluation_loop(
    batches: Iterable[dict[str, Any]],
    step: Callable[[dict[str, Any]], EvalStep],
    *,
    prefix: str,
    world_size: int = 1,
    compute_metrics: Callable[[EvalPrediction], dict[str, Any]] | None = None,
    keep_predictions: bool = False,
) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
    """Metrics (`{prefix}_loss`, `_perplexity`, timing, and `compute_metrics`'), predictions and labels."""
    loss_sum = items = None
    preds, labels = [], []
    start, n_examples = time.perf_counter(), 0
    with torch.no_grad():
        for batch in batches:
            out = step(batch)
            n_examples += len(next(iter(batch.values())))
            if out.loss_sum is not None:
                loss_sum = out.loss_sum if loss_sum is None else loss_sum + out.loss_sum
                n = out.num_items.double()
                items = n if items is None else items + n
            if keep_predictions and out.predictions is not None:
                preds.append(out.predictions.cpu().numpy())
                labels.append(out.labels.cpu().numpy() if out.labels is not None else None)
    metrics: dict[str, Any] = _loss_metrics(loss_sum, items, prefix, world_size)
    runtime = time.perf_counter() - start
    metrics[f"{prefix}_runtime"] = runtime
    metrics[f"{prefix}_samples_per_second"] = n_examples * world_size / max(runtime, 1e-9)
    pred_arr = label_arr = None
    if keep_predictions:
        if world_size > 1:
            gathered: list = [None] * world_size
            dist.all_gather_object(gathered, (preds, labels))
            preds = [p for g in gathered for p in g[0]]
            labels = [x for g in gathered for x in g[1]]
        pred_arr = concat_padded(preds)
        label_arr = concat_padded(labels) if labels and labels[0] is not None else None
        if compute_metrics is not None and label_arr is not None:
            extra = compute_metrics(EvalPrediction(pred_arr, label_arr))
            metrics.update({k if k.startswith(prefix) else f"{prefix}_{k}": _plain(v) for k, v in extra.items()})
    return metrics, pred_arr, label_arr


def _loss_metrics(loss_sum: Any, items: Any, prefix: str, world_size: int) -> dict[str, Any]:
    if world_size > 1:  # every rank takes part, with zeros when it had no loss
        dev = loss_sum.device if loss_sum is not None else None
        pair = torch.stack([
            loss_sum if loss_sum is not None else torch.zeros((), dtype=torch.float64, device=dev),
            items if items is not None else torch.zeros((), dtype=torch.float64, device=dev),
        ])  # fmt: skip
        dist.all_reduce(pair)
        loss_sum, items = pair[0], pair[1]
    if items is None or items <= 0:
        return {}
    loss = float(loss_sum / items)
    return {f"{prefix}_loss": loss, f"{prefix}_perplexity": math.exp(loss) if loss < 700 else float("inf")}


def _plain(value: Any) -> Any:
    """Numbers as floats (NumPy or torch scalars included); strings (a BLEU signature), lists and dicts as given."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float, np.generic)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        return float(value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.tolist()
    return value


def concat_padded(arrays: list[np.ndarray], pad: int = -100) -> np.ndarray:
    """Concatenate along the batch axis, padding other axes with `pad` (-100, as transformers) where lengths differ."""
    if not arrays:
        return np.zeros((0,))
    if all(a.shape[1:] == arrays[0].shape[1:] for a in arrays):
        return np.concatenate(arrays)
    shape = [max(a.shape[d] for a in arrays) for d in range(1, arrays[0].ndim)]
    out = np.full((sum(len(a) for a in arrays), *shape), pad, dtype=arrays[0].dtype)
    row = 0
    for a in arrays:
        out[(slice(row, row + len(a)), *(slice(0, s) for s in a.shape[1:]))] = a
        row += len(a)
    return out


# ---- evaluation by generation ---------------------------------------------------------------------------------
def generation_length(model: Any, max_length: int | None) -> int:
    """`generation_max_length`, else the model's generation config's `max_length`, else its config's, else 20."""
    if max_length is not None:
        return int(max_length)
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        value = source.get("max_length") if isinstance(source, dict) else getattr(source, "max_length", None)
        if value is not None:
            return int(value)
    return 20


def left_align(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move right padding to the left (a decoder-only model continues from each row's last real token)."""
    length = input_ids.shape[1]
    shift = length - attention_mask.sum(1)
    index = (torch.arange(length, device=input_ids.device)[None, :] - shift[:, None]) % length
    return input_ids.gather(1, index), attention_mask.gather(1, index)


def pad_to(tensor: torch.Tensor, length: int, value: int) -> torch.Tensor:
    """Right-pad the last axis to `length` with `value` (transformers' `_pad_tensors_to_max_len`)."""
    if tensor.shape[-1] >= length:
        return tensor
    out = tensor.new_full((*tensor.shape[:-1], length), value)
    out[..., : tensor.shape[-1]] = tensor
    return out


def generate_predictions(
    model: Any,
    batch: dict[str, Any],
    *,
    causal: bool,
    max_length: int,
    num_beams: int | None,
    pad_token_id: int,
) -> torch.Tensor:
    """Generated ids for a batch, padded with `pad_token_id` to `max_length` as Seq2SeqTrainer pads them.

    An encoder-decoder returns the decoder's ids (start token first), as `model.generate` gives them, at most
    `max_length` of them. A decoder-only model is given its rows left-aligned and generates `max_length` new tokens;
    only those are kept (the prompt is not a prediction). Seq2SeqTrainer counts the padded prompt in `max_length`
    for a decoder-only model, so a prompt's continuation there depends on the longest prompt of its batch; here it
    does not.
    """
    input_ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    if causal and mask is not None and not bool(mask[:, -1].all()):
        input_ids, mask = left_align(input_ids, mask)
    kwargs: dict[str, Any] = {"max_new_tokens" if causal else "max_length": max_length}
    if num_beams is not None:
        kwargs["num_beams"] = num_beams
    if mask is not None:
        kwargs["attention_mask"] = mask
    generated = model.generate(input_ids=input_ids, **kwargs)
    if causal:
        generated = generated[:, input_ids.shape[1] :]
    return pad_to(generated, max_length, pad_token_id)
