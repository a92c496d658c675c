"""The evaluation loop shared by `Trainer.evaluate` and `Trainer.predict`.

The loss is the mean over every predicted token of the whole eval set (sums and counts all-reduced over ranks), so
it does not depend on the batch size, the padding or the number of processes; perplexity is its exponential.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist

from massivetext.training.data import count_items


class EvalPrediction(NamedTuple):
    predictions: np.ndarray
    label_ids: np.ndarray | None


class PredictionOutput(NamedTuple):
    predictions: np.ndarray
    label_ids: np.ndarray | None
    metrics: dict[str, float]


def eval_loop(
    trainer: Any, dataset: Any, prefix: str, keep_predictions: bool
) -> tuple[dict[str, float], np.ndarray | None, np.ndarray | None]:
    """Loss summed over predicted tokens on every rank, then divided by their total count (all ranks)."""
    model = trainer.model
    was_training = model.training
    model.eval()
    loader = trainer._loader(dataset, trainer.args.per_device_eval_batch_size, shuffle=False)
    loss_sum = torch.zeros((), dtype=torch.float64, device=trainer.device)
    items = torch.zeros((), dtype=torch.float64, device=trainer.device)
    preds, labels = [], []
    start, n_examples = time.perf_counter(), 0
    with torch.no_grad():
        for raw in loader:
            batch = trainer._to_device(raw)
            n = count_items(batch, trainer.flags["causal"]).to(trainer.device)
            n_examples += len(next(iter(batch.values())))
            with trainer._autocast():
                if n > 0:
                    loss, out = trainer.compute_loss(model, batch, n.clamp(min=1))
                    loss_sum += loss.double() * n
                    items += n
                else:
                    out = model(**trainer._model_inputs(batch))
            if keep_predictions:
                logits = out.logits if hasattr(out, "logits") else out["logits"]
                preds.append(logits.float().cpu().numpy())
                lab = batch.get("labels", batch.get("shift_labels"))
                labels.append(lab.cpu().numpy() if lab is not None else None)
    if was_training:
        model.train()
    if trainer.world_size > 1:
        dist.all_reduce(loss_sum)
        dist.all_reduce(items)
    metrics: dict[str, float] = {}
    if items > 0:
        loss = float(loss_sum / items)
        metrics[f"{prefix}_loss"] = loss
        metrics[f"{prefix}_perplexity"] = math.exp(loss) if loss < 700 else float("inf")
    runtime = time.perf_counter() - start
    metrics[f"{prefix}_runtime"] = runtime
    metrics[f"{prefix}_samples_per_second"] = n_examples * trainer.world_size / max(runtime, 1e-9)
    pred_arr = label_arr = None
    if keep_predictions:
        if trainer.world_size > 1:
            gathered: list = [None] * trainer.world_size
            dist.all_gather_object(gathered, (preds, labels))
            preds = [p for g in gathered for p in g[0]]
            labels = [x for g in gathered for x in g[1]]
        pred_arr = _concat_padded(preds)
        label_arr = _concat_padded(labels) if labels and labels[0] is not None else None
        if trainer.compute_metrics is not None and label_arr is not None:
            extra = trainer.compute_metrics(EvalPrediction(pred_arr, label_arr))
            metrics.update({k if k.startswith(prefix) else f"{prefix}_{k}": float(v) for k, v in extra.items()})
    return metrics, pred_arr, label_arr


def _concat_padded(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along the batch axis, padding other axes with -100 where lengths differ."""
    if not arrays:
        return np.zeros((0,))
    if all(a.shape[1:] == arrays[0].shape[1:] for a in arrays):
        return np.concatenate(arrays)
    shape = [max(a.shape[d] for a in arrays) for d in range(1, arrays[0].ndim)]
    out = np.full((sum(len(a) for a in arrays), *shape), -100, dtype=arrays[0].dtype)
    row = 0
    for a in arrays:
        out[(slice(row, row + len(a)), *(slice(0, s) for s in a.shape[1:]))] = a
        row += len(a)
    return out
