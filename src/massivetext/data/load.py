"""``mt.load_dataset``: the Hugging Face ``datasets`` objects users know, read by MassiveText's forgiving readers.

Records are read by ``massivetext.data.readers`` (so a broken line is set aside with its file and line instead of
failing the load), written once to a memory-mapped Arrow file in the cache, and returned as ``datasets.Dataset`` /
``DatasetDict`` objects; ``streaming=True`` gives an ``IterableDataset`` that reads lazily. The report of a load
(``LoadReport``: counts and every bad record with file and line) is attached as ``.load_report`` and, with
``errors_file=``, written as JSON Lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from massivetext._atomic import atomic_path, atomic_write_json
from massivetext.data.readers import KINDS, BadRecord, LoadReport, iter_records, resolve_files
from massivetext.errors import BadInputError, ConfigError

BATCH = 1000
_CACHE_VERSION = 1


class BadRecordsWarning(UserWarning):
    """Some records were malformed and set aside; the message lists where."""


def load_dataset(
    kind: str,
    data_files: str | os.PathLike | Iterable[str] | dict[str, Any] | None = None,
    split: str | None = None,
    streaming: bool = False,
    strict: bool = False,
    errors_file: str | None = None,
    cache_dir: str | None = None,
    **options: Any,
):
    """Load local files as a ``datasets.DatasetDict`` (a ``train`` split unless ``data_files`` is a dict of splits).

    ``kind``: ``text`` (options ``sample_by="line"|"paragraph"|"document"``, ``keep_linebreaks``), ``csv``
    (``delimiter``), ``json`` (JSON Lines or a JSON array; ``field``), ``parquet`` (``columns``), or ``stdlib`` (the
    embedded corpus; ``max_docs``), a MassiveText data set (``movie-sentiment``, ``ddtp-en-fr``, ``ddtp-en-de``,
    ``ddtp-summaries``, ``chat-dialogs``: built once from a package registry, train/validation/test), or any other
    name, which goes to the Hugging Face Hub as ``datasets.load_dataset`` does. ``data_files``: paths, directories or glob patterns (``.gz``, ``.bz2``, ``.xz``,
    ``.zst`` read transparently). ``split`` returns that one split. ``strict=True`` raises on the first bad record;
    otherwise bad records are counted, warned about and reported with file and line.
    """
    if kind not in KINDS and kind != "stdlib":  # a named data set: MassiveText's builders, else the Hub
        from massivetext.data.corpora import registry

        if kind in registry.BUILDER_NAMES:
            return registry.load_builder_dataset(kind, split=split, cache_dir=cache_dir, **options)
        hub_args = {"data_files": data_files, "split": split, "streaming": streaming, "cache_dir": cache_dir}
        return registry.load_from_hub(kind, (*KINDS, "stdlib"), **hub_args, **options)
    if kind == "stdlib":
        from massivetext.data.corpora.stdlib import build_stdlib_corpus

        data_files = build_stdlib_corpus(max_docs=options.pop("max_docs", None))
        kind = "json"
    if kind not in KINDS:
        raise ConfigError(f"unknown dataset kind {kind!r}; expected one of {', '.join((*KINDS, 'stdlib'))}")
    if data_files is None:
        raise ConfigError(f"load_dataset({kind!r}) needs data_files")
    splits = data_files if isinstance(data_files, dict) else {"train": data_files}
    if split is not None and split not in splits:
        raise ConfigError(f"unknown split {split!r}; available: {', '.join(splits)}")
    wanted = [split] if split is not None else list(splits)

    import datasets

    out = {}
    for name in wanted:
        files = resolve_files(splits[name])
        report = LoadReport(errors_file=errors_file)
        if errors_file and os.path.exists(errors_file):
            os.remove(errors_file)
        if streaming:
            out[name] = _streaming(kind, files, strict, report, options)
        else:
            out[name] = _materialize(kind, files, strict, report, options, cache_dir)
            if report.n_bad:
                warnings.warn(report.summary(), BadRecordsWarning, stacklevel=2)
        out[name].load_report = report
    if split is not None:
        return out[split]
    result = datasets.IterableDatasetDict(out) if streaming else datasets.DatasetDict(out)
    result.load_report = _merged(out[n].load_report for n in wanted)
    return result


def _merged(reports: Iterable[LoadReport]) -> LoadReport:
    total = LoadReport()
    for r in reports:
        total.merge(r)
    return total


def _records(kind: str, files: list[str], strict: bool, report: LoadReport, options: dict) -> Iterator[tuple]:
    for path in files:
        for line, rec in iter_records(path, kind, report, strict, **options):
            yield path, line, rec


def _streaming(kind: str, files: list[str], strict: bool, report: LoadReport, options: dict):
    import datasets

    def generate(files: list[str]):
        for _, _, rec in _records(kind, files, strict, report, options):
            yield rec

    return datasets.IterableDataset.from_generator(generate, gen_kwargs={"files": files})


def _cache_key(kind: str, files: list[str], options: dict) -> str:
    stats = [(os.path.abspath(f), os.path.getsize(f), os.stat(f).st_mtime_ns) for f in files]
    blob = json.dumps([_CACHE_VERSION, kind, stats, sorted(options.items())], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _materialize(kind: str, files: list[str], strict: bool, report: LoadReport, options: dict, cache_dir: str | None):
    """Read every record once into an Arrow file in the cache (reused while the files are unchanged)."""
    import datasets

    from massivetext.data.corpora.stdlib import cache_dir as default_cache

    root = os.path.join(cache_dir or default_cache(), "datasets")
    os.makedirs(root, exist_ok=True)
    key = _cache_key(kind, files, options)
    arrow_path, report_path = os.path.join(root, f"{key}.arrow"), os.path.join(root, f"{key}.report.json")
    if os.path.exists(arrow_path) and os.path.exists(report_path) and not strict:
        _restore_report(report, report_path)
    else:
        # the report first, the Arrow file last: a cache entry counts only when both are there, each complete
        with atomic_path(arrow_path) as tmp:
            _write_arrow(_records(kind, files, strict, report, options), tmp, report, strict, numeric=kind == "csv")
            summary = {"n_good": report.n_good, "n_bad": report.n_bad, "files": report.files,
                       "bad": [vars(b) for b in report.bad]}  # fmt: skip
            atomic_write_json(report_path, summary)
    return datasets.Dataset.from_file(arrow_path)


def _restore_report(report: LoadReport, path: str) -> None:
    with open(path) as f:
        saved = json.load(f)
    report.n_good, report.n_bad, report.files = saved["n_good"], saved["n_bad"], saved["files"]
    report.bad = [BadRecord(**b) for b in saved["bad"]]
    if report.errors_file:
        with open(report.errors_file, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(b) + "\n" for b in saved["bad"])


def _write_arrow(records: Iterator[tuple], path: str, report: LoadReport, strict: bool, numeric: bool) -> None:
    """Write records in batches; the first batch fixes the schema, later records that do not fit it are set aside."""
    writer: pa.RecordBatchStreamWriter | None = None
    schema: pa.Schema | None = None
    batch: list[tuple] = []

    def flush() -> None:
        nonlocal writer, schema
        if schema is None:
            schema = _infer_schema([r for _, _, r in batch], numeric)
            writer = pa.ipc.new_stream(path, schema)
        writer.write_table(_to_table(batch, schema, report, strict, numeric))
        batch.clear()

    for item in records:
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    if batch or writer is None:
        if not batch and writer is None:
            schema = pa.schema([("text", pa.string())])  # an empty load is an empty table, not a crash
            writer = pa.ipc.new_stream(path, schema)
        else:
            flush()
    writer.close()


def _infer_schema(rows: list[dict], numeric: bool) -> pa.Schema:
    """Each column takes the type of its first non-null value (ints widen to floats when both occur)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    fields = []
    for k in keys:
        values = [r.get(k) for r in rows]
        if numeric:  # CSV fields are strings; whole-number and decimal columns get numeric types, as pandas does
            values = _numeric(values)
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            kind = pa.float64() if any(isinstance(v, float) for v in present) else pa.int64()
        else:
            kind = pa.array(present[:1]).type if present else pa.null()
        fields.append(pa.field(k, kind))
    return pa.schema(fields)


