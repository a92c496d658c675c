"""``massivetext corpus``: write an embedded corpus to a file."""

from __future__ import annotations

import argparse
import os
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="write the embedded stdlib corpus (JSON Lines) to a file")
    p.add_argument("name", choices=["stdlib"], help="which embedded corpus")
    p.add_argument("--output", "-o", default=None, help="output .jsonl path (default: the cache)")
    p.add_argument("--max-docs", type=int, default=None, help="keep only the first N documents")
    p.add_argument("--force", action="store_true", help="rebuild even when the file exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from massivetext.data.corpora.stdlib import build_stdlib_corpus

    t0 = time.perf_counter()
    path = build_stdlib_corpus(args.output, max_docs=args.max_docs, force=args.force)
    n = sum(1 for _ in open(path, "rb"))
    print(f"{path}: {n} documents, {os.path.getsize(path) / 1e6:.1f} MB ({time.perf_counter() - t0:.1f} s)")
    return 0
