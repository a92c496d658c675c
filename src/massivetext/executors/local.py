"""Run tasks in worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from tqdm.auto import tqdm

from massivetext.executors.orphans import worker_initializer

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    """A process pool of ``workers`` processes (default: all cores), started with ``spawn`` so it is safe next to
    threads, torch or ray. ``workers=1`` runs in this process (no pool), which is also what a debugger wants.

    The pool is started on the first parallel ``map`` and reused by the next ones (deduplication runs several short
    stages; a fresh spawn pool per stage cost more than the stages), until ``close()``. Workers end when this
    process dies, even by ``kill -9`` (``executors/orphans.py``). ``initializer(*initargs)`` runs once in each
    worker, as in ``ProcessPoolExecutor``."""

    def __init__(
        self,
        workers: int | None = None,
        progress: bool = True,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.progress = progress
        self.initializer, self.initargs = initializer, initargs
        self._pool: ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(self, fn: Callable[[T], R], items: list[T], desc: str = "") -> list[R]:
        if not items:
            return []
        bar = tqdm(total=len(items), desc=desc or "tasks", unit="task", disable=not self.progress or None)
        try:
            if self.workers == 1 or len(items) == 1:
                out = []
                for item in items:
                    out.append(fn(item))
                    bar.update()
                return out
            results: list = [None] * len(items)
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=worker_initializer,
                    initargs=(os.getpid(), self.initializer, self.initargs),
                )
            futures = {self._pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    bar.update()
            except BaseException:
                self.close()  # a failed or broken pool is not reused
                raise
            return results
        finally:
            bar.close()
