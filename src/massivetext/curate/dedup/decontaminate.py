"""Test-set decontamination: drop training documents that overlap evaluation documents.

Two rules:

* ``mode="jaccard"`` (the MassiveText paper's): a training document is dropped when its word 13-gram Jaccard
  similarity with some evaluation document is at least ``threshold`` (0.8): MinHash LSH finds candidates, the true
  Jaccard of the shingle sets decides.
* ``mode="ngram"`` (GPT-3 and others): dropped when it shares at least ``min_overlap`` distinct word 13-grams with
  the evaluation data. An evaluation document shorter than 13 words but at least ``min_short_words`` (8, GPT-3's
  smallest n) long counts as one n-gram of its own length: a training document containing its words is dropped.

Documents (training or evaluation) with fewer than ``ngram`` words have no n-grams; otherwise they match by the exact
hash of their normalized words. The evaluation index (sorted hash tables, a few bytes per evaluation n-gram) is built once
in ``prepare`` and memory-mapped by every shard task. Which evaluation documents were hit, and by how many training
documents, goes to the run's stats and to ``<workdir>/eval_hits.json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from massivetext.curate.dedup.lsh import MinHasher
from massivetext.curate.dedup.minhash import MinHashConfig, doc_band_table, shard_ngrams, shard_shingles
from massivetext.curate.dedup.shingles import combine_ngrams, fmix64, hash_words, jaccard_sets
from massivetext.curate.dedup.step import RemovalStep
from massivetext.curate.dedup.store import DocReader, load_array, removal_path, run_stage, save_array, save_json
from massivetext.curate.dedup.text import word_bytes
from massivetext.errors import ConfigError

_K = np.uint64(0x9E3779B97F4A7C15)
MODES = ("jaccard", "ngram")


@dataclass(frozen=True)
class DecontamConfig:
    mode: str = "jaccard"
    ngram: int = 13
    threshold: float = 0.8
    min_overlap: int = 1
    num_perm: int = 128
    seed: int = 1
    min_short_words: int = 8  # ngram mode: shorter eval docs with at least this many words match as whole n-grams

    def minhash(self) -> MinHashConfig:
        return MinHashConfig(ngram=self.ngram, threshold=self.threshold, num_perm=self.num_perm, seed=self.seed)


@dataclass
class EvalDoc:
    set: str
    id: str
    text: str


def load_eval_docs(eval_sets: Any, text_field: str = "text", id_field: str = "id") -> list[EvalDoc]:
    """Evaluation documents from ``{name: source}`` or a list of sources (or one source). A source is a path or
    glob (any format ``massivetext.data.readers`` reads), a list of texts, or an iterable of records (a Hugging Face
    ``datasets.Dataset``, dicts with ``text_field``)."""
    from massivetext.data.readers import iter_records, resolve_files

    if isinstance(eval_sets, str | os.PathLike):
        eval_sets = [eval_sets]
    if not isinstance(eval_sets, dict):
        eval_sets = {
            os.fspath(s) if isinstance(s, str | os.PathLike) else f"eval{i}": s for i, s in enumerate(eval_sets)
        }
    docs: list[EvalDoc] = []
    for name, src in eval_sets.items():
        if isinstance(src, str | os.PathLike):
            for path in resolve_files(src):
                for line, rec in iter_records(path, text_field=text_field):
                    rid = rec.get(id_field)
                    docs.append(EvalDoc(name, str(rid) if rid is not None else f"{path}:{line}", rec[text_field]))
            continue
        if not isinstance(src, Iterable):
            raise ConfigError(f"eval set {name!r}: expected a path, a list of texts or a dataset, got {type(src)}")
        for i, item in enumerate(src):
            if isinstance(item, str):
                docs.append(EvalDoc(name, str(i), item))
            elif isinstance(item, dict) and isinstance(item.get(text_field), str):
                rid = item.get(id_field)
                docs.append(EvalDoc(name, str(rid) if rid is not None else str(i), item[text_field]))
            else:
                raise ConfigError(f"eval set {name!r}, item {i}: expected a text or a record with {text_field!r}")
    return docs


def _band_keys(band: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One uint64 per (band, band hash), so a single sorted array indexes all bands."""
    k = h * _K
    k += band
    return fmix64(k)


