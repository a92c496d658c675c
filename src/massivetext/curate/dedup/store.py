"""What every dedup stage shares: order keys, shard reading, atomic array files, stage markers, removal lists.

A document's order key is ``shard << 40 | position`` (uint64): sorting keys sorts by (shard, position), the
deterministic order in which "first occurrence kept" is decided; the smallest key of a cluster is kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from massivetext._atomic import atomic_open
from massivetext.curate.dedup.unionfind import connected_components

POS_BITS = 40
_POS_MASK = np.uint64((1 << POS_BITS) - 1)


def make_keys(shard: int, n: int) -> np.ndarray:
    return (np.uint64(shard) << np.uint64(POS_BITS)) | np.arange(n, dtype=np.uint64)


def key_shard(keys: np.ndarray) -> np.ndarray:
    return (np.asarray(keys, dtype=np.uint64) >> np.uint64(POS_BITS)).astype(np.int64)


def key_pos(keys: np.ndarray) -> np.ndarray:
    return (np.asarray(keys, dtype=np.uint64) & _POS_MASK).astype(np.int64)


@dataclass(frozen=True)
class DocReader:
    """Reads the documents of one shard, in order: a pipeline's intermediate shard (``intermediate=True``, what a
    GlobalStep sees) or any file ``massivetext.data.readers`` knows."""

    text_field: str = "text"
    id_field: str = "id"
    intermediate: bool = False

    def records(self, path: str) -> Iterator[dict]:
        if self.intermediate:
            from massivetext.curate.io import read_shard

            for doc in read_shard(path):
                yield {self.id_field: doc.id, self.text_field: doc.text}
            return
        from massivetext.data.readers import iter_records

        for _, rec in iter_records(path, text_field=self.text_field):
            yield rec

    def texts(self, path: str) -> Iterator[str]:
        for rec in self.records(path):
            yield rec[self.text_field]


def save_array(path: str, arr: np.ndarray) -> None:
    """np.save, atomically: a crash never leaves a half-written file that resume would trust."""
    with atomic_open(path, "wb") as f:
        np.save(f, arr)


def save_json(path: str, obj: Any) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f)


def load_array(path: str, mmap: bool = False) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None)


class SerialExecutor:
    """Runs a map in this process (the fallback when no executor is given)."""

    def map(self, fn: Callable, items: list, desc: str = "") -> list:
        return [fn(x) for x in items]


def run_stage(executor: Any, workdir: str, stage: str, fn: Callable, items: list, desc: str) -> list:
    """One global stage: a map over items, skipped when its completion marker says it already ran."""
    marker = os.path.join(workdir, f"{stage}.done.json")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            return json.load(f)["results"]
    results = (executor or SerialExecutor()).map(fn, items, desc=desc)
    save_json(marker, {"results": results})
    return results


def removal_path(workdir: str, shard: int) -> str:
    return os.path.join(workdir, "remove", f"{shard:05d}.npy")


def write_removals(workdir: str, n_shards: int, u: np.ndarray, v: np.ndarray) -> dict:
    """Clusters from edges; every node but its cluster's smallest key is removed. Returns cluster stats."""
    os.makedirs(os.path.join(workdir, "remove"), exist_ok=True)
    nodes, labels = connected_components(u, v)
    removed = nodes[nodes != labels]
    shards = key_shard(removed)
    bounds = np.searchsorted(shards, np.arange(n_shards + 1))
    for s in range(n_shards):
        save_array(removal_path(workdir, s), key_pos(removed[bounds[s] : bounds[s + 1]]))
    _, sizes = np.unique(labels, return_counts=True)
    hist = np.bincount(sizes) if len(sizes) else np.zeros(0, dtype=np.int64)
    return {
        "clusters": int(len(sizes)),
        "docs_in_clusters": int(len(nodes)),
        "docs_removed": int(len(removed)),
        "cluster_size_histogram": {str(k): int(c) for k, c in enumerate(hist) if c},
        "_pairs": (removed, labels[nodes != labels]),  # (removed key, kept key), for examples
    }


def load_removals(workdir: str, shard: int) -> np.ndarray:
    path = removal_path(workdir, shard)
    return np.load(path) if os.path.exists(path) else np.zeros(0, dtype=np.int64)


def example_pairs(
    shards: list[str], reader: DocReader, removed: np.ndarray, kept: np.ndarray, k: int = 5, chars: int = 160
) -> list[dict]:
    """A few (kept, removed) documents for the report: ids and the start of their texts."""
    if len(removed) == 0:
        return []
    first = np.argsort(removed, kind="stable")[:k]  # the earliest removals: only the first shard(s) are read
    pairs = [(int(kept[i]), int(removed[i])) for i in first]
    wanted: dict[int, dict] = {}
    by_shard: dict[int, set[int]] = {}
    for key in {x for p in pairs for x in p}:
        by_shard.setdefault(key >> POS_BITS, set()).add(key & ((1 << POS_BITS) - 1))
    for s, positions in sorted(by_shard.items()):
        last = max(positions)
        for pos, rec in enumerate(reader.records(shards[s])):
            if pos in positions:
                wanted[(s << POS_BITS) | pos] = {
                    "id": rec.get(reader.id_field),
                    "shard": s,
                    "position": pos,
                    "text": rec[reader.text_field][:chars],
                }
            if pos >= last:
                break
    return [{"kept": wanted.get(a), "removed": wanted.get(b)} for a, b in pairs]
