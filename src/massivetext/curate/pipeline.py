"""The Pipeline: runs steps (``step.py``) over input files, task by task, resumable and exact.

The pipeline cuts its step list at each GlobalStep into segments, runs a segment over all tasks writing
intermediate shards to ``_work/stage-k/``, calls ``global_step.prepare(shards, workdir, executor, stats)``, then runs
the next segment over those shards with the GlobalStep applied first as an ordinary step.

Resumable and exact: each task writes its shard atomically, then a completion marker ``_work/done/seg<k>-<task>.json``
holding its statistics; a re-run skips tasks with a marker, so after a crash the output is byte-identical to an
uninterrupted run. Task planning never depends on the number of workers, so workers=1 and workers=N agree.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from massivetext._atomic import atomic_write_text, publish, remove_stale, tmp_path
from massivetext.curate.document import Document
from massivetext.curate.io import (
    FORMATS,
    ReadOptions,
    RemovedWriter,
    ShardWriter,
    Task,
    output_record,
    plan_tasks,
    read_task,
    write_intermediate,
)
from massivetext.curate.recipes import load_recipe
from massivetext.curate.stats import Stats, bad_reason_kind, length_bin
from massivetext.curate.step import GlobalStep, Step, TaskContext
from massivetext.data.readers import LoadReport, resolve_files
from massivetext.errors import ConfigError

DEFAULT_TASK_BYTES = 32 * 1024 * 1024


def _unique_names(steps: list[Step]) -> None:
    seen: dict[str, int] = {}
    for s in steps:
        n = seen.get(s.name, 0)
        seen[s.name] = n + 1
        if n:
            s.name = f"{s.name}-{n + 1}"


def _metered(step: Step, upstream: Iterator[Document], ctx: TaskContext) -> Iterator[Document]:
    """Run ``step`` over ``upstream``, counting docs and bytes in and out and the time spent in the step itself."""
    s = ctx.stats.step(step.name)
    up_time = [0.0]
    clock = time.perf_counter

    def inflow() -> Iterator[Document]:
        it = iter(upstream)
        while True:
            t = clock()
            doc = next(it, None)
            up_time[0] += clock() - t
            if doc is None:
                return
            s.docs_in += 1
            s.bytes_in += doc.nbytes
            yield doc

    out = iter(step(inflow(), ctx))
    while True:
        t, u = clock(), up_time[0]
        doc = next(out, None)
        s.seconds += clock() - t - (up_time[0] - u)
        if doc is None:
            return
        s.docs_out += 1
        s.bytes_out += doc.nbytes
        yield doc


@dataclass
class _Job:
    pipeline: Pipeline
    segment: int
    task: Task
    output_dir: str
    strict: bool


def _paths(output_dir: str, segment: int, n_segments: int, task: int, fmt: str) -> tuple[str, str]:
    work = os.path.join(output_dir, "_work")
    marker = os.path.join(work, "done", f"seg{segment}-{task:05d}.json")
    if segment == n_segments - 1:
        shard = os.path.join(output_dir, f"part-{task:05d}{FORMATS[fmt]}")
    else:
        shard = os.path.join(work, f"stage-{segment}", f"part-{task:05d}.jsonl.zst")
    return shard, marker


def run_task(job: _Job) -> dict[str, Any]:
    """Run one task of one segment; returns its statistics (also saved in its completion marker)."""
    p, k = job.pipeline, job.segment
    segments = p.segments()
    last = k == len(segments) - 1
    shard, marker = _paths(job.output_dir, k, len(segments), job.task.index, p.output_format)
    work = os.path.join(job.output_dir, "_work")
    stats = Stats()
    for step in segments[k]:  # entries in pipeline order
        stats.step(step.name)
    report, errors_file = _error_log(work, job.task) if k == 0 else (LoadReport(), None)
    removed = None
    if p.write_removed:
        path = os.path.join(job.output_dir, "removed", f"seg{k}-{job.task.index:05d}.jsonl.zst")
        removed = RemovedWriter(path, p.read.text_field)
    ctx = TaskContext(job.task, stats, job.output_dir, work, k, job.strict, p.read.text_field, removed)
    try:
        _write_shard(_documents(job, segments[k], report, ctx), shard, p, last, stats)
        if removed is not None:
            removed.close()
    except BaseException:
        if removed is not None:
            removed.abort()
        raise
    if errors_file is not None:
        _count_bad_records(report, stats)
        publish(report.errors_file, errors_file)
    d = stats.to_dict()
    atomic_write_text(marker, json.dumps(d, ensure_ascii=False))
    return d


def _error_log(work: str, task: Task) -> tuple[LoadReport, str]:
    """A report whose bad records stream to a temporary errors file; returns it and the file's final name."""
    final = os.path.join(work, "errors", f"task-{task.index:05d}.jsonl")
    os.makedirs(os.path.dirname(final), exist_ok=True)
    report = LoadReport()
    report.errors_file = tmp_path(final)
    open(report.errors_file, "w").close()
    return report, final


