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

Mixtures: with ``weights={"web": 0.48, "books": 0.27, ...}`` (sources tagged at encoding, see ``encode_corpus``)
each source is its own stream of windows (windows never cross sources) and items are drawn from the sources in
those proportions (``mixture.py``): in blocks of ``MIX_BLOCK`` items whose per-source counts follow the weights to
within one item, shuffled inside the block by the seed, so any run of 10,000 items is within a fraction of a point
of the weights. A source consumed faster than its size is repeated (a new seeded permutation per pass);
``source_epochs()`` says how many passes each has had. The order is a pure function of (seed, position), so the
usual ``state_dict`` resumes it exactly. An "epoch" of a mixture is as many items as all sources have windows.

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
        weights: dict[str, float] | None = None,
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
        entries = self.index["splits"][split]["shards"]
        self.files = [self.directory / s["file"] for s in entries]
        sizes = []
        for f in self.files:
            if not f.is_file():
                raise MissingFileError(f"{f}: shard listed in index.json is missing")
            sizes.append(read_header(f)[1])
        self.offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.n_tokens = int(self.offsets[-1])
        self.n_windows = max(0, (self.n_tokens - 1) // block_size)
        self.weights = None
        self.mixture = None
        if weights is not None:
            from massivetext.tokenization.mixture import Mixture

            self.mixture = Mixture.build(directory, entries, sizes, weights, block_size, seed, shuffle)
            self.weights = self.mixture.weights
            self.n_windows = self.mixture.n_windows
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
        return self._span(self._shards(), self.offsets, w * self.block_size, w * self.block_size + self.block_size + 1)

    @staticmethod
    def _span(maps: list[np.ndarray], offsets: np.ndarray, start: int, end: int) -> np.ndarray:
        """Tokens ``[start, end)`` of the concatenation of ``maps`` whose start offsets are ``offsets``."""
        first = int(np.searchsorted(offsets, start, side="right")) - 1
        pieces, pos, s = [], start, first
        while pos < end:
            lo = pos - int(offsets[s])
            hi = min(end, int(offsets[s + 1])) - int(offsets[s])
            pieces.append(maps[s][lo:hi])
            pos += hi - lo
            s += 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def source_epochs(self) -> dict[str, float]:
        """Passes made over each source's windows up to the current position (a mixture only; a value above 1
        means the source has been repeated)."""
        if self.mixture is None:
            raise ConfigError("source_epochs() needs a mixture: TokenShards(..., weights={...})")
        return self.mixture.epochs_at(self._global(self.epoch, self.position))

    def realised_mixture(self) -> dict[str, float]:
        """Share of the items served so far (this rank's and the others') that came from each source."""
        if self.mixture is None:
            raise ConfigError("realised_mixture() needs a mixture: TokenShards(..., weights={...})")
        counts = self.mixture.counts_at(self._global(self.epoch, self.position))
        total = sum(counts.values()) or 1
        return {k: v / total for k, v in counts.items()}

    def _global(self, epoch: int, i: int) -> int:
        """Position in the mixture's one endless sequence of item ``i`` of this rank's ``epoch``."""
        return (epoch * len(self) + i) * self.world_size + self.rank

    def __getitem__(self, i: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, i = (self.epoch, i) if isinstance(i, (int, np.integer)) else i
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range for {len(self)} items")
        if self.mixture is not None:
            win = self.mixture.window(self._shards(), self._global(epoch, i))
        else:
            win = self.window(int(self.order(epoch)[i]))
        tokens = torch.from_numpy(win.astype(np.int64))
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
            **({"weights": self.weights, "source_epochs": self.source_epochs()} if self.mixture else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "shuffle", "block_size", "world_size", "split", "weights"):
            if key == "weights" and key not in state and self.weights is None:
                continue
            if (key in state or key == "weights") and state.get(key) != getattr(self, key):
                raise ConfigError(
                    f"cannot resume: saved {key}={state.get(key)!r} but this dataset has {getattr(self, key)!r}"
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
