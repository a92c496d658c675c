"""Record readers shared by ``load_dataset`` and curation: one place that knows formats, compression and bad input.

Formats: ``json`` (JSON Lines, or one JSON array per file), ``csv``, ``text`` (a record per line, paragraph or whole
file) and ``parquet``; compression by suffix: ``.gz``, ``.bz2``, ``.xz``, ``.zst``/``.zstd``.

Bad input never takes good data down: a malformed record (broken JSON, a non-object, invalid UTF-8, NUL bytes, a
ragged CSV row, a text field of the wrong type, a truncated compressed stream) is counted in a ``LoadReport`` with
its file and 1-based line, and every good record still comes through. With ``strict=True`` the first one raises
``BadInputError`` naming file and line.

Lines are read as bytes and decoded one at a time, so a 30 MB line costs a small multiple of 30 MB, never the file.
"""

from __future__ import annotations

import bz2
import csv
import glob
import gzip
import io
import json
import lzma
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from massivetext.errors import BadInputError, MissingFileError

try:
    import orjson
except ImportError:  # a dependency, but reading works without it
    orjson = None  # type: ignore[assignment]

# orjson reads integers of 2**64 and more as floats; json keeps them exact (they have at least 20 digits)
_ORJSON_MAX = 1 << 20
_LONG_DIGITS = re.compile(r"\d{19}")
# bytes: every ASCII digit becomes "0", every other byte "."; a run of 19 digits is then the substring _DIGIT_RUN
_DIGITS_AS_ZERO = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_DIGIT_RUN = b"0" * 19

KINDS = ("json", "csv", "text", "parquet")
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
_SUFFIX_KIND = {
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".parquet": "parquet",
}
MAX_REPORTED = 1000  # errors kept in memory per report; all are counted


@dataclass
class BadRecord:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class LoadReport:
    """What a read saw: good records, bad records (with file and line), and the files read."""

    n_good: int = 0
    n_bad: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    errors_file: str | None = None

    def add_bad(self, record: BadRecord, strict: bool) -> None:
        if strict:
            raise BadInputError(record.reason, record.file, record.line)
        self.n_bad += 1
        if len(self.bad) < MAX_REPORTED:
            self.bad.append(record)
        if self.errors_file:
            with open(self.errors_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"file": record.file, "line": record.line, "reason": record.reason}) + "\n")

    def merge(self, other: LoadReport) -> None:
        self.n_good += other.n_good
        self.n_bad += other.n_bad
        self.bad.extend(other.bad[: max(0, MAX_REPORTED - len(self.bad))])
        self.files.extend(other.files)

    def summary(self) -> str:
        lines = [f"{self.n_bad} bad record(s) set aside, {self.n_good} good record(s) read"]
        lines += [f"  {b}" for b in self.bad[:10]]
        if self.n_bad > 10:
            lines.append(
                f"  ... and {self.n_bad - 10} more" + (f" (all in {self.errors_file})" if self.errors_file else "")
            )
        return "\n".join(lines)

    @staticmethod
    def read_errors(path: str) -> list[BadRecord]:
        """Read back an errors file written by a load."""
        with open(path, encoding="utf-8") as f:
            return [BadRecord(**json.loads(line)) for line in f if line.strip()]


def compression_of(path: str) -> str | None:
    return _COMPRESSIONS.get(os.path.splitext(path)[1].lower())


def kind_of(path: str) -> str | None:
    """The format a file name implies (``data.jsonl.zst`` -> ``json``), or None."""
    base = path[: -len(os.path.splitext(path)[1])] if compression_of(path) else path
    return _SUFFIX_KIND.get(os.path.splitext(base)[1].lower())


