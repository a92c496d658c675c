"""The embedded default corpus, built from the running Python's standard library.

Every machine with CPython holds this text, so the quickstart, the tests and the benchmarks all have a real corpus
without a download. Documents (``id``, ``text``, ``source``):

* ``prose/docstring``: module, class and function docstrings, found by parsing the ``.py`` files with ``ast``
  (nothing is imported) and cleaned the way ``inspect.cleandoc`` does;
* ``prose/pydoc-topic``: the language reference texts of ``pydoc_data.topics`` (one document per topic);
* ``code/stdlib``: each ``.py`` file itself.

Natural duplicates (the same docstring in several places) are kept: removing them is curation's job. Documents are
shuffled with a fixed seed so any prefix mixes prose and code. Two builds on the same Python are byte-identical;
the first build is cached under ``$MASSIVETEXT_CACHE`` (default ``~/.cache/massivetext``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import random
import sys
import sysconfig
import tokenize
from collections.abc import Iterator

from massivetext._atomic import atomic_open

VERSION = 1  # bump when the corpus definition changes, so caches rebuild
_SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__"}


def cache_dir() -> str:
    return os.environ.get("MASSIVETEXT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "massivetext")


def stdlib_root() -> str:
    return sysconfig.get_paths()["stdlib"]


def _stdlib_files(root: str) -> Iterator[tuple[str, str]]:
    """(relative path, absolute path) of every stdlib ``.py`` file, sorted, third-party packages excluded."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                yield os.path.relpath(path, root).replace(os.sep, "/"), path


def _read_source(path: str) -> str | None:
    raw = open(path, "rb").read()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        return raw.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None  # a few test files are deliberately undecodable


def _docstrings(rel: str, src: str) -> Iterator[tuple[str, str]]:
    """(id, docstring) for the module, class and function docstrings of one file, in source order."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return
    module = rel.removesuffix(".py").replace("/", ".")
    stack: list[tuple[ast.AST, str]] = [(tree, module)]
    while stack:
        node, qualname = stack.pop()
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=True)
            if doc and doc.strip():
                yield f"doc:{rel}:{getattr(node, 'lineno', 0)}:{qualname}", doc.strip()
        for child in reversed(list(ast.iter_child_nodes(node))):  # reversed + pop = source order
            name = getattr(child, "name", None)
            stack.append((child, f"{qualname}.{name}" if isinstance(name, str) else qualname))


def _topics() -> Iterator[tuple[str, str]]:
    path = os.path.join(stdlib_root(), "pydoc_data", "topics.py")
    if not os.path.exists(path):
        return
    # a plain data module: read its one dict literal without importing it
    topics = ast.literal_eval(ast.parse(open(path, encoding="utf-8").read()).body[-1].value)
    for key in sorted(topics):
        if topics[key].strip():
            yield f"topic:{key}", topics[key].strip()


def iter_stdlib_documents() -> Iterator[dict]:
    """Every document of the corpus, in a fixed (shuffled) order."""
    yield from _documents()


@functools.lru_cache(maxsize=1)
def _documents() -> tuple[dict, ...]:
    docs: list[dict] = []
    for rel, path in _stdlib_files(stdlib_root()):
        src = _read_source(path)
        if src is None:
            continue
        docs.extend({"id": i, "text": t, "source": "prose/docstring"} for i, t in _docstrings(rel, src))
        if src.strip():
            docs.append({"id": f"py:{rel}", "text": src, "source": "code/stdlib"})
    docs.extend({"id": i, "text": t, "source": "prose/pydoc-topic"} for i, t in _topics())
    random.Random(0).shuffle(docs)
    return tuple(docs)


def default_path() -> str:
    tag = hashlib.sha1(f"{VERSION}:{sys.version}:{stdlib_root()}".encode()).hexdigest()[:12]
    return os.path.join(cache_dir(), "corpora", f"stdlib-{sys.version_info[0]}.{sys.version_info[1]}-{tag}.jsonl")


def build_stdlib_corpus(path: str | None = None, max_docs: int | None = None, force: bool = False) -> str:
    """Write the corpus as JSON Lines to ``path`` (default: the cache) and return the path.

    Skips the build when the file exists (unless ``force``); the write is atomic, so an interrupted build never
    leaves a half file behind. ``max_docs`` keeps the first N documents of the fixed order.
    """
    path = path or (default_path() if max_docs is None else default_path().replace(".jsonl", f"-{max_docs}.jsonl"))
    if os.path.exists(path) and not force:
        return path
    with atomic_open(path, "w", newline="\n") as f:
        for n, doc in enumerate(iter_stdlib_documents()):
            if max_docs is not None and n >= max_docs:
                break
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path
