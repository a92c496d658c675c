"""``run_file``: a pipeline over a file (any format ``load_dataset`` reads), streamed, resumable.

Every input record is kept and gets the pipeline's result under ``result_field``. Records are read lazily in
chunks; each finished chunk is written atomically as a part file and recorded in ``state.json`` beside the
output, so a run that crashes resumes at the first unfinished chunk without recomputing the done ones. Bad
records (broken lines, a missing or non-text field, an input the pipeline refuses) are set aside with file and
line in ``<output>.errors.jsonl`` and every good record still goes through.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from massivetext.data.readers import BadRecord, LoadReport, iter_records, resolve_files
from massivetext.errors import BadInputError, ConfigError, MassiveTextError

DEFAULT_FIELDS = {"question-answering": "question,context"}


@dataclass
class RunReport:
    n_done: int = 0
    n_bad: int = 0
    n_skipped_chunks: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    output: str = ""
    errors_file: str = ""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _records(paths: list[str], report: LoadReport, strict: bool) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for path in paths:
        for line, rec in iter_records(path, report=report, strict=strict):
            yield path, line, rec


def _item(rec: Any, fields: list[str]) -> Any:
    if not isinstance(rec, dict):
        raise BadInputError(f"a record must be an object, not {type(rec).__name__}")
    missing = [f for f in fields if f not in rec]
    if missing:
        raise BadInputError(f"no field {missing[0]!r} (fields: {sorted(rec)[:8]})")
    if len(fields) == 1:
        return rec[fields[0]]
    return {f: rec[f] for f in fields}


def run_file(
    pipe: Any,
    input: str | list[str],
    output: str,
    field: str | None = None,
    result_field: str = "result",
    call_kwargs: dict[str, Any] | None = None,
    chunk_size: int = 256,
    strict: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    model_id: str | None = None,
) -> RunReport:
    """Run ``pipe`` over the records of ``input`` and write JSON Lines to ``output`` (see the module doc)."""
    call_kwargs = dict(call_kwargs or {})
    fields = (field or DEFAULT_FIELDS.get(pipe.task, "text")).split(",")
    paths = resolve_files(input)
    out = Path(output)
    parts = out.with_name(out.name + ".parts")
    errors = out.with_name(out.name + ".errors.jsonl")
    identity = {
        "task": pipe.task_name,
        "model": model_id or type(pipe.model).__name__,
        "inputs": [(p, os.path.getsize(p)) for p in paths],
        "fields": fields,
        "result_field": result_field,
        "kwargs": call_kwargs,
        "chunk_size": chunk_size,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    state_path = parts / "state.json"
    done: set[int] = set()
    if parts.exists() and not overwrite:
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("key") != key:
            raise ConfigError(
                f"{parts}: left by a different run (other inputs, model or options); remove it or pass overwrite"
            )
        done = set(state.get("done", []))
    elif parts.exists():
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    report = RunReport(output=str(out), errors_file=str(errors))
    load = LoadReport()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc=f"{pipe.task_name}", unit="rec", file=sys.stderr, dynamic_ncols=True)
    records = _records(paths, load, strict)
    index = 0
    while True:
        seen_bad = len(load.bad)
        chunk = []
        for rec in records:
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                break
        reader_bad = load.bad[seen_bad:]
        if not chunk and not reader_bad:
            break
        part = parts / f"part-{index:06d}.jsonl"
        if index in done:  # finished before a crash: read past it, compute nothing
            report.n_skipped_chunks += 1
        else:
            lines, bad = _run_chunk(pipe, chunk, fields, result_field, call_kwargs, strict)
            bad = [*reader_bad, *bad]
            _atomic_write(part, "".join(lines))
            _atomic_write(
                parts / f"part-{index:06d}.errors.jsonl",
                "".join(json.dumps(b.__dict__, ensure_ascii=False) + "\n" for b in bad),
            )
            done.add(index)
            _atomic_write(state_path, json.dumps({"key": key, "identity": identity, "done": sorted(done)}, default=str))
        if bar is not None:
            bar.update(len(chunk))
        index += 1
        if not chunk:
            break
    if bar is not None:
        bar.close()
    # assemble: the output and the errors file appear whole or not at all
    tmp_out = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp_err = errors.with_name(f".{errors.name}.tmp-{os.getpid()}")
    with open(tmp_out, "w", encoding="utf-8") as fo, open(tmp_err, "w", encoding="utf-8") as fe:
        for i in range(index):
            p = parts / f"part-{i:06d}.jsonl"
            with open(p, encoding="utf-8") as f:
                for line in f:
                    fo.write(line)
                    report.n_done += 1
            with open(parts / f"part-{i:06d}.errors.jsonl", encoding="utf-8") as f:
                for line in f:
                    fe.write(line)
                    b = BadRecord(**json.loads(line))
                    report.n_bad += 1
                    if len(report.bad) < 1000:
                        report.bad.append(b)
    os.replace(tmp_out, out)
    os.replace(tmp_err, errors)
    shutil.rmtree(parts)
    return report


def _run_chunk(pipe, chunk, fields, result_field, call_kwargs, strict) -> tuple[list[str], list[BadRecord]]:
    good, items, bad = [], [], []
    for path, line, rec in chunk:
        try:
            items.append(_item(rec, fields))
            good.append((path, line, rec))
        except MassiveTextError as e:
            if strict:
                raise BadInputError(str(e), path, line) from e
            bad.append(BadRecord(path, line, str(e)))
    try:
        results = list(pipe.iter_results(items, **call_kwargs))
    except BadInputError:
        # one refused input spoils a batch: redo one by one to set exactly the bad ones aside
        results = []
        for (path, line, _), item in zip(good, items):
            try:
                results.append(next(iter(pipe.iter_results([item], **call_kwargs))))
            except BadInputError as e:
                if strict:
                    raise BadInputError(str(e), path, line) from e
                bad.append(BadRecord(path, line, str(e)))
                results.append(_BAD)
    lines = []
    for (_, _, rec), result in zip(good, results):
        if result is _BAD:
            continue
        lines.append(json.dumps({**rec, result_field: result}, ensure_ascii=False, default=_plain) + "\n")
    bad.sort(key=lambda b: (b.file, b.line))
    return lines, bad


_BAD = object()


def _plain(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"cannot write {type(x).__name__} as JSON")
