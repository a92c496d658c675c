"""Exact deduplication across a whole run, in stages that scale: never one dict of the corpus.

1. ``hash`` (one task per shard): xxh3-128 (or xxh3-64) of each document's normalized UTF-8 bytes, written with
   the document's order key as a table sorted by (partition, hash); partition = hash mod P.
2. ``group`` (one task per partition): the partition's slice of every shard's table (memory-mapped), sorted by
   (hash, key); in each group of equal hashes the first key is kept, the others become edges first -> other.
3. removal lists per shard (the smallest key of each group is kept: first occurrence in (shard, position) order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import xxhash

from massivetext.curate.dedup.step import RemovalStep
from massivetext.curate.dedup.store import (
    DocReader,
    load_array,
    make_keys,
    run_stage,
    save_array,
    write_removals,
)
from massivetext.curate.dedup.text import Normalization, normalize


@dataclass(frozen=True)
class ExactConfig:
    normalization: Normalization = field(default_factory=Normalization)
    hash_bits: int = 128  # 128: xxh3_128 (collisions impossible in practice); 64: xxh3_64 (half the disk)
    partitions: int | None = None  # default: one per shard, so a partition holds about one shard of hashes


def text_hashes(texts: list[str], norm: Normalization, bits: int = 128) -> np.ndarray:
    """(n, 2) uint64 (128-bit) or (n, 1) uint64 (64-bit) hashes of the normalized texts."""
    data = [normalize(t, norm).encode("utf-8", "surrogatepass") for t in texts]
    if bits == 64:
        return np.fromiter(map(xxhash.xxh3_64_intdigest, data), np.uint64, len(data)).reshape(-1, 1)
    if bits != 128:
        raise ValueError("hash_bits must be 64 or 128")
    raw = b"".join(map(xxhash.xxh3_128_digest, data))
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 2)


def _hash_shard(item: tuple[int, str], workdir: str, reader: DocReader, cfg: ExactConfig, parts: int) -> int:
    shard, path = item
    out = os.path.join(workdir, "hashes", f"{shard:05d}.npy")
    if os.path.exists(out):
        return int(load_array(out, mmap=True).shape[0])
    h = text_hashes(list(reader.texts(path)), cfg.normalization, cfg.hash_bits)
    keys = make_keys(shard, len(h))
    part = h[:, 0] % np.uint64(parts)
    order = np.lexsort((keys, *h.T[::-1], part))
    table = np.column_stack([part, h, keys])[order]
    save_array(out, table)
    return int(len(table))


def _group_partition(part: int, workdir: str, n_shards: int) -> tuple[int, int]:
    out = os.path.join(workdir, "edges", f"{part:05d}.npy")
    if not os.path.exists(out):
        slices = []
        for s in range(n_shards):
            t = load_array(os.path.join(workdir, "hashes", f"{s:05d}.npy"), mmap=True)
            lo, hi = np.searchsorted(t[:, 0], [part, part + 1])
            slices.append(np.asarray(t[lo:hi]))
        t = np.concatenate(slices) if slices else np.zeros((0, 3), np.uint64)
        h, keys = t[:, 1:-1], t[:, -1]
        order = np.lexsort((keys, *h.T[::-1]))
        h, keys = h[order], keys[order]
        same = np.all(h[1:] == h[:-1], axis=1) if len(h) > 1 else np.zeros(0, bool)
        first = np.maximum.accumulate(np.where(np.concatenate([[False], same]), 0, np.arange(len(keys))))
        dup = np.flatnonzero(np.concatenate([[False], same]))
        save_array(out, np.column_stack([keys[first[dup]], keys[dup]]))
    return part, int(load_array(out, mmap=True).shape[0])


def find_exact_duplicates(
    shards: list[str],
    workdir: str,
    executor: Any = None,
    config: ExactConfig | None = None,
    reader: DocReader | None = None,
) -> dict:
    """Run the stages over ``shards``; writes ``workdir/remove/<shard>.npy`` (positions to drop) and returns stats."""
    cfg = config or ExactConfig()
    reader = reader or DocReader()
    parts = cfg.partitions or max(1, len(shards))
    for d in ("hashes", "edges"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    counts = run_stage(
        executor,
        workdir,
        "hash",
        partial(_hash_shard, workdir=workdir, reader=reader, cfg=cfg, parts=parts),
        list(enumerate(shards)),
        "exact dedup: hash",
    )
    run_stage(
        executor,
        workdir,
        "group",
        partial(_group_partition, workdir=workdir, n_shards=len(shards)),
        list(range(parts)),
        "exact dedup: group",
    )
    edges = [load_array(os.path.join(workdir, "edges", f"{p:05d}.npy")) for p in range(parts)]
    e = np.concatenate(edges) if edges else np.zeros((0, 2), np.uint64)
    stats = write_removals(workdir, len(shards), e[:, 0], e[:, 1])
    stats["docs"] = int(sum(counts))
    stats["duplicate_groups"] = stats.pop("clusters")
    return stats


@dataclass(kw_only=True)
class ExactDeduplicator(RemovalStep):
    """Drops every document whose normalized text equals an earlier one's (first occurrence in the run kept).

    ``normalization``: comma-separated subset of ``whitespace,case,punctuation,digits`` (or ``none``/``all``).
    """

    name: str = "exact_dedup"
    normalization: str = "whitespace,case"
    hash_bits: int = 128
    partitions: int | None = None
    reason = "exact duplicate"

    def __post_init__(self) -> None:
        Normalization.parse(self.normalization)  # fail on a bad spec when the recipe is read, not mid-run

    def prepare(self, shards: list[str], workdir: str, executor: Any, stats: Any) -> None:
        cfg = ExactConfig(Normalization.parse(self.normalization), self.hash_bits, self.partitions)
        reader = DocReader(intermediate=True)
        result = find_exact_duplicates(shards, workdir, executor, cfg, reader)
        self._record(workdir, shards, stats, result, reader)