def _numeric(values: list) -> list:
    for cast in (int, float):
        try:
            return [None if v in ("", None) else cast(v) for v in values]
        except (TypeError, ValueError):
            continue
    return values


def _coerce(rec: dict, schema: pa.Schema) -> dict:
    """CSV strings to the column types the first batch chose."""
    out = dict(rec)
    for f in schema:
        v = out.get(f.name)
        if isinstance(v, str) and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)):
            out[f.name] = None if v == "" else (int(v) if pa.types.is_integer(f.type) else float(v))
    return out


def _to_table(batch: list[tuple], schema: pa.Schema, report: LoadReport, strict: bool, numeric: bool) -> pa.Table:
    names = set(schema.names)
    rows = []
    for path, line, rec in batch:
        extra = set(rec) - names
        if extra:
            _reject(report, strict, path, line, f"unexpected field(s) {sorted(extra)} not in the schema {schema.names}")
            continue
        if numeric:
            try:
                rec = _coerce(rec, schema)
            except ValueError as e:
                _reject(report, strict, path, line, f"value does not fit its column's type: {e}")
                continue
        rows.append((path, line, rec))
    try:
        return pa.Table.from_pylist([r for _, _, r in rows], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        good = []
        for path, line, rec in rows:  # find the offenders one by one; the rest of the batch goes through
            try:
                pa.Table.from_pylist([rec], schema=schema)
                good.append(rec)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
                _reject(report, strict, path, line, f"record does not fit the schema: {e}")
        return pa.Table.from_pylist(good, schema=schema)


def _reject(report: LoadReport, strict: bool, path: str, line: int, reason: str) -> None:
    if strict:
        raise BadInputError(reason, path, line)
    report.n_good -= 1  # it was counted good by the reader
    report.add_bad(BadRecord(path, line, reason), strict=False)
