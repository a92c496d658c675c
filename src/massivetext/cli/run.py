"""``massivetext run TASK --model DIR --input FILE --output preds.jsonl``: a pipeline over a file (thin layer over
``massivetext.pipelines.files.run_file``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from massivetext.errors import ConfigError


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value  # a bare word is a string


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a pipeline (sentiment, ner, question-answering, translation...) over a file")
    p.add_argument("task", help="pipeline task, e.g. sentiment-analysis, ner, question-answering, translation_en_to_fr")
    p.add_argument("--model", required=True, help="model directory (config.json, weights, tokenizer)")
    p.add_argument("--input", required=True, nargs="+", help="input files (jsonl, json, csv, parquet, txt; .gz/.zst)")
    p.add_argument("--output", required=True, help="JSON Lines output: every input field plus the result")
    p.add_argument("--field", default=None, help="input field(s), comma-separated (default text; QA question,context)")
    p.add_argument("--result-field", default="result", help="name of the added field (default result)")
    p.add_argument(
        "--arg",
        action="append",
        type=_option,
        default=[],
        metavar="KEY=VALUE",
        help="pipeline option (JSON value), e.g. --arg top_k=2 --arg aggregation_strategy=simple",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk-size", type=int, default=256, help="records per resumable chunk")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--strict", action="store_true", help="stop at the first bad record")
    p.add_argument("--overwrite", action="store_true", help="discard the parts of an earlier interrupted run")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from massivetext.pipelines import pipeline
    from massivetext.pipelines.files import run_file

    if args.batch_size < 1 or args.chunk_size < 1:
        raise ConfigError("--batch-size and --chunk-size must be >= 1")
    pipe = pipeline(args.task, model=args.model, device=args.device, dtype=args.dtype, batch_size=args.batch_size)
    report = run_file(
        pipe,
        args.input,
        args.output,
        field=args.field,
        result_field=args.result_field,
        call_kwargs=dict(args.arg),
        chunk_size=args.chunk_size,
        strict=args.strict,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        model_id=str(args.model),
    )
    resumed = f", {report.n_skipped_chunks} chunk(s) resumed from an earlier run" if report.n_skipped_chunks else ""
    print(f"{report.n_done} record(s) written to {report.output}{resumed}", file=sys.stderr)
    if report.n_bad:
        print(f"{report.n_bad} bad record(s) set aside in {report.errors_file}:", file=sys.stderr)
        for b in report.bad[:10]:
            print(f"  {b}", file=sys.stderr)
    return 0
