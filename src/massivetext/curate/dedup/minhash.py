"""Near-duplicate removal with MinHash LSH, the MassiveText way by default (word 13-grams, Jaccard >= 0.8).

Stages, each a map over shards or partitions, results on disk under ``workdir`` with a marker per stage (resume):

1. ``signatures`` (per shard): word n-gram shingle hashes (xxhash, vectorized), MinHash signatures, one hash per
   LSH band; written as a table (partition, band, band hash, order key) sorted by partition, plus each document's
   shingle hashes for verification. Documents with fewer than n words get no shingles: they go into an extra band
   keyed by the exact hash of their normalized words, so they match exact copies only.
2. ``candidates`` (per partition of band hashes): the partition's slice of every shard's table, sorted; documents
   sharing a (band, hash) bucket become candidate pairs (each with the bucket's first member and with its
   predecessor, so a bucket of k costs 2k pairs, not k^2).
3. ``verify`` (per shard of the pair's first document): the true Jaccard of the two shingle sets; pairs below the
   threshold are dropped (``verify=False`` keeps every candidate, as DataTrove does).
4. clusters (union-find over verified pairs), one document kept per cluster (the smallest order key), removal
   lists per shard.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any

import numpy as np
import xxhash

from massivetext.curate.dedup.lsh import MinHasher, band_hashes, candidate_probability, optimal_bands
from massivetext.curate.dedup.shingles import combine_ngrams, hash_words, jaccard_sets
from massivetext.curate.dedup.step import RemovalStep
from massivetext.curate.dedup.store import (
    POS_BITS,
    DocReader,
    load_array,
    make_keys,
    run_stage,
    save_array,
    write_removals,
)
from massivetext.curate.dedup.text import word_bytes

_BATCH_WORDS = 1 << 18  # words hashed together: bounded memory, few numpy calls per document


@dataclass(frozen=True)
class MinHashConfig:
    ngram: int = 13
    threshold: float = 0.8
    num_perm: int = 128
    bands: int | None = None  # default: chosen from threshold and num_perm (see lsh.optimal_bands)
    rows: int | None = None
    verify: bool = True  # exact Jaccard of candidate pairs
    false_negative_weight: float | None = None  # default 0.95 when verifying (cheap FPs), else 0.5
    digits: bool = False  # every digit run counts as "0"
    seed: int = 1
    partitions: int | None = None  # default: one per shard

    def banding(self) -> tuple[int, int]:
        if self.bands and self.rows:
            if self.bands * self.rows > self.num_perm:
                from massivetext.errors import ConfigError

                raise ConfigError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
            return self.bands, self.rows
        fn = self.false_negative_weight
        fn = fn if fn is not None else (0.95 if self.verify else 0.5)
        return _optimal_cached(self.threshold, self.num_perm, fn)


_OPTIMAL: dict[tuple[float, int, float], tuple[int, int]] = {}


def _optimal_cached(threshold: float, num_perm: int, fn: float) -> tuple[int, int]:
    k = (threshold, num_perm, fn)
    if k not in _OPTIMAL:
        _OPTIMAL[k] = optimal_bands(threshold, num_perm, 1.0 - fn, fn)
    return _OPTIMAL[k]


def shard_ngrams(
    texts: Iterable[str], ns: tuple[int, ...], digits: bool = False
) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """For each n in ``ns``: (n-gram hashes of all documents concatenated, offsets (n_docs + 1)); and the exact hash
    of the words of each document shorter than ``ns[0]`` words (0 for the others).

    Word hashes of many documents are combined in one pass; n-grams that would cross a document boundary are cut.
    """
    parts: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {n: ([], []) for n in ns}
    all_exact: list[np.ndarray] = []
    batch: list[list[bytes]] = []
    nwords = 0

    def flush() -> None:
        lens = np.fromiter(map(len, batch), np.int64, len(batch))
        wh = hash_words(list(chain.from_iterable(batch)))
        starts = np.cumsum(lens) - lens
        for n in ns:
            comb = combine_ngrams(wh, n)
            counts = np.maximum(lens - n + 1, 0)
            total = int(counts.sum())
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            parts[n][0].append(comb[np.repeat(starts, counts) + within] if total else np.zeros(0, np.uint64))
            parts[n][1].append(counts)
        # the exact hash matters only for documents without shingles (0 marks the others)
        n0 = ns[0]
        all_exact.append(
            np.fromiter((xxhash.xxh3_64_intdigest(b" ".join(ws)) if len(ws) < n0 else 0 for ws in batch), np.uint64)
        )

    for text in texts:
        ws = word_bytes(text, digits)
        batch.append(ws)
        nwords += len(ws)
        if nwords >= _BATCH_WORDS:
            flush()
            batch, nwords = [], 0
    if batch:
        flush()
    if not all_exact:
        return {n: (np.zeros(0, np.uint64), np.zeros(1, np.int64)) for n in ns}, np.zeros(0, np.uint64)
    out = {}
    for n, (hashes, counts) in parts.items():
        c = np.concatenate(counts)
        out[n] = (np.concatenate(hashes), np.concatenate([[0], np.cumsum(c)]).astype(np.int64))
    return out, np.concatenate(all_exact)


def shard_shingles(texts: Iterable[str], n: int, digits: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shingle hashes of all documents concatenated, offsets (n_docs + 1), exact hash of the words of each document
    shorter than n words, 0 for the others)."""
    grams, exact = shard_ngrams(texts, (n,), digits)
    return grams[n][0], grams[n][1], exact


