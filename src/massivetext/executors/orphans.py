"""Worker processes end when the process that started them dies, even by ``kill -9``.

A pool worker waits for work in ``Queue.get``; if its parent is killed nobody tells it, and it (and the
multiprocessing resource tracker, which lives as long as any worker holds its pipe) would run forever. Two guards,
both set up by ``exit_with_parent`` in the worker's initializer:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its parent dies. (Linux
  sends it when the *thread* that started the worker ends; pools start their workers from the thread that calls
  ``map``, which outlives them in every use here, and the watchdog covers the rest.)
- everywhere, a daemon thread that checks every ``interval`` seconds whether the parent pid changed (an orphan is
  re-parented to init or a subreaper) and then ends the process with ``os._exit``.

A parent that died before the worker got this far is caught at once by the same pid comparison.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
ORPHAN_EXIT_CODE = 70  # what an orphaned worker exits with (EX_SOFTWARE), so a log can tell why


def _set_parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False  # no prctl (an unusual libc): the watchdog alone


def _watch(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(ORPHAN_EXIT_CODE)  # no cleanup to run: the parent that wanted the results is gone
        time.sleep(interval)


def exit_with_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Make this (worker) process end when ``parent_pid``, its parent, dies. Call it first in a pool initializer."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(ORPHAN_EXIT_CODE)
    threading.Thread(target=_watch, args=(parent_pid, interval), name="parent-watchdog", daemon=True).start()


def worker_initializer(
    parent_pid: int, initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()
) -> None:
    """A pool ``initializer`` that arms ``exit_with_parent`` and then runs the caller's own initializer."""
    exit_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)
