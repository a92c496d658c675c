"""``massivetext quickstart``: the whole road on the embedded corpus (see ``massivetext.quickstart.run``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quickstart", help="curate, tokenize, train, evaluate and sample on the embedded corpus")
    p.add_argument("--output", "-o", default="runs/quickstart", help="run directory (default: runs/quickstart)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget; training gets what is left")
    p.add_argument("--max-docs", type=int, default=None, help="use only the first N corpus documents")
    p.add_argument("--workers", type=int, default=None, help="processes for curation and encoding (default: all)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--force", action="store_true", help="redo stages that are already complete")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import psutil

    from massivetext.quickstart.run import QuickstartConfig, quickstart

    cfg = QuickstartConfig(  # checks its own fields: a bad one is one line naming the flag, exit 2
        output=args.output, minutes=args.minutes, max_docs=args.max_docs, workers=args.workers,
        vocab_size=args.vocab_size, n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd,
        block_size=args.block_size, batch_size=args.batch_size, force=args.force,
    )  # fmt: skip
    # the budget counts from the process's start: importing torch is part of the wall time a user sees
    quickstart(cfg, started_at=psutil.Process().create_time())
    return 0
