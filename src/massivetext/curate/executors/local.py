"""Run tasks in worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


class LocalExecutor:
    """A process pool of ``workers`` processes (default: all cores), started with ``spawn`` so it is safe next to
    threads, torch or ray. ``workers=1`` runs in this process (no pool), which is also what a debugger wants."""

    def __init__(self, workers: int | None = None, progress: bool = True):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.progress = progress

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
            ctx = mp.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=ctx) as pool:
                futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
                try:
                    for fut in as_completed(futures):
                        results[futures[fut]] = fut.result()
                        bar.update()
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
            return results
        finally:
            bar.close()
