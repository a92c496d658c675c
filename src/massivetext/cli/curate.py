"""``massivetext curate``: run a curation recipe over input files."""

from __future__ import annotations

import argparse
import re
import sys

from massivetext.errors import ConfigError


def _size(s: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]?)B?", s.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (use e.g. 64MB, 512KB, 1000)")
    return max(1, int(float(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2).upper()]))


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options every curation-engine verb shares (curate, dedup): where and how the tasks run."""
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", default=None, help="address of a running Ray cluster (default: start one)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id")
    p.add_argument("--task-size", type=_size, default="32MB", help="input bytes per task (default 32MB)")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="start over, discarding earlier work")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summary table")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed record")
    p.add_argument(
        "--keep-work", action="store_true", help="keep the intermediate copies under OUTPUT/_work after success"
    )


def run_pipeline(pipe, args: argparse.Namespace):
    """Run ``pipe`` with the shared options and print the summary table; returns the run's stats."""
    from massivetext.curate.stats import summary_table

    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    stats = pipe.run(
        args.inputs,
        args.output,
        workers=args.workers,
        executor=args.executor,
        strict=args.strict,
        resume=args.resume,
        progress=not args.quiet,
        ray_address=args.ray_address,
        keep_work=getattr(args, "keep_work", False),
    )
    if not args.quiet:
        print(summary_table(stats, [s.name for s in pipe.steps]))
    return stats


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "curate",
        help="filter, deduplicate and redact raw text with a recipe",
        description="Run a curation recipe (default: the MassiveText recipe of Rae et al. 2021) over input files; "
        "writes part-*.jsonl.zst, stats.json, errors.jsonl and report.html to --output. Re-running the same "
        "command resumes an interrupted run.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or glob patterns")
    p.add_argument("--output", "-o", required=True, help="output directory")
    p.add_argument("--recipe", default="massivetext", help="built-in recipe name or a YAML file")
    add_run_options(p)
    p.add_argument("--source-field", default="source")
    p.add_argument("--format", dest="output_format", choices=["jsonl", "parquet"], default="jsonl")
    p.add_argument("--write-removed", action="store_true", help="also write removed documents with their reason")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from massivetext.curate.pipeline import Pipeline

    pipe = Pipeline(
        args.recipe,
        text_field=args.text_field,
        id_field=args.id_field,
        source_field=args.source_field,
        output_format=args.output_format,
        write_removed=args.write_removed,
        task_bytes=args.task_size,
    )
    run_pipeline(pipe, args)
    if not args.quiet:
        print(f"output: {args.output} (stats.json, report.html, errors.jsonl)", file=sys.stderr)
    return 0
