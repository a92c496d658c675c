"""What a curation step is, apart from the runner that drives it (``pipeline.py``).

A **Step** has a ``name`` and ``__call__(docs, ctx) -> docs``: it consumes and yields ``Document`` s lazily, so a
worker's memory stays flat whatever the corpus size. A step that removes a document says so with
``ctx.drop(step.name, reason, doc)``: the task context counts it in the statistics and hands it to the context's
``removed`` sink, if the run keeps removed documents. A **Filter** only needs ``check(text) -> (keep, reason)`` and
may be limited to some ``sources`` (glob patterns such as ``"prose/*"``; documents of other sources pass untouched,
documents without a source are treated as matching). A **GlobalStep** (deduplication, decontamination) must see
the whole run before it can decide: the runner calls its ``prepare`` over every shard first (see ``pipeline.py``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from massivetext.curate.document import Document
from massivetext.curate.io import Task
from massivetext.curate.stats import Stats


class Step:
    """Base of all steps. Subclasses set ``name`` and implement ``__call__``."""

    name: str = "step"

    def __call__(self, docs: Iterator[Document], ctx: TaskContext) -> Iterator[Document]:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Parameters that define what the step does (part of a run's fingerprint, so resume refuses a changed
        pipeline)."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


@dataclass(kw_only=True)
class Filter(Step):
    """A step that keeps or drops each document by its text alone."""

    name: str = "filter"
    sources: list[str] | None = None

    def check(self, text: str) -> tuple[bool, str | None]:
        """``(True, None)`` to keep ``text``, ``(False, reason)`` to drop it."""
        raise NotImplementedError

    def applies_to(self, source: str | None) -> bool:
        if self.sources is None or source is None:
            return True
        seen = self.__dict__.get("_applies")  # (pattern, source -> answer): a corpus has few distinct sources
        if seen is None:
            pat = re.compile("|".join(fnmatch.translate(s) for s in self.sources) or "(?!)")
            seen = self.__dict__["_applies"] = (pat, {})
        hit = seen[1].get(source)
        if hit is None:
            hit = seen[0].match(source) is not None
            if len(seen[1]) < 4096:
                seen[1][source] = hit
        return hit

    def __call__(self, docs: Iterator[Document], ctx: TaskContext) -> Iterator[Document]:
        check, drop, name = self.check, ctx.drop, self.name
        for doc in docs:
            if self.sources is not None and not self.applies_to(doc.source):
                yield doc
                continue
            keep, reason = check(doc.text)
            if keep:
                yield doc
            else:
                drop(name, reason or "dropped", doc)


class GlobalStep(Step):
    """A step that needs the whole run before it can decide: ``prepare`` sees every shard of the segment before
    it, then the step runs over those shards as an ordinary step."""

    def prepare(self, shards: list[str], workdir: str, executor: Any, stats: Stats) -> None:
        raise NotImplementedError


class RemovedSink(Protocol):
    """Where removed documents go besides the statistics (``Pipeline(write_removed=True)``: a shard of them)."""

    def add(self, step_name: str, reason: str, doc: Document) -> None: ...


@dataclass
class TaskContext:
    """What a step may know of the task it runs in, and where it reports removed documents."""

    task: Task
    stats: Stats
    output_dir: str
    workdir: str
    segment: int = 0
    strict: bool = False
    text_field: str = "text"
    removed: RemovedSink | None = None

    def drop(self, step_name: str, reason: str, doc: Document) -> None:
        """``step_name`` removed ``doc`` for ``reason``: counted, and kept in the ``removed`` sink if there is one."""
        self.stats.drop(step_name, reason, doc)
        if self.removed is not None:
            self.removed.add(step_name, reason, doc)


__all__ = ["Filter", "GlobalStep", "RemovedSink", "Step", "TaskContext"]
