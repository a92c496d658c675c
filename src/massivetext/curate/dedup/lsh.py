"""MinHash signatures and LSH banding, vectorized in numpy.

Permutations are multiply-add-shift hashes ``h_i(x) = (a_i * x + b_i mod 2^64) >> 32`` of each shingle's low 32 bits
(``a_i``, ``b_i`` random 64-bit, ``a_i`` odd): a strongly universal family (Dietzfelbinger 1996) that needs no modulo,
so one (shingles x permutations) product and a segmented minimum give every signature of a batch of documents.

Bands x rows are chosen like datasketch's ``_optimal_param``: minimize the weighted area of false positives
(similarity below the threshold, yet a candidate) plus false negatives (above it, yet not a candidate) under the
S-curve ``P(candidate | s) = 1 - (1 - s^r)^b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from massivetext.curate.dedup.shingles import fmix64

_ROW_CHUNK = 1024  # shingles per product block: (1024 x num_perm) uint64 stays in cache
_MASK32 = np.uint64(0xFFFFFFFF)
_K = np.uint64(0x9E3779B97F4A7C15)


def candidate_probability(s: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard similarity ``s`` share at least one band (the S-curve)."""
    return 1.0 - (1.0 - np.asarray(s, dtype=np.float64) ** rows) ** bands


def optimal_bands(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimizing the weighted false positive + negative areas."""
    grid_lo = np.linspace(0.0, threshold, 401)
    grid_hi = np.linspace(threshold, 1.0, 401)
    best, best_cost = (1, num_perm), np.inf
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(candidate_probability(grid_lo, b, r), grid_lo)
            fn = np.trapezoid(1.0 - candidate_probability(grid_hi, b, r), grid_hi)
            cost = false_positive_weight * fp + false_negative_weight * fn
            if cost < best_cost - 1e-12:
                best, best_cost = (b, r), cost
    return best


@dataclass(frozen=True)
class MinHasher:
    num_perm: int = 128
    seed: int = 1

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(0, 2**64, self.num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
        b = rng.integers(0, 2**64, self.num_perm, dtype=np.uint64, endpoint=False)
        object.__setattr__(self, "_a", a[None, :])
        object.__setattr__(self, "_b", b[None, :])

    def signatures(self, shingles: Sequence[np.ndarray]) -> np.ndarray:
        """(len(shingles), num_perm) uint32 signatures; every array must be non-empty."""
        out = np.empty((len(shingles), self.num_perm), dtype=np.uint32)
        buf = np.empty((_ROW_CHUNK, self.num_perm), dtype=np.uint64)  # every product block, reused
        batch: list[int] = []
        rows = 0
        for i, sh in enumerate(shingles):
            if len(sh) >= _ROW_CHUNK:  # a long document: its own blocks
                out[i] = self._long(sh, buf)
                continue
            if rows + len(sh) > _ROW_CHUNK:
                self._batch(shingles, batch, out, buf)
                batch, rows = [], 0
            batch.append(i)
            rows += len(sh)
        if batch:
            self._batch(shingles, batch, out, buf)
        return out

    def _product(self, x: np.ndarray, buf: np.ndarray) -> np.ndarray:
        y = buf[: len(x)]
        np.multiply((x & _MASK32)[:, None], self._a, out=y)
        y += self._b
        return y

    def _batch(self, shingles: Sequence[np.ndarray], idx: list[int], out: np.ndarray, buf: np.ndarray) -> None:
        parts = [shingles[i] for i in idx]
        starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
        y = self._product(np.concatenate(parts), buf)
        # the top 32 bits are monotone in the 64-bit value, so min first, shift after
        out[idx] = (np.minimum.reduceat(y, starts, axis=0) >> np.uint64(32)).astype(np.uint32)

    def _long(self, sh: np.ndarray, buf: np.ndarray) -> np.ndarray:
        m = np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        for s in range(0, len(sh), _ROW_CHUNK):
            np.minimum(m, self._product(sh[s : s + _ROW_CHUNK], buf).min(axis=0), out=m)
        return (m >> np.uint64(32)).astype(np.uint32)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) uint64: one hash per band of ``rows`` signature values."""
    n = sig.shape[0]
    v = sig[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    h = v[:, :, 0].copy()
    for j in range(1, rows):
        h *= _K
        h += v[:, :, j]
    return fmix64(h)
