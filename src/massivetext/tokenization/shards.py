"""``TokenShards``: a PyTorch dataset of fixed-length training windows over memory-mapped token shards.

A split (``train`` or ``val``) is the concatenation of its shards in ``index.json`` order. Window ``w`` is the
``block_size + 1`` tokens starting at ``w * block_size`` (consecutive windows share one token, so every token is a
target exactly once per epoch); an item is ``{"input_ids": window[:-1], "shift_labels": window[1:]}`` as LongTensors
(``shift_labels`` are already-shifted targets, the convention the models and the trainer share).

Order: per epoch, a permutation of the windows seeded by ``(seed, epoch)`` (or the natural order with
``shuffle=False``); rank ``r`` of ``world_size`` takes positions ``r, r + world_size, ...`` of that order, cut to the
same length on every rank, so ranks never overlap and all step together.

It is a map-style dataset: ``ds[i]`` is the ``i``-th item of this rank's current epoch, so a plain
``DataLoader(ds, batch_size=...)`` (with any ``num_workers``) walks the epoch in order. The position (epoch, index)
is saved with ``state_dict()`` and restored with ``load_state_dict()``:

- iterating ``ds`` directly, or through ``ds.dataloader(batch_size, ...)``, advances the position as items are
  *consumed* (not when a worker prefetches them), so ``state_dict()`` at any step resumes at exactly the next window;
- with your own ``DataLoader``, pass ``sampler=ds.sampler()`` (it starts at the saved position and carries the epoch
  to the workers) and call ``ds.advance(n_items)`` after each step.

The pieces of the file format live in ``shard_format.py``; ``encode_corpus`` (``encode.py``) writes the shards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from massivetext.errors import ConfigError, MissingFileError
from massivetext.tokenization.encode import encode_corpus
from massivetext.tokenization.shard_format import TokenShardWriter, open_shard, read_header

__all__ = ["TokenShards", "TokenShardWriter", "ResumableSampler", "encode_corpus", "read_index"]


def read_index(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / "index.json"
    if not path.is_file():
        raise MissingFileError(
            f"{directory}: no index.json here (write token shards with `massivetext tokenize encode`)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


class TokenShards(Dataset):
    """Windows of ``block_size + 1`` tokens from the ``split`` shards of an encoded corpus directory."""

    def __init__(
        self,
        directory: str | os.PathLike,
        block_size: int,
        split: str = "train",
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if block_size < 1:
            raise ConfigError(f"block_size must be positive, got {block_size}")
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not in [0, world_size={world_size})")
        self.directory = Path(directory)
        self.index = read_index(directory)
        if split not in self.index["splits"]:
            raise ConfigError(f"{directory}: no split {split!r} (have {sorted(self.index['splits'])})")
        self.block_size, self.split, self.shuffle, self.seed = block_size, split, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.files = [self.directory / s["file"] for s in self.index["splits"][split]["shards"]]
        sizes = []
        for f in self.files:
            if not f.is_file():
                raise MissingFileError(f"{f}: shard listed in index.json is missing")
            sizes.append(read_header(f)[1])
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.n_tokens = int(self.offsets[-1])
        self.n_windows = max(0, (self.n_tokens - 1) // block_size)
        if self.n_windows < world_size:
            raise ConfigError(
                f"{directory}: split {split!r} has {self.n_tokens} tokens, too few for {world_size} window(s) of "
                f"{block_size + 1}"
                + ("; encode with a val fraction > 0" if split == "val" and not self.n_tokens else "")
            )
        self.epoch = 0
        self.position = 0  # items of this rank's current epoch already consumed
        self._maps: list[np.ndarray] | None = None
        self._order_cache: tuple[int, np.ndarray] | None = None

    # --------------------------------------------------------------- order
    def __len__(self) -> int:
        return self.n_windows // self.world_size

    def order(self, epoch: int) -> np.ndarray:
        """Window numbers of this rank for ``epoch``, in the order they are served."""
        if self._order_cache is not None and self._order_cache[0] == epoch:
            return self._order_cache[1]
        if self.shuffle:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
        else:
            perm = np.arange(self.n_windows)
        mine = perm[self.rank :: self.world_size][: len(self)]
        self._order_cache = (epoch, mine)
        return mine

    # --------------------------------------------------------------- items
    def _shards(self) -> list[np.ndarray]:
        if self._maps is None:  # opened lazily: once per DataLoader worker process
            self._maps = [open_shard(f) for f in self.files]
        return self._maps

    def window(self, w: int) -> np.ndarray:
        """Tokens ``[w * block_size, w * block_size + block_size + 1)`` of the split (may span shards)."""
        start, end = w * self.block_size, w * self.block_size + self.block_size + 1
        maps = self._shards()
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        pieces, pos, s = [], start, first
        while pos < end:
            lo = pos - int(self.offsets[s])
            hi = min(end, int(self.offsets[s + 1])) - int(self.offsets[s])
            pieces.append(maps[s][lo:hi])
            pos += hi - lo
            s += 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def __getitem__(self, i: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, i = (self.epoch, i) if isinstance(i, (int, np.integer)) else i
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range for {len(self)} items")
        tokens = torch.from_numpy(self.window(int(self.order(epoch)[i])).astype(np.int64))
        return {"input_ids": tokens[:-1], "shift_labels": tokens[1:]}

    def __getstate__(self) -> dict[str, Any]:  # memory maps are reopened in each worker
        return {**self.__dict__, "_maps": None, "_order_cache": None}

    # --------------------------------------------------------------- position
    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.position = epoch, 0

    def advance(self, n_items: int) -> None:
        """Mark ``n_items`` more items as consumed; rolls into the next epoch at the end of one."""
        self.position += n_items
        while self.position >= len(self):
            self.position -= len(self)
            self.epoch += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "index": self.position,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "block_size": self.block_size,
            "rank": self.rank,
            "world_size": self.world_size,
            "split": self.split,
            "tokenizer_sha256": self.index.get("tokenizer_sha256"),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "shuffle", "block_size", "world_size", "split"):
            if key in state and state[key] != getattr(self, key):
                raise ConfigError(
                    f"cannot resume: saved {key}={state[key]!r} but this dataset has {getattr(self, key)!r}"
                )
        self.epoch, self.position = int(state["epoch"]), int(state["index"])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        """The rest of the current epoch, advancing the position as each item is taken."""
        epoch = self.epoch
        while self.epoch == epoch:
            item = self[(epoch, self.position)]
            self.advance(1)
            yield item

    def sampler(self) -> ResumableSampler:
        return ResumableSampler(self)

    def dataloader(self, batch_size: int, **kwargs: Any) -> Iterator[dict[str, torch.Tensor]]:
        """Batches of the rest of the current epoch through a ``DataLoader``; the position advances per batch
        *consumed*, so ``state_dict()`` between steps is exact whatever ``num_workers`` and prefetching do."""
        loader = DataLoader(self, batch_size=batch_size, sampler=self.sampler(), **kwargs)
        for batch in loader:
            n = len(batch["input_ids"])
            self.advance(n)
            yield batch


class ResumableSampler(Sampler):
    """Yields ``(epoch, i)`` for the rest of the dataset's current epoch (from its saved position)."""

    def __init__(self, dataset: TokenShards):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset) - self.dataset.position

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, start = self.dataset.epoch, self.dataset.position
        return ((epoch, i) for i in range(start, len(self.dataset)))
