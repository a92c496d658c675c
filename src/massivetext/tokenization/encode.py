"""``encode_corpus``: documents (JSONL, .zst/.gz, ...) to packed token shards, streaming, parallel and resumable.

Each input file (or byte range of a big uncompressed JSONL file) is one task that writes one ``train`` and one
``val`` shard. A task streams its records through ``massivetext.data.readers``, encodes batches of about
``batch_chars`` characters with the Rust ``encode_batch_fast`` and appends them to the shards, so memory stays flat
however big the corpus is. Tasks run in worker processes (spawned; each gets an equal share of the cores for the
Rust thread pool). A task publishes its shards by rename and then writes a completion marker; a re-run skips tasks
with a marker and redoes the rest, so ``kill -9`` and re-run gives byte-identical shards.

Validation split: a document goes to ``val`` when ``xxh64(doc id) / 2**64 < val_fraction`` (the id is the record's
``id`` field, else ``file:line``), so the split is deterministic and independent of the order or the number of
processes. Every document is followed by the EOS id.

Sources: a source per input glob (``{"web": "web/*.jsonl"}`` or ``web=web/*.jsonl``) tags the task's shards; a
source per document (``source_field="metadata.source"``, a dotted path into the record) gives each task one pair of
shards per source it meets (``train/KEY@SOURCE.bin``), so ``index.json`` lists shards by source in both cases.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from massivetext._atomic import atomic_write_json, remove_stale
from massivetext.data.readers import (
    BadRecord,
    LoadReport,
    compression_of,
    iter_records,
    kind_of,
    resolve_files,
    split_byte_ranges,
)
from massivetext.errors import BadInputError, ConfigError
from massivetext.executors import get_executor
from massivetext.executors.local import LocalExecutor
from massivetext.tokenization.shard_format import TokenShardWriter, dtype_for_vocab
from massivetext.tokenization.sources import clean_text

SPLITS = ("train", "val")
INDEX_FORMAT = "massivetext-token-shards"


@dataclass
class EncodeTask:
    key: str
    path: str
    byte_range: tuple[int, int] | None
    tokenizer_file: str
    output: str
    eos_id: int
    dtype: str
    val_fraction: float
    text_field: str
    id_field: str
    strict: bool
    batch_chars: int
    overlap: bool = True  # encode in a helper thread while parsing the next batch (in-process runs)
    source_field: str | None = None  # dotted path of each document's source: one shard per source


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _set_threads(n: int) -> None:
    # Read by the Rust side when it first encodes, which is after the worker starts. One thread per process: the
    # encoder runs serially in this process's encode thread (an idle rayon pool spins and burns CPU between batches).
    os.environ["RAYON_NUM_THREADS"] = str(n)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if n > 1 else "false"
    # glibc raises its mmap threshold after big frees, so later batch-sized buffers come from the heap, fragment it
    # and RSS creeps up over many tasks; a fixed threshold hands them back to the OS on free (measured: -60 MB).
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 256 << 10)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _encode_batch(backend: Any, texts: list[str]) -> tuple[list[Any], int]:
    """Encodings of texts; lone surrogates (which the Rust side refuses) are replaced, and counted."""
    try:
        return backend.encode_batch_fast(texts, add_special_tokens=False), 0
    except TypeError:
        cleaned = [clean_text(t) for t in texts]
        fixed = sum(a is not b for a, b in zip(texts, cleaned))
        return backend.encode_batch_fast(cleaned, add_special_tokens=False), fixed


def run_task(task: EncodeTask) -> dict[str, Any]:
    """Encode one input (range) into its train/val shards and write its completion marker."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(task.tokenizer_file)
    backend.no_padding()
    backend.no_truncation()
    out = Path(task.output)
    dtype = np.dtype(task.dtype)
    threshold = int(task.val_fraction * 2**64)
    report = LoadReport()
    # one writer per (split, source); source None (no source field) is the task's plain pair of shards
    writers: dict[tuple[str, str | None], TokenShardWriter] = {}
    if task.source_field is None:
        writers = {(s, None): TokenShardWriter(out / s / f"{task.key}.bin", dtype) for s in SPLITS}
    basename = os.path.basename(task.path)
    eos = task.eos_id
    fixed = 0
    texts: list[str] = []
    is_val: list[tuple[bool, str | None]] = []
    chars = 0

    def writer(val: bool, source: str | None) -> TokenShardWriter:
        if (SPLITS[val], source) not in writers:  # both splits at once: a source has a (maybe empty) val shard
            for split in SPLITS:
                writers[(split, source)] = TokenShardWriter(out / split / _shard_name(task.key, source), dtype)
        return writers[(SPLITS[val], source)]

    def write(encodings: list[Any], flags: list[tuple[bool, str | None]]) -> None:
        parts: dict[tuple[bool, str | None], list[int]] = {}
        docs: dict[tuple[bool, str | None], int] = {}
        for enc, flag in zip(encodings, flags):  # per document, not per token: ids are extended in C
            ids = parts.setdefault(flag, [])
            ids += enc.ids
            ids.append(eos)
            docs[flag] = docs.get(flag, 0) + 1
        for (val, source), ids in parts.items():
            writer(val, source).write(np.array(ids, dtype=dtype), docs[(val, source)])

    # The Rust encoder releases the GIL: encode batch k in a thread while this one parses batch k+1. Worker
    # processes skip this (the other workers keep the cores busy, and one batch in flight keeps memory lower).
    pool = ThreadPoolExecutor(1) if task.overlap else _Inline()
    in_flight: tuple[Future, list[bool]] | None = None

    def finish() -> None:
        nonlocal fixed, in_flight
        if in_flight is not None:
            encodings, n_fixed = in_flight[0].result()
            fixed += n_fixed
            write(encodings, in_flight[1])
            in_flight = None

    try:
        records = iter_records(
            task.path, report=report, strict=task.strict, text_field=task.text_field, byte_range=task.byte_range
        )
        source_path = task.source_field.split(".") if task.source_field else None
        for line, rec in records:
            text = rec[task.text_field]
            source = None
            if source_path is not None:
                source = _source_of(rec, source_path)
                if source is None:
                    report.add_bad(BadRecord(task.path, line, f"no {task.source_field!r} source"), task.strict)
                    continue
            if threshold:
                doc_id = rec.get(task.id_field)
                key = f"{basename}:{line}" if doc_id is None else str(doc_id)
                is_val.append((xxhash.xxh64_intdigest(key.encode("utf-8", "surrogatepass")) < threshold, source))
            else:
                is_val.append((False, source))
            texts.append(text)
            chars += len(text)
            if chars >= task.batch_chars:
                finish()
                in_flight = (pool.submit(_encode_batch, backend, texts), is_val)
                texts, is_val, chars = [], [], 0
        finish()
        if texts:
            in_flight = (pool.submit(_encode_batch, backend, texts), is_val)
            finish()
        for w in writers.values():
            w.close()
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        pool.shutdown(wait=True)
    shard = {
        (split, source): {
            "file": f"{split}/{w.path.name}",
            "tokens": w.n_tokens,
            "documents": w.n_docs,
            **({} if source is None else {"source": source}),
        }
        for (split, source), w in writers.items()
    }
    marker = {
        "key": task.key,
        "input": task.path,
        "byte_range": task.byte_range,
        "input_size": os.path.getsize(task.path),
        # per split, the task's shards (one per source met, in source order, with a source field)
        "splits": {
            split: [shard[k] for k in sorted((k for k in shard if k[0] == split), key=lambda k: k[1] or "")]
            for split in SPLITS
        },
        "bad_records": report.n_bad,
        "bad_examples": [str(b) for b in report.bad[:20]],
        "surrogate_documents": fixed,
        "settings": _settings(task),
    }
    atomic_write_json(out / ".done" / f"{task.key}.json", marker, indent=2, ensure_ascii=False)
    return marker


