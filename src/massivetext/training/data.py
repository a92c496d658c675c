"""Getting examples to the Trainer: the resumable rank-aware batch sampler, task detection, the loss interface.

The sampler draws one permutation per epoch from (seed, epoch) alone, cuts it into global batches of
`per_device_batch_size * world_size` and gives each rank its slice, so that:
  - each rank reads only its own examples;
  - 2 ranks x batch B see exactly the examples 1 rank x batch 2B sees (same losses within float tolerance);
  - resuming needs only (epoch, micro-batches consumed): the skipped batches are never loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch
from torch.utils.data import IterableDataset


class RankBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of indices for one rank; an epoch is fully determined by (seed, epoch)."""

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
        skip_batches: int = 0,
        drop_last: bool = False,
    ):
        self.n, self.bs, self.rank, self.world = num_examples, batch_size, rank, world_size
        self.shuffle, self.seed, self.epoch, self.skip = shuffle, seed, epoch, skip_batches
        self.drop_last = drop_last  # training under DDP drops an incomplete global batch (same steps on every rank)

    @property
    def global_batch(self) -> int:
        return self.bs * self.world

    def num_batches(self) -> int:
        full, rest = divmod(self.n, self.global_batch)
        return full + (1 if rest and not self.drop_last else 0)

    def __len__(self) -> int:
        return max(0, self.num_batches() - self.skip)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        for b in range(self.skip, self.num_batches()):
            chunk = order[b * self.global_batch : (b + 1) * self.global_batch]
            per_rank = -(-len(chunk) // self.world)  # an incomplete last batch (1 rank, or eval) splits evenly
            mine = chunk[self.rank * per_rank : (self.rank + 1) * per_rank]
            if len(mine):
                yield mine.tolist()


def is_iterable(dataset: Any) -> bool:
    return isinstance(dataset, IterableDataset) or (
        not hasattr(dataset, "__getitem__") and hasattr(dataset, "__iter__")
    )


def model_type_flags(model: torch.nn.Module) -> dict[str, bool]:
    """What kind of model this is, from its class name and config (works for MassiveText and transformers)."""
    name = type(model).__name__
    config = getattr(model, "config", None)
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    causal = bool(getattr(model, "is_causal_lm", False)) or (
        not enc_dec and ("CausalLM" in name or "LMHead" in name or ("GPT" in name and "Classification" not in name))
    )
    masked = "MaskedLM" in name or "ForPreTraining" in name
    return {"causal": causal and not masked, "masked": masked, "seq2seq": enc_dec}


class ForwardSignature(NamedTuple):
    params: set[str]  # the forward's named parameters
    var_kw: bool  # it also takes **kwargs
    honours_num_items: bool  # its loss is sum / num_items_in_batch when given that count (and takes shift_labels)


def forward_signature(model: torch.nn.Module) -> ForwardSignature:
    """What the model's forward takes, and whether its loss honours `num_items_in_batch`, asked of the model.

    In order: a forward that names `num_items_in_batch` honours it (every MassiveText model does); a model that says
    so with transformers' `accepts_loss_kwargs` attribute is believed; otherwise a forward with `**kwargs` honours it
    when its code calls `self.loss_function` (transformers' shared loss, which takes `num_items_in_batch`), read from
    the compiled function's attribute names, not its source text. transformers' own fallback (any `**kwargs` means
    yes) would be wrong for T5 and BERT, which take `**kwargs` but average their own `CrossEntropyLoss()` per batch:
    for those the Trainer rescales the batch mean instead.
    """
    params = inspect.signature(model.forward).parameters
    names = {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
    declared = getattr(model, "accepts_loss_kwargs", None)
    if "num_items_in_batch" in names:
        honours = True
    elif isinstance(declared, bool):
        honours = declared and var_kw
    else:
        code = getattr(inspect.unwrap(type(model).forward), "__code__", None)
        honours = var_kw and code is not None and "loss_function" in code.co_names
    return ForwardSignature(names, var_kw, honours)


def count_items(batch: dict[str, torch.Tensor], causal: bool) -> torch.Tensor:
    """How many predictions this batch's loss averages over (the denominator of the token-mean loss)."""
    if "shift_labels" in batch:
        return (batch["shift_labels"] != -100).sum()
    labels = batch.get("labels")
    if labels is None:
        return torch.tensor(0)
    if labels.dim() >= 2:
        return (labels[:, 1:] != -100).sum() if causal else (labels != -100).sum()
    return torch.tensor(labels.shape[0])
