"""Curation input and output: task planning, reading tasks as documents, atomic shard writers.

Every file a run produces is written under a temporary name in the same directory and renamed into place when
complete (``massivetext._atomic``), so a crash (even ``kill -9``) leaves either the old state or the whole new file,
never half a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from massivetext._atomic import discard, publish, tmp_path
from massivetext.curate.document import Document
from massivetext.data.readers import (
    LoadReport,
    compression_of,
    iter_records,
    kind_of,
    loads,
    open_binary,
    orjson,
    split_byte_ranges,
)
from massivetext.errors import BadInputError, ConfigError

FORMATS = {"jsonl": ".jsonl.zst", "parquet": ".parquet"}
ZSTD_LEVEL = 3


@dataclass
class Task:
    """A unit of work: one or more whole files, or a byte range of one big uncompressed line file."""

    index: int
    files: list[str]
    byte_range: tuple[int, int] | None = None
    intermediate: bool = False  # files are intermediate shards written by an earlier segment


@dataclass
class ReadOptions:
    """How records become documents."""

    text_field: str = "text"
    id_field: str = "id"
    source_field: str = "source"
    kind: str | None = None  # json | csv | text | parquet; default from each file name
    text_sample_by: str = "document"  # a .txt file is one document, unless "line" or "paragraph"
    reader_options: dict[str, Any] = field(default_factory=dict)

    def kind_for(self, path: str) -> str | None:
        return self.kind or kind_of(path)


def plan_tasks(files: list[str], task_bytes: int, opts: ReadOptions) -> list[Task]:
    """Group small files into tasks of about ``task_bytes``; cut big uncompressed JSONL (or line-text) files into
    byte ranges. Depends only on the files and ``task_bytes`` (never on the number of workers), so the output shards
    are the same whatever runs them."""
    tasks: list[Task] = []
    group: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal group, size
        if group:
            tasks.append(Task(len(tasks), group))
        group, size = [], 0

    for f in files:
        sz = os.path.getsize(f)
        kind = opts.kind_for(f)
        splittable = not compression_of(f) and (kind == "json" or (kind == "text" and opts.text_sample_by == "line"))
        if sz > task_bytes and splittable and not _is_json_array(f, kind):
            flush()
            for rng in split_byte_ranges(f, task_bytes):
                tasks.append(Task(len(tasks), [f], rng))
            continue
        if group and size + sz > task_bytes:
            flush()
        group.append(f)
        size += sz
    flush()
    return tasks


def _is_json_array(path: str, kind: str | None) -> bool:
    if kind != "json":
        return False
    with open(path, "rb") as f:
        return f.read(4096).lstrip().startswith(b"[")


def read_task(task: Task, opts: ReadOptions, report: LoadReport, strict: bool) -> Iterator[Document]:
    """Stream the documents of a task; bad records go to ``report`` (or raise ``BadInputError`` when strict)."""
    if task.intermediate:
        for shard in task.files:
            yield from read_shard(shard, task.index)
        return
    pos = 0
    for path in task.files:
        kind = opts.kind_for(path)
        if kind is None:
            raise BadInputError(f"cannot tell the format of {path}; pass one of json, csv, text, parquet", path)
        text_field = "text" if kind == "text" else opts.text_field
        extra = dict(opts.reader_options)
        if kind == "text":
            extra.setdefault("sample_by", opts.text_sample_by)
        for line, rec in iter_records(
            path, kind, report, strict, text_field=text_field, byte_range=task.byte_range, **extra
        ):
            if kind == "csv" and not isinstance(rec.get(text_field), str):
                continue
            rid = rec.get(opts.id_field)
            src = rec.get(opts.source_field)
            yield Document(
                id=str(rid) if rid is not None else f"{path}:{line}",
                text=rec[text_field],
                source=src if isinstance(src, str) else None,
                record=rec,
                file=path,
                line=line,
                order=(task.index, pos),
            )
            pos += 1


class ShardWriter:
    """Write records to ``path`` atomically: JSONL compressed with zstd (``.jsonl.zst``) or Parquet.

    JSONL streams; Parquet buffers one shard (bounded by the task size) so the schema covers every record.
    Output is deterministic: the same records give the same bytes.
    """

    def __init__(self, path: str, fmt: str = "jsonl", compact: bool = False):
        if fmt not in FORMATS:
            raise ConfigError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.path, self.fmt, self.tmp = path, fmt, tmp_path(path)
        self.n = 0
        self.nbytes = 0
        self.compact = compact and orjson is not None  # intermediate shards: only read back by read_shard
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._rows: list[dict] = []
        if fmt == "jsonl":
            import zstandard

            self._raw = open(self.tmp, "wb")
            self._z = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self._raw, closefd=False)

    def write(self, record: dict[str, Any]) -> None:
        self.n += 1
        if self.fmt == "jsonl":
            data = self._compact(record) if self.compact else None
            if data is None:
                data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
            self.nbytes += len(data)
            self._z.write(data)
        else:
            self._rows.append(record)

    @staticmethod
    def _compact(record: dict[str, Any]) -> bytes | None:
        """orjson's compact line, or ``None`` for what it cannot write as json would (lone surrogates, integers
        beyond 64 bits, values json refuses)."""
        try:
            data = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATETIME
                                | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS)  # fmt: skip
        except orjson.JSONEncodeError:
            return None
        return None if b"null" in data else data  # orjson writes NaN and infinities as null: let json write them

    def close(self) -> None:
        if self.fmt == "jsonl":
            self._z.close()
            self._raw.close()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist(self._rows) if self._rows else pa.table({})
            pq.write_table(table, self.tmp)
            self._rows = []
        publish(self.tmp, self.path)

    def abort(self) -> None:
        try:
            if self.fmt == "jsonl":
                self._z.close()
                self._raw.close()
        finally:
            discard(self.tmp)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def output_record(doc: Document, text_field: str) -> dict[str, Any]:
    """The input record with the (possibly redacted) text put back; nothing added."""
    rec = doc.record
    key = text_field if text_field in rec or "text" not in rec else "text"
    if rec.get(key) is not doc.text:
        rec = {**rec, key: doc.text}
    return rec


class RemovedWriter:
    """The ``removed`` sink of a task (``Pipeline(write_removed=True)``): every removed document, with the step
    and reason that removed it, in a shard written atomically like the others."""

    def __init__(self, path: str, text_field: str):
        self._writer = ShardWriter(path)
        self._text_field = text_field

    def add(self, step_name: str, reason: str, doc: Document) -> None:
        record = output_record(doc, self._text_field)
        self._writer.write({"step": step_name, "reason": reason, "file": doc.file, "line": doc.line, "record": record})

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


def write_intermediate(writer: ShardWriter, doc: Document, text_field: str) -> None:
    """Intermediate shards (between a segment and a GlobalStep) keep where each document came from."""
    entry = {
        "id": doc.id,
        "file": doc.file,
        "line": doc.line,
        "record": output_record(doc, text_field),
        "text_field": text_field,
    }
    if doc.source is not None:  # absent rather than null: a null sends the line to json (see ShardWriter)
        entry["source"] = doc.source
    writer.write(entry)


def read_shard(path: str, shard_index: int = 0) -> Iterator[Document]:
    """Documents of an intermediate shard, in order; ``order`` is ``(shard_index, position in shard)``.

    GlobalSteps read their input with this (their ``prepare`` gets the shard paths in task order)."""
    with open_binary(path) as f:
        for pos, raw in enumerate(f):
            e = loads(raw)
            rec = e["record"]
            yield Document(
                e["id"], rec[e["text_field"]], e.get("source"), rec, e["file"], e["line"], (shard_index, pos)
            )


def read_output(path: str) -> Iterator[dict[str, Any]]:
    """Records of a final output shard (JSONL.zst or Parquet)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
        return
    with open_binary(path) as f:
        for raw in f:
            yield loads(raw)
