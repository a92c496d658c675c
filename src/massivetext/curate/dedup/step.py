"""What the dedup and decontamination GlobalSteps share: removal lists applied per document, stats, workdir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from massivetext.curate.dedup.store import DocReader, example_pairs, load_removals
from massivetext.curate.document import Document
from massivetext.curate.step import GlobalStep, TaskContext


class RemovalStep(GlobalStep):
    """``prepare`` writes ``<workdir>/remove/<shard>.npy`` (positions to drop); ``__call__`` drops them."""

    reason: str = "duplicate"

    def _workdir_for(self, ctx: TaskContext) -> str:
        return self.__dict__.get("_workdir") or os.path.join(ctx.workdir, f"global-{self.name}")

    def __call__(self, docs: Iterator[Document], ctx: TaskContext) -> Iterator[Document]:
        workdir = self._workdir_for(ctx)
        shard, drop = -1, frozenset()
        for doc in docs:
            s, pos = doc.order
            if s != shard:  # a set: one hash lookup per document instead of a numpy call
                shard, drop = s, frozenset(load_removals(workdir, s).tolist())
            if pos in drop:
                ctx.drop(self.name, self.reason, doc)
            else:
                yield doc

    def _record(self, workdir: str, shards: list[str], stats: Any, result: dict, reader: DocReader) -> dict:
        self.__dict__["_workdir"] = workdir
        removed, kept = result.pop("_pairs", (np.zeros(0, np.uint64), np.zeros(0, np.uint64)))
        result["example_pairs"] = example_pairs(shards, reader, removed, kept)
        if stats is not None:
            stats.extra[self.name] = result
        return result
