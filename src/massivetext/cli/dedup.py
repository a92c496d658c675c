"""``massivetext dedup``: exact and near-duplicate removal (and optionally decontamination), without a recipe."""

from __future__ import annotations

import argparse
import sys

from massivetext.errors import ConfigError


def register(subparsers) -> None:
    from massivetext.cli.curate import add_run_options

    p = subparsers.add_parser(
        "dedup",
        help="remove exact and near duplicates (MinHash LSH) and evaluation-set overlaps",
        description="Exact dedup (normalized text hash), then near dedup (word n-gram MinHash LSH, candidates "
        "verified by their true Jaccard), then, with --eval, decontamination; first occurrence kept. Writes "
        "part-*.jsonl.zst, stats.json and report.html to --output; re-running resumes.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or glob patterns")
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument("--no-exact", dest="exact", action="store_false", help="skip exact dedup")
    p.add_argument("--no-near", dest="near", action="store_false", help="skip near dedup")
    p.add_argument("--normalization", default="whitespace,case", help="exact dedup: whitespace,case,punctuation,digits")
    p.add_argument("--ngram", type=int, default=13, help="words per shingle (default 13, as in the paper)")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard similarity that makes a duplicate")
    p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="keep LSH candidates unverified")
    p.add_argument(
        "--eval",
        dest="eval_sets",
        action="append",
        default=[],
        metavar="FILE",
        help="evaluation set to decontaminate against (repeatable)",
    )
    p.add_argument("--decontaminate-mode", choices=["jaccard", "ngram"], default="jaccard")
    p.add_argument("--min-overlap", type=int, default=1, help="ngram mode: shared n-grams that make a hit")
    add_run_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from massivetext.cli.curate import run_pipeline
    from massivetext.curate.dedup.decontaminate import Decontaminator
    from massivetext.curate.dedup.exact import ExactDeduplicator
    from massivetext.curate.dedup.minhash import MinHashDeduplicator
    from massivetext.curate.pipeline import Pipeline

    steps = []
    if args.exact:
        steps.append(ExactDeduplicator(normalization=args.normalization))
    if args.near:
        steps.append(
            MinHashDeduplicator(ngram=args.ngram, threshold=args.threshold, num_perm=args.num_perm, verify=args.verify)
        )
    if args.eval_sets:
        steps.append(
            Decontaminator(
                eval_sets=args.eval_sets,
                mode=args.decontaminate_mode,
                ngram=args.ngram,
                threshold=args.threshold,
                min_overlap=args.min_overlap,
                text_field=args.text_field,
                id_field=args.id_field,
            )
        )
    if not steps:
        raise ConfigError("nothing to do: --no-exact and --no-near without --eval")
    pipe = Pipeline(steps, text_field=args.text_field, id_field=args.id_field, task_bytes=args.task_size)
    stats = run_pipeline(pipe, args)
    if not args.quiet:
        for s in pipe.steps:
            extra = stats.extra.get(s.name, {})
            sizes = extra.get("cluster_size_histogram")
            print(f"{s.name}: removed {extra.get('docs_removed', 0)}" + (f"; cluster sizes {sizes}" if sizes else ""))
        print(f"output: {args.output} (stats.json, report.html)", file=sys.stderr)
    return 0