def doc_band_table(
    shingles: np.ndarray, offsets: np.ndarray, exact: np.ndarray, cfg: MinHashConfig, hasher: MinHasher
) -> tuple[np.ndarray, np.ndarray]:
    """(band index, band hash) for every band of every document; documents without shingles get one entry in the
    extra band ``bands`` holding their exact hash. Returns (doc index, band, hash) as three aligned arrays (stacked)."""
    b, r = cfg.banding()
    counts = np.diff(offsets)
    long_docs = np.flatnonzero(counts > 0)
    short_docs = np.flatnonzero(counts == 0)
    sig = hasher.signatures([shingles[offsets[i] : offsets[i + 1]] for i in long_docs])
    bh = band_hashes(sig, b, r)  # (n_long, b)
    doc = np.concatenate([np.repeat(long_docs, b), short_docs]).astype(np.uint64)
    band = np.concatenate(
        [np.tile(np.arange(b, dtype=np.uint64), len(long_docs)), np.full(len(short_docs), b, np.uint64)]
    )
    h = np.concatenate([bh.reshape(-1), exact[short_docs]])
    return doc, np.column_stack([band, h])


def _paths(workdir: str, shard: int) -> tuple[str, str, str]:
    d = os.path.join(workdir, "signatures")
    return (
        os.path.join(d, f"{shard:05d}.bands.npy"),
        os.path.join(d, f"{shard:05d}.shingles.npy"),
        os.path.join(d, f"{shard:05d}.offsets.npy"),
    )


def _signature_shard(item: tuple[int, str], workdir: str, reader: DocReader, cfg: MinHashConfig, parts: int) -> int:
    shard, path = item
    bands_p, sh_p, off_p = _paths(workdir, shard)
    if not os.path.exists(bands_p):
        sh, off, exact = shard_shingles(reader.texts(path), cfg.ngram, cfg.digits)
        doc, bh = doc_band_table(sh, off, exact, cfg, MinHasher(cfg.num_perm, cfg.seed))
        keys = make_keys(shard, len(off) - 1)[doc.astype(np.int64)]
        part = bh[:, 1] % np.uint64(parts)
        order = np.lexsort((keys, bh[:, 1], bh[:, 0], part))
        save_array(sh_p, sh)
        save_array(off_p, off)
        save_array(bands_p, np.column_stack([part, bh, keys])[order])  # written last: it marks the shard done
    return int(len(load_array(off_p, mmap=True)) - 1)