def _documents(job: _Job, steps: list[Step], report: LoadReport, ctx: TaskContext) -> Iterator[Document]:
    """The task's documents read (counted in the first segment) and passed lazily through every step, metered."""
    docs: Iterator[Document] = read_task(job.task, job.pipeline.read, report, job.strict)
    if job.segment == 0:
        docs = _count_read(docs, ctx.stats)
    for step in steps:
        docs = _metered(step, docs, ctx)
    return docs


def _write_shard(docs: Iterator[Document], shard: str, p: Pipeline, last: bool, stats: Stats) -> None:
    """The run's output records (last segment) or intermediate records for the next GlobalStep."""
    with ShardWriter(shard, p.output_format if last else "jsonl", compact=not last) as w:
        for doc in docs:
            if last:
                w.write(output_record(doc, p.read.text_field))
                stats.kept_hist[length_bin(doc.nbytes)] += 1
            else:
                write_intermediate(w, doc, p.read.text_field)
        stats.docs_written = w.n if last else 0
        stats.bytes_written = w.nbytes if last else 0


def _count_bad_records(report: LoadReport, stats: Stats) -> None:
    stats.bad_records = report.n_bad
    for b in report.bad:
        key = bad_reason_kind(b.reason)
        stats.bad_reasons[key] = stats.bad_reasons.get(key, 0) + 1


def _count_read(docs: Iterator[Document], stats: Stats) -> Iterator[Document]:
    for doc in docs:
        n = doc.nbytes
        stats.docs_read += 1
        stats.bytes_read += n
        stats.read_hist[length_bin(n)] += 1
        yield doc


