"""Executors run a function over a list of items (curation, dedup, encoding tasks) and return the results in order.

``LocalExecutor`` uses a process pool on this machine; ``RayExecutor`` (``executors/ray.py``) one Ray task per item.
Both take a picklable, module-level ``fn`` and picklable items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from massivetext.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: list[T], desc: str = "") -> list[R]: ...


def get_executor(executor: Any = None, workers: int | None = None, ray_address: str | None = None) -> Executor:
    """``None``/"local" -> ``LocalExecutor(workers)``; "ray" -> ``RayExecutor(ray_address)``; an object with
    ``map`` is used as given."""
    if executor is None or executor == "local":
        from massivetext.executors.local import LocalExecutor

        return LocalExecutor(workers=workers)
    if executor == "ray":
        try:
            from massivetext.executors.ray import RayExecutor
        except ModuleNotFoundError as e:
            raise ConfigError(f"the ray executor is not available ({e})") from e
        return RayExecutor(address=ray_address, num_cpus=workers)
    if hasattr(executor, "map"):
        return executor
    raise ConfigError(f"unknown executor {executor!r}; use 'local' or 'ray'")