def bucket_pairs(band: np.ndarray, h: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Candidate pairs (lo key, hi key) from rows sorted by (band, hash, key): within each bucket every member
    pairs with the bucket's first member and with its predecessor."""
    if len(keys) < 2:
        return np.zeros((0, 2), np.uint64)
    same = np.concatenate([[False], (band[1:] == band[:-1]) & (h[1:] == h[:-1])])
    first = np.maximum.accumulate(np.where(same, 0, np.arange(len(keys))))
    dup = np.flatnonzero(same)
    a = np.concatenate([keys[first[dup]], keys[dup - 1]])
    b = np.concatenate([keys[dup], keys[dup]])
    pairs = np.column_stack([np.minimum(a, b), np.maximum(a, b)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def _candidates(part: int, workdir: str, n_shards: int, short_band: int) -> int:
    out = os.path.join(workdir, "candidates", f"{part:05d}.npy")
    if not os.path.exists(out):
        slices = []
        for s in range(n_shards):
            t = load_array(_paths(workdir, s)[0], mmap=True)
            lo, hi = np.searchsorted(t[:, 0], [part, part + 1])
            slices.append(np.asarray(t[lo:hi]))
        t = np.concatenate(slices) if slices else np.zeros((0, 4), np.uint64)
        t = t[np.lexsort((t[:, 3], t[:, 2], t[:, 1]))]
        short = t[:, 1] == short_band
        # exact-hash pairs of short documents are already verified: flag them
        p_long = bucket_pairs(t[~short, 1], t[~short, 2], t[~short, 3])
        p_short = bucket_pairs(t[short, 1], t[short, 2], t[short, 3])
        pairs = np.concatenate(
            [
                np.column_stack([p_long, np.zeros(len(p_long), np.uint64)]),
                np.column_stack([p_short, np.ones(len(p_short), np.uint64)]),
            ]
        )
        save_array(out, pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))])
    return int(load_array(out, mmap=True).shape[0])


class _ShingleSets:
    """Distinct shingle sets of documents, read from the memory-mapped signature files; a small cache."""

    def __init__(self, workdir: str, cap: int = 4096):
        self.workdir, self.cap = workdir, cap
        self.files: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.cache: dict[int, np.ndarray] = {}

    def raw(self, key: int) -> np.ndarray:
        s, pos = key >> POS_BITS, key & ((1 << POS_BITS) - 1)
        if s not in self.files:
            _, sh_p, off_p = _paths(self.workdir, s)
            self.files[s] = (load_array(sh_p, mmap=True), load_array(off_p))
        sh, off = self.files[s]
        return np.asarray(sh[off[pos] : off[pos + 1]])

    def same(self, a: int, b: int) -> bool:
        """Identical shingle sequences (exact copies, the common case): Jaccard 1 without sorting."""
        return np.array_equal(self.raw(a), self.raw(b))

    def get(self, key: int) -> np.ndarray:
        got = self.cache.get(key)
        if got is None:
            got = np.unique(self.raw(key))
            if len(self.cache) >= self.cap:
                self.cache.clear()
            self.cache[key] = got
        return got


def _verify(shard: int, workdir: str, parts: int, cfg: MinHashConfig) -> dict:
    out = os.path.join(workdir, "verified", f"{shard:05d}.npy")
    if not os.path.exists(out):
        lo_key, hi_key = np.uint64(shard << POS_BITS), np.uint64((shard + 1) << POS_BITS)
        slices = []
        for p in range(parts):
            c = load_array(os.path.join(workdir, "candidates", f"{p:05d}.npy"), mmap=True)
            a, b = np.searchsorted(c[:, 0], [lo_key, hi_key])
            slices.append(np.asarray(c[a:b]))
        c = np.concatenate(slices) if slices else np.zeros((0, 3), np.uint64)
        c = np.unique(c, axis=0)
        sim = np.ones(len(c))
        if cfg.verify:
            sets = _ShingleSets(workdir)
            for i, (a, b, exact) in enumerate(c.tolist()):
                if not exact and not sets.same(a, b):
                    sim[i] = jaccard_sets(sets.get(a), sets.get(b))
        keep = sim >= cfg.threshold
        save_array(out.replace(".npy", ".rejected.npy"), (sim[~keep] * 1e6).astype(np.uint64))
        save_array(out, np.column_stack([c[keep, :2], (sim[keep] * 1e6).astype(np.uint64)]))  # last: marks done
    kept = load_array(out)
    rejected = load_array(out.replace(".npy", ".rejected.npy"))
    return {"candidates": int(len(kept) + len(rejected)), "verified": int(len(kept))}