def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading bytes, decompressing by suffix (streaming; nothing is held whole)."""
    comp = compression_of(path)
    if comp == "gzip":
        return gzip.open(path, "rb")
    if comp == "bz2":
        return bz2.open(path, "rb")
    if comp == "xz":
        return lzma.open(path, "rb")
    if comp == "zstd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True, closefd=True)
        return io.BufferedReader(raw, buffer_size=1 << 20)  # the raw reader has no line iteration
    return open(path, "rb")


def resolve_files(data_files: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Expand paths, directories (all files below, sorted) and glob patterns into a sorted list of files.

    Raises ``MissingFileError`` naming the first path or pattern that matches nothing.
    """
    items = [data_files] if isinstance(data_files, str | os.PathLike) else list(data_files)
    out: list[str] = []
    for item in items:
        p = os.fspath(item)
        if any(c in p for c in "*?["):
            found = sorted(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
        elif os.path.isdir(p):
            found = sorted(_walk_data_files(p))
        elif os.path.isfile(p):
            found = [p]
        else:
            raise MissingFileError(f"no such file or directory: {p}")
        if not found:
            raise MissingFileError(f"no files match {p!r}")
        out.extend(found)
    return out


def _walk_data_files(root: str) -> Iterator[str]:
    """Files below ``root``, skipping hidden and ``_``-prefixed files and folders (work dirs, markers), as
    Hugging Face ``datasets`` does."""
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith((".", "_"))]
        yield from (os.path.join(d, f) for f in files if not f.startswith((".", "_")))