def build_eval_index(docs: list[EvalDoc], workdir: str, cfg: DecontamConfig) -> None:
    """Sorted lookup tables over the evaluation documents, saved under ``workdir/eval/``."""
    d = os.path.join(workdir, "eval")
    os.makedirs(d, exist_ok=True)
    sh, off, exact = shard_shingles((e.text for e in docs), cfg.ngram)
    counts = np.diff(off)
    if cfg.mode == "jaccard":
        doc, bh = doc_band_table(sh, off, exact, cfg.minhash(), MinHasher(cfg.num_perm, cfg.seed))
        keys = _band_keys(bh[:, 0], bh[:, 1])
    else:  # every distinct (n-gram, eval doc); short docs by their exact hash, tagged so they never meet n-grams
        doc = np.concatenate([np.repeat(np.arange(len(docs), dtype=np.uint64), counts), np.flatnonzero(counts == 0)])
        keys = np.concatenate([sh, fmix64(exact[counts == 0] ^ _K)]).astype(np.uint64)
    order = np.lexsort((doc, keys))
    table = np.unique(np.column_stack([keys, doc.astype(np.uint64)])[order], axis=0)
    short_keys, short_docs, short_lengths = [], [], set()
    if cfg.mode == "ngram":  # short eval docs as whole n-grams of their own length
        for i in np.flatnonzero(counts == 0):
            wh = hash_words(word_bytes(docs[i].text))
            if cfg.min_short_words <= len(wh) < cfg.ngram:
                short_keys.append(_tag(combine_ngrams(wh, len(wh)), len(wh))[0])
                short_docs.append(i)
                short_lengths.add(len(wh))
    short = np.column_stack([np.array(short_keys, np.uint64), np.array(short_docs, np.uint64)]).reshape(-1, 2)
    save_array(os.path.join(d, "short.npy"), short[np.lexsort((short[:, 1], short[:, 0]))])
    save_array(os.path.join(d, "short_lengths.npy"), np.array(sorted(short_lengths), np.int64))
    save_array(os.path.join(d, "shingles.npy"), sh)
    save_array(os.path.join(d, "offsets.npy"), off)
    save_array(os.path.join(d, "table.npy"), table)


def _tag(h: np.ndarray, n: int) -> np.ndarray:
    """n-gram hashes made distinct by their length (an 8-gram never meets a 13-gram)."""
    return fmix64(h ^ np.uint64((n * 0x9E3779B97F4A7C15) & (2**64 - 1)))