def find_near_duplicates(
    shards: list[str],
    workdir: str,
    executor: Any = None,
    config: MinHashConfig | None = None,
    reader: DocReader | None = None,
) -> dict:
    """Run all stages over ``shards``; writes ``workdir/remove/<shard>.npy`` and returns stats."""
    cfg = config or MinHashConfig()
    reader = reader or DocReader()
    b, r = cfg.banding()
    parts = cfg.partitions or max(1, len(shards))
    n = len(shards)
    for d in ("signatures", "candidates", "verified"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    counts = run_stage(
        executor,
        workdir,
        "signatures",
        partial(_signature_shard, workdir=workdir, reader=reader, cfg=cfg, parts=parts),
        list(enumerate(shards)),
        "minhash: signatures",
    )
    run_stage(
        executor,
        workdir,
        "candidates",
        partial(_candidates, workdir=workdir, n_shards=n, short_band=b),
        list(range(parts)),
        "minhash: candidate pairs",
    )
    ver = run_stage(
        executor,
        workdir,
        "verify",
        partial(_verify, workdir=workdir, parts=parts, cfg=cfg),
        list(range(n)),
        "minhash: verify",
    )
    edges = [load_array(os.path.join(workdir, "verified", f"{s:05d}.npy")) for s in range(n)]
    e = np.concatenate(edges) if edges else np.zeros((0, 3), np.uint64)
    stats = write_removals(workdir, n, e[:, 0], e[:, 1])
    stats.update(
        docs=int(sum(counts)),
        bands=b,
        rows=r,
        p_candidate_at_threshold=round(float(candidate_probability(cfg.threshold, b, r)), 4),
        candidate_pairs=int(sum(v["candidates"] for v in ver)),
        verified_pairs=int(sum(v["verified"] for v in ver)),
        similarity_histogram=_sim_hist(e[:, 2] / 1e6 if len(e) else np.zeros(0)),
    )
    return stats


def _sim_hist(sim: np.ndarray) -> dict[str, int]:
    edges = np.round(np.arange(0.0, 1.0001, 0.05), 2)
    hist, _ = np.histogram(sim, bins=edges)
    return {f"{edges[i]:.2f}": int(c) for i, c in enumerate(hist) if c}


@dataclass(kw_only=True)
class MinHashDeduplicator(RemovalStep):
    """Drops near duplicates: documents whose word n-gram Jaccard similarity with a document kept earlier in the
    run is at least ``threshold`` (MinHash LSH candidates, verified exactly unless ``verify=False``); one document
    per cluster is kept, the first in the run's order."""

    name: str = "minhash_dedup"
    ngram: int = 13
    threshold: float = 0.8
    num_perm: int = 128
    bands: int | None = None
    rows: int | None = None
    verify: bool = True
    digits: bool = False
    seed: int = 1
    partitions: int | None = None
    reason = "near duplicate"

    def config_obj(self) -> MinHashConfig:
        return MinHashConfig(
            self.ngram,
            self.threshold,
            self.num_perm,
            self.bands,
            self.rows,
            self.verify,
            None,
            self.digits,
            self.seed,
            self.partitions,
        )

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0 or self.ngram < 1 or self.num_perm < 1:
            from massivetext.errors import ConfigError

            raise ConfigError("MinHashDeduplicator needs 0 < threshold <= 1, ngram >= 1, num_perm >= 1")
        self.config_obj().banding()

    def prepare(self, shards: list[str], workdir: str, executor: Any, stats: Any) -> None:
        reader = DocReader(intermediate=True)
        result = find_near_duplicates(shards, workdir, executor, self.config_obj(), reader)
        self._record(workdir, shards, stats, result, reader)