class Pipeline:
    """A list of steps run over input files.

    ``Pipeline(steps).run(inputs, output_dir, workers=N)`` reads ``inputs`` (files, directories, globs; JSONL,
    JSON, CSV, text, Parquet, compressed), runs every document through ``steps`` and writes
    ``output_dir/part-XXXXX.jsonl.zst`` (or ``.parquet``), ``stats.json``, ``errors.jsonl`` and ``report.html``.
    """

    def __init__(
        self,
        steps: list[Step] | str,
        *,
        text_field: str = "text",
        id_field: str = "id",
        source_field: str = "source",
        input_kind: str | None = None,
        text_sample_by: str = "document",
        output_format: str = "jsonl",
        write_removed: bool = False,
        task_bytes: int = DEFAULT_TASK_BYTES,
    ):
        self.steps = load_recipe(steps) if isinstance(steps, str) else list(steps)
        _unique_names(self.steps)
        if output_format not in FORMATS:
            raise ConfigError(f"unknown output format {output_format!r}; use one of {', '.join(FORMATS)}")
        if task_bytes < 1:
            raise ConfigError("task_bytes must be positive")
        self.read = ReadOptions(text_field, id_field, source_field, input_kind, text_sample_by)
        self.output_format = output_format
        self.write_removed = write_removed
        self.task_bytes = task_bytes

    @classmethod
    def from_recipe(cls, recipe: str | dict[str, Any], **kwargs: Any) -> Pipeline:
        return cls(load_recipe(recipe), **kwargs)

    def segments(self) -> list[list[Step]]:
        """The step list cut at each GlobalStep; a GlobalStep starts the segment after the one it needs to see."""
        segs: list[list[Step]] = [[]]
        for s in self.steps:
            if isinstance(s, GlobalStep):
                segs.append([s])
            else:
                segs[-1].append(s)
        return segs

    def fingerprint(self, tasks: list[Task]) -> dict[str, Any]:
        return json.loads(
            json.dumps(
                {
                    "steps": [[type(s).__name__, s.config()] for s in self.steps],
                    "read": dataclasses.asdict(self.read),
                    "output_format": self.output_format,
                    "task_bytes": self.task_bytes,
                    "tasks": [dataclasses.asdict(t) for t in tasks],
                    "files": {f: os.path.getsize(f) for t in tasks for f in t.files},
                },
                default=str,
            )
        )

    def run(
        self,
        inputs: str | os.PathLike | Iterable[str | os.PathLike],
        output_dir: str | os.PathLike,
        workers: int | None = None,
        executor: Any = None,
        strict: bool = False,
        resume: bool = True,
        progress: bool = True,
        ray_address: str | None = None,
        report: bool = True,
        keep_work: bool = False,
    ) -> Stats:
        """Run the pipeline; returns the run's statistics (also in ``output_dir/stats.json``).

        A successful run deletes its intermediate corpus copies (``_work/stage-*``, the GlobalSteps' work files,
        per-task error files already merged into ``errors.jsonl``) and keeps only what resume and audit need: the
        plan, the completion markers and the final statistics (``_work/done/``). ``keep_work=True`` keeps it all.
        """
        from massivetext.executors import get_executor

        t0 = time.perf_counter()
        out = os.fspath(output_dir)
        files = resolve_files(inputs)
        tasks = plan_tasks(files, self.task_bytes, self.read)
        work = os.path.join(out, "_work")
        plan_file = os.path.join(work, "plan.json")
        plan = self.fingerprint(tasks)
        if not resume and os.path.isdir(out):
            shutil.rmtree(work, ignore_errors=True)
            for name in os.listdir(out):
                if name.startswith("part-") or name in (
                    "stats.json",
                    "errors.jsonl",
                    "report.html",
                    "removed",
                    "data_card.md",
                ):
                    p = os.path.join(out, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
        if os.path.exists(plan_file):
            with open(plan_file, encoding="utf-8") as f:
                old = json.load(f)
            if old != plan:
                raise ConfigError(
                    f"{out} holds a different run (other inputs, steps or options); "
                    "use another output directory or resume=False (--no-resume)"
                )
        atomic_write_text(plan_file, json.dumps(plan, ensure_ascii=False))
        finished = os.path.join(work, "done", "run.json")
        if os.path.exists(finished):  # this very run already completed: its intermediates may be gone
            run_stats = Stats.load(finished)
            self._finish(out, run_stats, report, keep_work)
            return run_stats
        remove_stale(out)  # temporary files of a killed run: never trusted, never left in the output
        ex = get_executor(executor, workers, ray_address)
        try:
            if hasattr(ex, "progress"):
                ex.progress = progress
            segments = self.segments()
            run_stats = Stats()
            for step in self.steps:
                run_stats.step(step.name)
            seg_tasks = tasks
            for k, seg in enumerate(segments):
                if k > 0:
                    glob_step = seg[0]
                    shards = [_paths(out, k - 1, len(segments), t.index, "jsonl")[0] for t in seg_tasks]
                    assert isinstance(glob_step, GlobalStep)
                    glob_step.prepare(shards, os.path.join(work, f"global-{glob_step.name}"), ex, run_stats)
                    seg_tasks = [Task(i, [s], intermediate=True) for i, s in enumerate(shards)]
                todo = [t for t in seg_tasks if not os.path.exists(_paths(out, k, len(segments), t.index, "jsonl")[1])]
                ex.map(run_task, [_Job(self, k, t, out, strict) for t in todo], desc=f"curate {k + 1}/{len(segments)}")
                for t in seg_tasks:
                    run_stats.merge(Stats.load(_paths(out, k, len(segments), t.index, "jsonl")[1]))
        finally:
            if ex is not executor and hasattr(ex, "close"):
                ex.close()  # a pool this run started
        self._merge_errors(out, tasks)
        run_stats.extra.setdefault("run", {})
        run_stats.extra["run"] = {
            "tasks": len(tasks),
            "files": len(files),
            "seconds": time.perf_counter() - t0,
            "steps": [s.name for s in self.steps],
        }
        from massivetext.curate.provenance import input_manifest, library_versions, recipe_record

        run_stats.extra["provenance"] = {
            "inputs": input_manifest(files),
            "recipe": recipe_record(self.steps),
            "read": dataclasses.asdict(self.read),
            "output_format": self.output_format,
            "task_bytes": self.task_bytes,
            "libraries": library_versions(),
        }
        run_stats.extra["run"]["seconds"] = time.perf_counter() - t0  # wall time, hashing included
        text = run_stats.save(finished)  # first: from here a rerun needs no intermediate file
        self._finish(out, run_stats, report, keep_work, text)
        return run_stats

    def _finish(self, out: str, run_stats: Stats, report: bool, keep_work: bool, text: str | None = None) -> None:
        from massivetext.curate.provenance import data_card

        run_stats.save(os.path.join(out, "stats.json"), text)  # text: the same stats' JSON, already made
        atomic_write_text(os.path.join(out, "data_card.md"), data_card(run_stats, out))
        if report:
            from massivetext.curate.report import write_report

            write_report(run_stats, os.path.join(out, "report.html"), [s.name for s in self.steps])
        if not keep_work:
            remove_work_copies(out)

    @staticmethod
    def _merge_errors(out: str, tasks: list[Task]) -> None:
        parts = []
        for t in tasks:
            p = os.path.join(out, "_work", "errors", f"task-{t.index:05d}.jsonl")
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    parts.append(f.read())
        atomic_write_text(os.path.join(out, "errors.jsonl"), "".join(parts))


def remove_work_copies(output_dir: str) -> None:
    """Delete a finished run's intermediate data under ``_work/`` (stage shards, GlobalStep work files, per-task
    error files), keeping ``plan.json`` and ``done/`` (markers and final statistics, a few KB)."""
    work = os.path.join(output_dir, "_work")
    if not os.path.isdir(work):
        return
    for name in os.listdir(work):
        if name in ("plan.json", "done"):
            continue
        p = os.path.join(work, name)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.remove(p)


def apply(steps: list[Step], texts: Iterable[str]) -> tuple[list[str], Stats]:
    """Run steps over plain texts in this process (no files): the kept, possibly changed, texts and the stats."""
    stats = Stats()
    for s in steps:
        stats.step(s.name)
    ctx = TaskContext(Task(0, []), stats, "", "")
    docs: Iterator[Document] = (Document(str(i), t, order=(0, i)) for i, t in enumerate(texts))
    for s in steps:
        docs = _metered(s, docs, ctx)
    return [d.text for d in docs], stats


__all__ = ["Pipeline", "apply", "remove_work_copies", "run_task"]
