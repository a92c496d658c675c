"""Perplexity of a causal LM on token data: the exponential of the mean next-token loss over all predicted tokens.

Accepts a token-shard directory (read with `TokenShards`), a dataset of `input_ids` (+ optional `shift_labels` or
`labels`, -100 ignored), or a list of token lists. The loss is computed here from the logits, so any model that
returns `.logits` works (MassiveText or transformers).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F

from massivetext.training.collators import DataCollatorForLanguageModeling
from massivetext.training.data import count_items


def perplexity(
    model: torch.nn.Module,
    dataset_or_shards: Any,
    *,
    batch_size: int = 8,
    block_size: int | None = None,
    split: str = "val",
    max_batches: int | None = None,
    device: str | torch.device | None = None,
    tokenizer: Any = None,
) -> dict[str, float]:
    """`{"loss", "perplexity", "tokens"}` of `model` on the data (a shard directory reads `split`)."""
    data = dataset_or_shards
    if isinstance(data, (str, os.PathLike)):
        from massivetext.tokenization.shards import TokenShards

        config = getattr(model, "config", None)
        size = block_size or getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 1024)
        data = TokenShards(str(data), block_size=int(size), split=split, shuffle=False)
    elif isinstance(data, list) and data and isinstance(data[0], list):
        data = [{"input_ids": ids} for ids in data]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch_size, shuffle=False, collate_fn=DataCollatorForLanguageModeling(tokenizer, mlm=False)
    )
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            logits = model(**inputs).logits.float()
            if "shift_labels" in batch:
                targets = batch["shift_labels"].to(device)
            else:
                logits, targets = logits[:, :-1], batch["labels"][:, 1:].to(device)
            total += (
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum"
                )
                .double()
                .cpu()
            )
            count += int(count_items(batch, causal=True))
    model.train(was_training)
    loss = float(total / max(count, 1))
    return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf"), "tokens": count}