def _lookup(table: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into keys, eval doc) for every match of keys in the sorted (key, doc) table."""
    lo = np.searchsorted(table[:, 0], keys, side="left")
    hi = np.searchsorted(table[:, 0], keys, side="right")
    n = hi - lo
    q = np.repeat(np.arange(len(keys)), n)
    rows = np.repeat(lo, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
    return q, table[rows, 1].astype(np.int64)


def _decontaminate_shard(item: tuple[int, str], workdir: str, reader: DocReader, cfg: DecontamConfig) -> dict:
    shard, path = item
    out = removal_path(workdir, shard)
    hits_p = os.path.join(workdir, "hits", f"{shard:05d}.npy")
    if not os.path.exists(out):
        ev = os.path.join(workdir, "eval")
        table = load_array(os.path.join(ev, "table.npy"), mmap=True)
        lengths: list[int] = []
        if cfg.mode == "ngram":  # n-grams of the short eval docs' lengths come from the same pass over the words
            short_table = load_array(os.path.join(ev, "short.npy"))
            lengths = load_array(os.path.join(ev, "short_lengths.npy")).tolist()
        grams, exact = shard_ngrams(reader.texts(path), (cfg.ngram, *lengths))
        sh, off = grams[cfg.ngram]
        counts = np.diff(off)
        if cfg.mode == "jaccard":
            doc, bh = doc_band_table(sh, off, exact, cfg.minhash(), MinHasher(cfg.num_perm, cfg.seed))
            q, ev_doc = _lookup(table, _band_keys(bh[:, 0], bh[:, 1]))
            pairs = np.unique(np.column_stack([doc[q].astype(np.int64), ev_doc]), axis=0)
            ev_sh, ev_off = (
                load_array(os.path.join(ev, "shingles.npy"), mmap=True),
                load_array(os.path.join(ev, "offsets.npy")),
            )
            keep = np.ones(len(pairs), bool)
            for i, (t, e) in enumerate(pairs.tolist()):
                if counts[t] == 0:
                    continue  # short: matched by exact hash
                a = np.unique(sh[off[t] : off[t + 1]])
                b = np.unique(np.asarray(ev_sh[ev_off[e] : ev_off[e + 1]]))
                keep[i] = jaccard_sets(a, b) >= cfg.threshold
            hits = pairs[keep]
        else:
            doc_of = np.concatenate([np.repeat(np.arange(len(counts)), counts), np.flatnonzero(counts == 0)])
            keys = np.concatenate([sh, fmix64(exact[counts == 0] ^ _K)])
            q, ev_doc = _lookup(table, keys)
            # distinct shared n-grams per training doc
            shared = np.unique(np.column_stack([doc_of[q], keys[q].astype(np.int64)]), axis=0)
            n_shared = np.bincount(shared[:, 0], minlength=len(counts))
            short = counts == 0
            bad = (n_shared >= cfg.min_overlap) | (short & (n_shared > 0))
            hits = np.unique(np.column_stack([doc_of[q], ev_doc]), axis=0)
            hits = hits[bad[hits[:, 0]]]
            for n in lengths:  # a training doc containing a whole short eval doc
                h, o = grams[n]
                q, ev_doc = _lookup(short_table, _tag(h, n))
                if len(q):
                    doc_n = np.repeat(np.arange(len(o) - 1), np.diff(o))
                    hits = np.unique(np.concatenate([hits, np.column_stack([doc_n[q], ev_doc])]), axis=0)
        os.makedirs(os.path.dirname(hits_p), exist_ok=True)
        save_array(hits_p, hits.astype(np.int64).reshape(-1, 2))
        save_array(out, np.unique(hits[:, 0]).astype(np.int64))
    return {"removed": int(len(load_array(out)))}


def find_contaminated(
    shards: list[str],
    eval_docs: list[EvalDoc],
    workdir: str,
    executor: Any = None,
    config: DecontamConfig | None = None,
    reader: DocReader | None = None,
) -> dict:
    """Writes ``workdir/remove/<shard>.npy`` and ``workdir/eval_hits.json``; returns stats."""
    cfg = config or DecontamConfig()
    if cfg.mode not in MODES:
        raise ConfigError(f"unknown decontamination mode {cfg.mode!r}; use one of {', '.join(MODES)}")
    reader = reader or DocReader()
    os.makedirs(os.path.join(workdir, "remove"), exist_ok=True)
    if not os.path.exists(os.path.join(workdir, "eval", "table.npy")):
        build_eval_index(eval_docs, workdir, cfg)
    res = run_stage(
        executor,
        workdir,
        "decontaminate",
        partial(_decontaminate_shard, workdir=workdir, reader=reader, cfg=cfg),
        list(enumerate(shards)),
        "decontaminate",
    )
    hits = [load_array(os.path.join(workdir, "hits", f"{s:05d}.npy")) for s in range(len(shards))]
    h = np.concatenate(hits) if hits else np.zeros((0, 2), np.int64)
    per_eval = np.bincount(h[:, 1], minlength=len(eval_docs)) if len(eval_docs) else np.zeros(0, np.int64)
    hit_list = [
        {"set": eval_docs[i].set, "id": eval_docs[i].id, "train_docs": int(per_eval[i])}
        for i in np.flatnonzero(per_eval)[np.argsort(-per_eval[per_eval > 0], kind="stable")]
    ]
    save_json(os.path.join(workdir, "eval_hits.json"), hit_list)
    sets: dict[str, dict[str, int]] = {}
    for i, e in enumerate(eval_docs):
        s = sets.setdefault(e.set, {"eval_docs": 0, "eval_docs_hit": 0, "train_docs_hitting": 0})
        s["eval_docs"] += 1
        s["eval_docs_hit"] += int(per_eval[i] > 0)
        s["train_docs_hitting"] += int(per_eval[i])
    return {
        "mode": cfg.mode,
        "docs_removed": int(sum(r["removed"] for r in res)),
        "eval_sets": sets,
        "top_hits": hit_list[:20],
    }


@dataclass(kw_only=True)
class Decontaminator(RemovalStep):
    """Drops training documents that overlap the evaluation sets (see the module docstring for the two rules).

    ``eval_sets``: ``{name: path | list of texts | dataset}``, a list of paths, or one path."""

    name: str = "decontaminate"
    eval_sets: Any = field(default_factory=dict)
    mode: str = "jaccard"
    ngram: int = 13
    threshold: float = 0.8
    min_overlap: int = 1
    min_short_words: int = 8
    num_perm: int = 128
    text_field: str = "text"
    id_field: str = "id"
    reason = "overlaps evaluation data"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown decontamination mode {self.mode!r}; use one of {', '.join(MODES)}")
        if not self.eval_sets:
            raise ConfigError("Decontaminator needs eval_sets (paths, lists of texts or datasets)")

    def config(self) -> dict[str, Any]:
        c = super().config()
        if isinstance(self.eval_sets, dict):  # a dataset object is fingerprinted by its repr, not its memory address
            c["eval_sets"] = {k: v if isinstance(v, str | list) else repr(v) for k, v in self.eval_sets.items()}
        return c

    def prepare(self, shards: list[str], workdir: str, executor: Any, stats: Any) -> None:
        cfg = DecontamConfig(
            self.mode, self.ngram, self.threshold, self.min_overlap, self.num_perm, min_short_words=self.min_short_words
        )
        docs = load_eval_docs(self.eval_sets, self.text_field, self.id_field)
        result = find_contaminated(shards, docs, workdir, executor, cfg, DocReader(intermediate=True))
        self.__dict__["_workdir"] = workdir
        if stats is not None:
            stats.extra[self.name] = result
