"""Sampling training windows from several sources by token weight (Gopher's MassiveText mixture: web 48%,
books 27%, C4 10%, news 10%, GitHub 3%, Wikipedia 2%), deterministic and resumable: item ``g`` of the endless
mixed sequence is a pure function of ``(seed, g)``.

The sequence is cut into blocks of ``MIX_BLOCK`` items. The number of items of source ``s`` among the first ``N``
is the largest-remainder apportionment of ``N`` by the weights (within one item of ``N * w_s``), so a block holds
the difference of two apportionments, and its labels are shuffled by ``(seed, block)``. The ``k``-th item drawn from
a source is window ``perm_e[k % n_s]`` of that source, ``e = k // n_s`` its pass over the source (each pass its own
seeded permutation): a small source is repeated, a large one partly seen, as in the paper.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from massivetext.errors import ConfigError

MIX_BLOCK = 4096


@dataclass
class Source:
    name: str
    shard_ids: list[int]  # indices into the dataset's shard list
    offsets: np.ndarray  # start of each shard in this source's stream, then its total
    n_windows: int


class Mixture:
    def __init__(self, sources: list[Source], weights: dict[str, float], block_size: int, seed: int, shuffle: bool):
        self.sources, self.block_size, self.seed, self.shuffle = sources, block_size, seed, shuffle
        self.weights = weights
        self.w = np.array([weights[s.name] for s in sources], dtype=np.float64)
        self.n_windows = sum(s.n_windows for s in sources)
        self.block = max(MIX_BLOCK, int(np.ceil(2.0 / self.w.min())))  # every block gives each source >= 1 item
        self._labels: tuple[int, np.ndarray, np.ndarray] | None = None
        self._perm: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def build(cls, directory: Any, entries: list[dict[str, Any]], sizes: list[int], weights: dict[str, float],
              block_size: int, seed: int, shuffle: bool) -> Mixture:  # fmt: skip
        if not weights or any(not isinstance(v, (int, float)) or v < 0 for v in weights.values()):
            raise ConfigError(f"weights must map source names to non-negative numbers, got {weights!r}")
        total = float(sum(weights.values()))
        if total <= 0:
            raise ConfigError("weights must not all be zero")
        have = sorted({e.get("source") for e in entries if e.get("source")})
        missing = [k for k, v in weights.items() if v > 0 and k not in have]
        if missing:
            raise ConfigError(
                f"{os.fspath(directory)}: no source {missing[0]!r} in index.json (sources: {have or 'none'}; tag them "
                "when encoding: `massivetext tokenize encode web=web/*.jsonl books=books/*.jsonl ...`)"
            )
        sources = []
        for name in sorted(k for k, v in weights.items() if v > 0):
            ids = [i for i, e in enumerate(entries) if e.get("source") == name]
            offsets = np.concatenate([[0], np.cumsum([sizes[i] for i in ids], dtype=np.int64)])
            n = max(0, (int(offsets[-1]) - 1) // block_size)
            if n == 0:
                raise ConfigError(f"{os.fspath(directory)}: source {name!r} has too few tokens for one window")
            sources.append(Source(name, ids, offsets, n))
        norm = {s.name: weights[s.name] / total for s in sources}
        return cls(sources, norm, block_size, seed, shuffle)

    # ------------------------------------------------------------------ counts
    def counts_before(self, n: int) -> np.ndarray:
        """Items of each source among the first ``n`` of the sequence (largest remainder, ties to the first)."""
        exact = self.w * n
        base = np.floor(exact).astype(np.int64)
        short = n - int(base.sum())
        if short > 0:
            frac = exact - base
            order = np.lexsort((np.arange(len(frac)), -frac))  # largest remainder first, then source order
            base[order[:short]] += 1
        return base

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Source label of each item of block ``b`` and, per item, how many of its source came before it in the
        block."""
        if self._labels is not None and self._labels[0] == b:
            return self._labels[1], self._labels[2]
        counts = self.counts_before((b + 1) * self.block) - self.counts_before(b * self.block)
        labels = np.repeat(np.arange(len(self.sources)), counts)
        if self.shuffle:
            labels = np.random.default_rng([self.seed, 7919, b]).permutation(labels)
        rank = np.empty(len(labels), dtype=np.int64)
        for s in range(len(self.sources)):  # a handful of sources: vectorised per source
            where = np.flatnonzero(labels == s)
            rank[where] = np.arange(len(where))
        self._labels = (b, labels, rank)
        return labels, rank

    def locate(self, g: int) -> tuple[int, int]:
        """``(source index, k)``: item ``g`` is the ``k``-th item drawn from that source."""
        b, off = divmod(g, self.block)
        labels, rank = self._block(b)
        s = int(labels[off])
        return s, int(self.counts_before(b * self.block)[s] + rank[off])

    def counts_at(self, g: int) -> dict[str, int]:
        """Items drawn from each source among the first ``g`` items."""
        b, off = divmod(g, self.block)
        c = self.counts_before(b * self.block).copy()
        if off:
            labels, _ = self._block(b)
            c += np.bincount(labels[:off], minlength=len(self.sources))
        return {s.name: int(n) for s, n in zip(self.sources, c)}

    def epochs_at(self, g: int) -> dict[str, float]:
        counts = self.counts_at(g)
        return {s.name: counts[s.name] / s.n_windows for s in self.sources}

    # ------------------------------------------------------------------ windows
    def _order(self, s: int, epoch: int) -> np.ndarray:
        key = (s, epoch)
        perm = self._perm.get(key)
        if perm is None:
            n = self.sources[s].n_windows
            perm = np.random.default_rng([self.seed, s, epoch]).permutation(n) if self.shuffle else np.arange(n)
            if len(self._perm) > 2 * len(self.sources):
                self._perm.clear()
            self._perm[key] = perm
        return perm

    def window(self, maps: list[np.ndarray], g: int) -> np.ndarray:
        s, k = self.locate(g)
        src = self.sources[s]
        epoch, pos = divmod(k, src.n_windows)
        w = int(self._order(s, epoch)[pos])
        start = w * self.block_size
        from massivetext.tokenization.shards import TokenShards

        return TokenShards._span([maps[i] for i in src.shard_ids], src.offsets, start, start + self.block_size + 1)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_labels": None, "_perm": {}}


__all__ = ["MIX_BLOCK", "Mixture"]