def _source_of(rec: dict[str, Any], path: list[str]) -> str | None:
    """The value at a dotted path (``metadata.source``) as a string; None when absent or empty."""
    value: Any = rec
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, (dict, list)) or str(value) == "":
        return None
    return str(value)


def _shard_name(key: str, source: str | None) -> str:
    """``KEY.bin``, or ``KEY@SOURCE.bin`` with the source made file-safe (plus a hash when that changed it)."""
    if source is None:
        return f"{key}.bin"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", source)[:60]
    if safe != source:
        safe += "-" + hashlib.sha1(source.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{key}@{safe}.bin"


class _Inline:
    """A stand-in for a one-thread executor that runs each call at once."""

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass


def _settings(task: EncodeTask) -> dict[str, Any]:
    """What must match for a completion marker to count on a re-run."""
    return {
        "tokenizer_sha256": sha256_file(Path(task.output) / "tokenizer.json"),
        "val_fraction": task.val_fraction,
        "text_field": task.text_field,
        "id_field": task.id_field,
        "dtype": task.dtype,
        "source_field": task.source_field,
    }


def _key(path: str, part: int | None) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(path))[:60]
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:10]
    return f"{stem}-{digest}" + ("" if part is None else f"-{part:04d}")


def _ranges(path: str, part_bytes: int) -> list[tuple[int, ...] | None]:
    """Byte ranges for a big uncompressed JSONL/text file (one task each), else the whole file. The split depends
    only on the file size, so a re-run with another process count finds the same tasks."""
    size = os.path.getsize(path)
    if compression_of(path) or kind_of(path) not in ("json", "text") or size <= part_bytes:
        return [None]
    return list(split_byte_ranges(path, part_bytes))  # one newline count for all parts