def _lines(
    path: str, report: LoadReport, strict: bool, byte_range: tuple[int, int] | None
) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, raw line without newline); a broken compressed stream ends the file, reported."""
    line_no = 0
    try:
        with open_binary(path) as f:
            if byte_range is not None:  # plain files only: start at the first line that begins inside the range
                start, end = byte_range[:2]
                if len(byte_range) > 2:  # planned by split_byte_ranges: lines before the range already counted
                    line_no = byte_range[2]
                else:
                    line_no = _count_newlines(path, start - 1) if start > 0 else 0
                pos = 0
                if start > 0:  # the line holding byte start-1 belongs to the previous range
                    f.seek(start - 1)
                    pos = start - 1 + len(f.readline())
                    line_no += 1
                while pos < end:
                    raw = f.readline()
                    if not raw:
                        return
                    pos += len(raw)
                    line_no += 1
                    raw = raw.rstrip(b"\r\n")
                    yield line_no, raw
                return
            for raw in f:
                line_no += 1
                raw = raw.rstrip(b"\r\n")  # rebound: this frame holds no second copy of a huge line while paused
                yield line_no, raw
    except (EOFError, OSError, gzip.BadGzipFile, lzma.LZMAError, ValueError) as e:
        # truncated or corrupt compressed stream: keep what came before, report where it broke
        report.add_bad(BadRecord(path, line_no + 1, f"unreadable from here on ({type(e).__name__}: {e})"), strict)


def split_byte_ranges(path: str, part_bytes: int) -> list[tuple[int, int, int]]:
    """Cut a plain line file into ranges of about ``part_bytes``: ``(start, end, lines_before)`` for ``byte_range=``.

    One pass counts the newlines before every cut, so reading n ranges never re-counts the file n times.
    """
    size = os.path.getsize(path)
    starts = list(range(0, size, max(1, part_bytes))) or [0]
    counts, n, pos = [0], 0, 0
    with open(path, "rb") as f:
        for start in starts[1:]:
            while pos < start - 1:  # newlines in [0, start - 1), read in 1 MB chunks
                chunk = f.read(min(start - 1 - pos, 1 << 20))
                n += chunk.count(b"\n")
                pos += len(chunk)
            counts.append(n)
    return [(a, min(a + part_bytes, size), c) for a, c in zip(starts, counts)]


def _count_newlines(path: str, upto: int) -> int:
    n, left = 0, upto
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def _decode(raw: bytes, path: str, line: int, report: LoadReport, strict: bool) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        report.add_bad(BadRecord(path, line, f"invalid UTF-8 at byte {e.start}"), strict)
        return None
    if "\x00" in text:
        report.add_bad(BadRecord(path, line, "NUL byte in record"), strict)
        return None
    return text


def _check_fields(rec: Any, path: str, line: int, report: LoadReport, strict: bool, text_field: str | None) -> bool:
    if not isinstance(rec, dict):
        report.add_bad(BadRecord(path, line, f"expected a JSON object, got {type(rec).__name__}"), strict)
        return False
    if text_field is not None:
        if text_field not in rec:
            report.add_bad(BadRecord(path, line, f"missing field {text_field!r}"), strict)
            return False
        if not isinstance(rec[text_field], str):
            kind = type(rec[text_field]).__name__
            report.add_bad(BadRecord(path, line, f"field {text_field!r} is {kind}, expected a string"), strict)
            return False
    return True


def _read_json(path, report, strict, text_field, byte_range, field_name=None) -> Iterator[tuple[int, dict]]:
    lines = _lines(path, report, strict, byte_range)
    first = next(lines, None)
    if first is None:
        return
    if first[1].lstrip().startswith(b"[") and byte_range is None:
        yield from _read_json_array(path, first, lines, report, strict, text_field)
        return
    held = [first]
    del first  # a huge first line is not kept alive for the whole file
    for line_no, raw in _chain_one(held, lines):
        if not raw.strip():
            continue
        text = _decode(raw, path, line_no, report, strict)
        if text is None:
            continue
        try:
            rec = loads(text, raw)
        except json.JSONDecodeError as e:
            report.add_bad(BadRecord(path, line_no, f"invalid JSON: {e.msg} (column {e.colno})"), strict)
            continue
        finally:
            text = raw = None  # the parsed record is all that stays while it is worked on
        if field_name is not None and isinstance(rec, dict):
            rec = rec.get(field_name)
        if _check_fields(rec, path, line_no, report, strict, text_field):
            yield line_no, rec


def _read_json_array(path, first, lines, report, strict, text_field) -> Iterator[tuple[int, dict]]:
    """A whole-file JSON array (``[{...}, {...}]``): parsed at once, records numbered by their index."""
    raw = b"\n".join([first[1], *(r for _, r in lines)])
    text = _decode(raw, path, 1, report, strict)
    if text is None:
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        report.add_bad(BadRecord(path, e.lineno, f"invalid JSON array: {e.msg}"), strict)
        return
    for i, rec in enumerate(data if isinstance(data, list) else [data], start=1):
        if _check_fields(rec, path, i, report, strict, text_field):
            yield i, rec


def loads(text: str | bytes, raw: bytes | None = None) -> Any:
    """``json.loads``, by orjson where that gives the same value: a text it refuses (NaN, lone surrogates, huge
    exponents; the error message is json's then) or with a long digit run goes to json. ``raw``: the UTF-8 bytes
    ``text`` was decoded from, where the caller has them (the digit test is faster on bytes)."""
    probe = raw if raw is not None else text
    if isinstance(probe, str):
        long_digits = _LONG_DIGITS.search(probe) is not None
    else:  # the same test for bytes as two C passes (a regex tries every position: 5x orjson's own time); a JSON
        # number is ASCII digits, so runs of other digits (which the str regex also sees) never matter
        long_digits = _DIGIT_RUN in probe.translate(_DIGITS_AS_ZERO)
    # a record of megabytes goes to json too: orjson's peak memory on it is ~15x the line, json's ~3x
    if orjson is not None and len(text) < _ORJSON_MAX and not long_digits:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _chain_one(held: list, rest):
    yield held.pop()  # popped, not kept in this frame while the consumer works on it
    yield from rest


def _read_text(path, report, strict, byte_range, sample_by: str = "line", keep_linebreaks: bool = False):
    """``sample_by``: ``line`` (a record per line), ``paragraph`` (blank-line separated), ``document``."""
    if sample_by == "line":
        for line_no, raw in _lines(path, report, strict, byte_range):
            text = _decode(raw, path, line_no, report, strict)
            if text is not None:  # like Hugging Face's text loader, empty lines are records too
                yield line_no, {"text": text + ("\n" if keep_linebreaks else "")}
        return
    if sample_by not in ("paragraph", "document"):
        raise BadInputError(f"sample_by must be 'line', 'paragraph' or 'document', not {sample_by!r}")
    buf: list[str] = []
    start = 1
    for line_no, raw in _lines(path, report, strict, byte_range):
        text = _decode(raw, path, line_no, report, strict)
        if text is None:
            continue
        if sample_by == "paragraph" and not text.strip():
            if buf:
                yield start, {"text": "\n".join(buf)}
            buf, start = [], line_no + 1
            continue
        if not buf:
            start = line_no
        buf.append(text)
    if buf:
        yield start, {"text": "\n".join(buf)}


def _read_csv(path, report, strict, delimiter: str | None = None, text_field=None, **_):
    delim = delimiter or ("\t" if ".tsv" in path.lower() else ",")
    header: list[str] | None = None
    # decode line by line (bad UTF-8 stays local) and let csv parse each line; quoted newlines are joined back
    pending, pending_start = "", 0
    for line_no, raw in _lines(path, report, strict, None):
        text = _decode(raw, path, line_no, report, strict)
        if text is None:
            pending = ""
            continue
        if pending:
            text, start = pending + "\n" + text, pending_start
        else:
            start = line_no
        if text.count('"') % 2:  # an open quoted field continues on the next line
            pending, pending_start = text, start
            continue
        pending = ""
        try:
            row = next(csv.reader([text], delimiter=delim))
        except csv.Error as e:
            report.add_bad(BadRecord(path, start, f"bad CSV row: {e}"), strict)
            continue
        if header is None:
            header = row
            continue
        if not row:
            continue
        if len(row) != len(header):
            report.add_bad(BadRecord(path, start, f"CSV row has {len(row)} fields, header has {len(header)}"), strict)
            continue
        rec = dict(zip(header, row))
        if text_field is not None and text_field not in rec:
            report.add_bad(BadRecord(path, start, f"missing column {text_field!r}"), strict)
            continue
        yield start, rec
    if pending:
        report.add_bad(BadRecord(path, pending_start, "unterminated quoted CSV field"), strict)


def _read_parquet(path, report, strict, text_field=None, columns=None, batch_size: int = 1024, **_):
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        row = 0
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            for rec in batch.to_pylist():
                row += 1
                if _check_fields(rec, path, row, report, strict, text_field):
                    yield row, rec
    except Exception as e:  # pyarrow raises many types for corrupt files; the file is the unit here
        if isinstance(e, BadInputError):
            raise
        report.add_bad(BadRecord(path, 0, f"unreadable Parquet file ({type(e).__name__}: {e})"), strict)


def iter_records(
    path: str,
    kind: str | None = None,
    report: LoadReport | None = None,
    strict: bool = False,
    text_field: str | None = None,
    byte_range: tuple[int, ...] | None = None,
    **options: Any,
) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` from one file; bad records go to ``report`` (or raise when ``strict``).

    ``kind`` defaults to the one the file name implies. ``text_field``, when given, must hold a string in every
    record. ``byte_range=(start, end)`` reads only the lines that start inside it (uncompressed line formats only),
    with true line numbers, so big files can be split into tasks (``split_byte_ranges`` plans them and adds the
    line count before each range as a third item, which saves a count per range). ``options``: ``sample_by``/``keep_linebreaks``
    (text), ``delimiter`` (csv), ``field`` (json: the key holding the record), ``columns`` (parquet).
    """
    report = report if report is not None else LoadReport()
    kind = kind or kind_of(path)
    if kind not in KINDS:
        raise BadInputError(f"cannot tell the format of {path}; pass one of {', '.join(KINDS)}")
    if byte_range is not None and (compression_of(path) or kind in ("parquet", "csv")):
        raise BadInputError(f"{path}: byte ranges need an uncompressed JSON Lines or text file")
    report.files.append(path)
    if kind == "json":
        it = _read_json(path, report, strict, text_field, byte_range, options.get("field"))
    elif kind == "text":
        it = _read_text(
            path, report, strict, byte_range, options.get("sample_by", "line"), options.get("keep_linebreaks", False)
        )
    elif kind == "csv":
        it = _read_csv(path, report, strict, options.get("delimiter"), text_field)
    else:
        it = _read_parquet(path, report, strict, text_field, options.get("columns"))
    for line, rec in it:
        report.n_good += 1
        yield line, rec
