"""Atomic writes: build a file (or directory) under a temporary name beside it, then rename it into place.

A rename within one directory is atomic (``os.replace``), so a reader, or a resumed run after a crash (even
``kill -9``), sees either the old state or the whole new file, never half of one. Every MassiveText writer that
others trust (curated shards, completion markers, dedup arrays, token shards, dataset caches, checkpoints) goes
through this module, so the temporary names follow one rule: ``<name>.tmp-<pid>`` (the pid keeps two writers of
the same file from sharing one), and ``remove_stale`` knows what a killed run left behind.

``fsync=True`` also flushes the data to disk before the rename, for files that must survive a power loss, not only
a crash of the process.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TMP_MARK = ".tmp-"


def tmp_path(path: str | os.PathLike) -> str:
    """The temporary name ``path`` is written under before ``publish``: same directory, so the rename is atomic."""
    return f"{os.fspath(path)}{TMP_MARK}{os.getpid()}"


def is_tmp(name: str | os.PathLike) -> bool:
    """Whether a file name is one of ``tmp_path``'s (a leftover when no writer holds it)."""
    return TMP_MARK in os.path.basename(os.fspath(name))


def publish(tmp: str | os.PathLike, path: str | os.PathLike, fsync: bool = False) -> None:
    """Rename the finished ``tmp`` to ``path`` (replacing what was there)."""
    if fsync:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp, path)


def discard(tmp: str | os.PathLike) -> None:
    """Remove an unfinished temporary file or directory, if it is there."""
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass


@contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = False) -> Iterator[str]:
    """A temporary path to write ``path``'s content to (with any library that takes a path); published when the
    block ends without an exception, removed otherwise. The parent directory is created."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = tmp_path(path)
    try:
        yield tmp
        publish(tmp, path, fsync)
    except BaseException:
        discard(tmp)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", fsync: bool = False, **kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` that publishes on a clean exit; text modes default to UTF-8."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path, fsync) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def atomic_write_text(path: str | os.PathLike, text: str, fsync: bool = False) -> None:
    with atomic_open(path, "w", fsync) as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = False) -> None:
    with atomic_open(path, "wb", fsync) as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any, fsync: bool = False, **dumps: Any) -> None:
    """``json.dumps(obj, **dumps)`` plus a newline, written atomically."""
    atomic_write_text(path, json.dumps(obj, **dumps) + "\n", fsync)


def replace_directory(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put the finished directory ``tmp`` in the place of ``path``. A directory cannot replace a non-empty one in
    one rename, so the old one is first renamed aside and removed last: at every moment either the old or the new
    directory is complete on disk (after a crash in between, the old one is at ``<path>.old-<pid>``)."""
    path = os.fspath(path)
    old = None
    if os.path.lexists(path):
        old = f"{path}.old-{os.getpid()}"
        discard(old)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        discard(old)


@contextmanager
def atomic_directory(path: str | os.PathLike, tmp: str | os.PathLike | None = None) -> Iterator[Path]:
    """A fresh temporary directory to fill (``tmp``, default ``tmp_path(path)``); it replaces ``path`` when the
    block ends without an exception and is removed otherwise."""
    tmp = Path(tmp if tmp is not None else tmp_path(path))
    discard(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        replace_directory(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def remove_stale(root: str | os.PathLike) -> int:
    """Remove the temporary files a killed run left anywhere below ``root``; returns how many. Call it only when
    no writer is at work there (at the start of a run)."""
    n = 0
    for d, dirs, names in os.walk(root):
        for name in [*names, *(x for x in dirs if is_tmp(x))]:
            if is_tmp(name):
                discard(os.path.join(d, name))
                n += 1
        dirs[:] = [x for x in dirs if not is_tmp(x)]
    return n


__all__ = [
    "TMP_MARK",
    "atomic_directory",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "discard",
    "is_tmp",
    "publish",
    "remove_stale",
    "replace_directory",
    "tmp_path",
]
