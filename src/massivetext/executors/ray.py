"""Run tasks on Ray: one Ray task per item, results in the order of the items.

``RayExecutor()`` starts (or joins) a local Ray instance; ``RayExecutor(address="auto")`` or
``address="ray://head:10001"`` joins an existing cluster. Workers read and write the paths they are given, so on a
cluster the input and output directories must be on storage every node sees (NFS, a shared volume), and
``massivetext`` must be importable on every node (installed there, or shipped with ``runtime_env``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def _call(fn: Callable[[T], R], item: T) -> R:
    return fn(item)


class RayExecutor:
    """``map(fn, items)`` as one Ray task per item (``num_cpus_per_task`` CPUs each).

    ``address``: ``None`` starts a local instance (or reuses the one this process already joined); anything else is
    passed to ``ray.init(address=...)``. ``num_cpus`` caps a local instance's CPUs (ignored when joining a cluster).
    ``runtime_env`` is passed to ``ray.init`` (e.g. ``{"py_modules": [massivetext]}`` for nodes without it).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        num_cpus_per_task: float = 1,
        runtime_env: dict[str, Any] | None = None,
        progress: bool = True,
    ):
        self.address, self.num_cpus = address, num_cpus
        self.num_cpus_per_task = num_cpus_per_task
        self.runtime_env = runtime_env
        self.progress = progress

    def _init(self) -> Any:
        try:
            import ray
        except ModuleNotFoundError as e:
            from massivetext.errors import ConfigError

            raise ConfigError("the ray executor needs ray: pip install 'massivetext[ray]'") from e
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.runtime_env:
                kwargs["runtime_env"] = self.runtime_env
            if self.address is None:
                kwargs["num_cpus"] = self.num_cpus
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as e:
                from massivetext.errors import ConfigError

                raise ConfigError(f"cannot reach the Ray cluster at {self.address!r}: {e}") from e
        return ray

    def map(self, fn: Callable[[T], R], items: list[T], desc: str = "") -> list[R]:
        if not items:
            return []
        ray = self._init()
        remote = ray.remote(num_cpus=self.num_cpus_per_task)(_call)  # tasks are idempotent: retried on node loss
        fn_ref = ray.put(fn)  # shipped once, not once per task
        refs = [remote.remote(fn_ref, item) for item in items]
        index = {r: i for i, r in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        with tqdm(total=len(refs), desc=desc or "tasks", unit="task", disable=not self.progress or None) as bar:
            try:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for r in done:
                        results[index[r]] = ray.get(r)  # re-raises a task's exception here
                        bar.update()
            except BaseException:
                for r in pending:
                    ray.cancel(r)
                raise
        return results