def split_sources(inputs: Any) -> tuple[list[str], dict[str, str]]:
    """Input files and the source each belongs to: ``{"web": "web/*.jsonl", "books": [...]}`` or items
    ``"NAME=PATTERN"`` (what ``massivetext tokenize encode web=web/*.jsonl books=books/*`` passes) name sources;
    plain paths have none. A file in two sources is an error."""
    if isinstance(inputs, dict):
        groups: list[tuple[str | None, Any]] = list(inputs.items())
    else:
        items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        groups = []
        for item in items:
            name, eq, pattern = str(item).partition("=")
            named = eq and re.fullmatch(r"[A-Za-z0-9_.-]+", name) and not os.path.exists(str(item))
            groups.append((name, pattern) if named else (None, item))
    files: list[str] = []
    source_of: dict[str, str] = {}
    for name, pattern in groups:
        for f in resolve_files(pattern):
            if name is not None:
                if source_of.get(f, name) != name:
                    raise ConfigError(f"{f} is in two sources: {source_of[f]!r} and {name!r}")
                source_of[f] = name
            if f not in files:
                files.append(f)
    return files, source_of


def encode_corpus(
    tokenizer: Any,
    inputs: str | os.PathLike | list[str | os.PathLike] | dict[str, Any],
    output: str | os.PathLike,
    *,
    val_fraction: float = 0.01,
    text_field: str = "text",
    id_field: str = "id",
    processes: int | None = None,
    part_bytes: int = 4 << 20,
    batch_chars: int = 2 << 20,
    strict: bool = False,
    progress: bool = True,
    executor: Any = None,
    source_field: str | None = None,
) -> dict[str, Any]:
    """Encode documents to token shards under ``output`` and return the ``index.json`` it writes.

    ``tokenizer`` is a ``FastTokenizer`` or a tokenizer directory; it is saved into ``output`` (the trainer reads it
    from there) and its ``tokenizer.json`` hash goes into the index. ``processes`` defaults to the CPU count.
    ``executor``: None/"local" (a ``LocalExecutor`` of ``processes`` workers), "ray", or an executor object; tasks
    write their shards under ``output``, so Ray workers must see it (module doc of ``massivetext.executors.ray``).
    ``source_field`` (a dotted path such as ``"metadata.source"``) takes each document's source from the record:
    its tokens go to that source's shards, for ``TokenShards(weights=...)``; a record without it is a bad record.
    """
    from massivetext.tokenization.tokenizer import AutoTokenizer, FastTokenizer

    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    tok = tokenizer if isinstance(tokenizer, FastTokenizer) else AutoTokenizer.from_pretrained(tokenizer)
    if tok.eos_token_id is None:
        raise ConfigError("the tokenizer has no eos token to separate documents; set tok.eos_token first")
    files, source_of = split_sources(inputs)
    if source_field is not None and source_of:
        raise ConfigError("give sources by input (NAME=PATTERN) or by a source field, not both")
    if source_field is not None and not source_field.strip("."):
        raise ConfigError(f"source_field must name a field, got {source_field!r}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out / split).mkdir(exist_ok=True)
    old_hash = sha256_file(out / "tokenizer.json") if (out / "tokenizer.json").is_file() else None
    tok.save_pretrained(out)
    if old_hash and old_hash != sha256_file(out / "tokenizer.json") and any((out / ".done").glob("*.json")):
        warnings.warn(f"{out}: the tokenizer changed since the last run; every input is encoded again", stacklevel=2)
    dtype = dtype_for_vocab(len(tok))
    if dtype.itemsize == 4:
        warnings.warn(f"vocabulary of {len(tok)} tokens does not fit uint16: writing uint32 shards", stacklevel=2)
    tasks = [
        EncodeTask(_key(f, None if r is None else i), f, r, str(out / "tokenizer.json"), output=str(out),
                   eos_id=tok.eos_token_id, dtype=dtype.str, val_fraction=val_fraction, text_field=text_field,
                   id_field=id_field, strict=strict, batch_chars=batch_chars, source_field=source_field)
        for f in files for i, r in enumerate(_ranges(f, part_bytes))
    ]  # fmt: skip
    settings = _settings(tasks[0])
    markers: dict[str, dict[str, Any]] = {}
    pending = []
    for task in tasks:
        marker = _read_marker(out, task, settings)
        if marker is None:
            pending.append(task)
        else:
            markers[task.key] = marker
    remove_stale(out)  # leftovers of a killed run
    n_proc = max(1, min(len(pending), processes or os.cpu_count() or 1))
    if executor is None or executor == "local":
        # each worker gets an equal share of the cores for the Rust thread pool
        threads = max(1, (os.cpu_count() or 1) // n_proc)
        ex: Any = LocalExecutor(n_proc, progress=progress, initializer=_set_threads, initargs=(threads,))
        in_process = n_proc == 1 or len(pending) == 1  # LocalExecutor runs these in this process
    else:
        ex, in_process = get_executor(executor, n_proc), False
    for task in pending:
        task.overlap = in_process  # a helper thread only where no other worker keeps the cores busy
    try:
        for marker in ex.map(run_task, pending, desc="encode"):
            markers[marker["key"]] = marker
    finally:
        if isinstance(ex, LocalExecutor):
            ex.close()
    index = _build_index(out, tok, [markers[t.key] for t in tasks], settings, val_fraction, dtype, source_of)
    if index["splits"]["train"]["documents"] + index["splits"]["val"]["documents"] == 0:
        raise BadInputError(f"empty corpus: no documents with a {text_field!r} field in {len(files)} input file(s)")
    return index


def curated_sources(files: list[str]) -> list[dict[str, Any]]:
    """The curated corpora the input files come from: each distinct directory holding a ``stats.json`` (written by
    ``massivetext curate``: inputs with sha256, recipe, versions), with that file's path and sha256."""
    seen: dict[str, dict[str, Any]] = {}
    for f in files:
        d = os.path.dirname(os.path.abspath(f))
        stats = os.path.join(d, "stats.json")
        if d in seen or not os.path.isfile(stats):
            continue
        seen[d] = {"corpus": d, "stats": stats, "stats_sha256": sha256_file(stats)}
        if os.path.isfile(os.path.join(d, "data_card.md")):
            seen[d]["data_card"] = os.path.join(d, "data_card.md")
    return list(seen.values())


def _read_marker(out: Path, task: EncodeTask, settings: dict[str, Any]) -> dict[str, Any] | None:
    path = out / ".done" / f"{task.key}.json"
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same_input = marker.get("input_size") == os.path.getsize(task.path) and marker.get("byte_range") == (
        list(task.byte_range) if task.byte_range else None
    )
    splits = marker.get("splits", {})
    if not all(isinstance(v, list) for v in splits.values()):
        return None  # a marker of the older one-shard-per-split layout: encode again
    shards_there = all((out / s["file"]).is_file() for v in splits.values() for s in v)
    return marker if same_input and marker.get("settings") == settings and shards_there else None


def _build_index(out: Path, tok: Any, markers: list[dict[str, Any]], settings: dict[str, Any],
                 val_fraction: float, dtype: np.dtype, source_of: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    splits: dict[str, Any] = {}
    source_of = source_of or {}
    for split in SPLITS:
        shards = [{**sh, "input": m["input"]} for m in markers for sh in m["splits"][split]]
        for sh in shards:
            if sh["input"] in source_of:
                sh["source"] = source_of[sh["input"]]
        splits[split] = {
            "shards": shards,
            "tokens": sum(s["tokens"] for s in shards),
            "documents": sum(s["documents"] for s in shards),
        }
        # tokens per source: what a mixture's weights are measured against
        if source_of or any("source" in sh for sh in shards):
            per: dict[str, int] = {}
            for sh in shards:
                per[sh.get("source", "")] = per.get(sh.get("source", ""), 0) + sh["tokens"]
            splits[split]["sources"] = per
    index = {
        "format": INDEX_FORMAT,
        "version": 1,
        "dtype": dtype.name,
        "eos_id": tok.eos_token_id,
        "vocab_size": len(tok),
        "tokenizer": "tokenizer.json",
        "tokenizer_sha256": settings["tokenizer_sha256"],
        "val_fraction": val_fraction,
        "val_rule": "xxh64(id) / 2**64 < val_fraction (id: the record's id field, else file:line)",
        "text_field": settings["text_field"],
        "splits": splits,
        "bad_records": sum(m["bad_records"] for m in markers),
        "bad_examples": [e for m in markers for e in m["bad_examples"]][:20],
        "surrogate_documents": sum(m["surrogate_documents"] for m in markers),
        # the curated corpora (their stats.json: inputs, recipe, versions) these shards were encoded from
        "curation": curated_sources(list(dict.fromkeys(m["input"] for m in markers))),
    }
    atomic_write_json(out / "index.json", index, indent=2, ensure_ascii=False)
    return index


__all__ = ["EncodeTask", "encode_corpus", "run_task", "sha256_file"]
