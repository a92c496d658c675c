"""``massivetext evaluate``: a checkpoint on a data file for a task, or a predictions file against references.

    massivetext evaluate --model out/ --task perplexity --data 'val/*.jsonl' [--max-length 256 --stride 128]
    massivetext evaluate --model mt/ --task translation --data pairs.jsonl --source-field en --target-field fr
    massivetext evaluate --model clf/ --task classification --data test.jsonl --label-field label
    massivetext evaluate ... --train-corpus curated/          # contamination check, clean-subset score
    massivetext evaluate --metric bleu --predictions hyp.txt --references ref.txt [--references ref2.txt]

Writes eval.json, eval.html (and predictions.jsonl) to --output (default ./eval); prints the headline score.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from massivetext.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a checkpoint on a task, or score predictions with a metric")
    p.add_argument("--model", "-m", help="checkpoint directory (or hub name)")
    p.add_argument("--task", choices=["perplexity", "translation", "summarization", "classification", "ner", "qa"])
    p.add_argument(
        "--data",
        nargs="+",
        help="data file(s) or glob(s) (jsonl/csv/parquet/txt); a token-shard directory for perplexity",
    )
    p.add_argument("--metric", help="score --predictions against --references with this metric (no model)")
    p.add_argument("--predictions", help="file with one prediction per line")
    p.add_argument("--references", action="append", help="reference file, one line per prediction (repeatable)")
    p.add_argument("--output", "-o", default="eval", help="output directory (default: ./eval)")
    for name, default in [
        ("text", "text"),
        ("source", "source"),
        ("target", "target"),
        ("label", "label"),
        ("tokens", "tokens"),
        ("tags", "ner_tags"),
        ("question", "question"),
        ("context", "context"),
        ("answers", "answers"),
        ("id", "id"),
    ]:
        p.add_argument(f"--{name}-field", default=default, help=f"record field with the {name} (default: {default})")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument(
        "--max-length", type=int, default=None, help="input truncation, perplexity window or QA window (tokens)"
    )
    p.add_argument(
        "--stride",
        type=int,
        default=None,
        help="perplexity sliding-window stride; for qa, the overlap of a long context's windows (doc stride)",
    )
    p.add_argument("--prefix", default="", help="text put before every source (e.g. 'translate English to French: ')")
    p.add_argument("--split", default="val", help="token-shard split for perplexity (default: val)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N good examples")
    p.add_argument("--confidence", type=float, default=0.95, help="bootstrap interval level (0 turns it off)")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenize", default=None, help="BLEU tokenizer (13a, intl, zh, char, ja-mecab, none)")
    p.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU/chrF")
    p.add_argument(
        "--train-corpus",
        nargs="+",
        default=None,
        help="training corpus (directory, glob or shard "
        "list): flag evaluation examples that overlap it and score the clean subset",
    )
    p.add_argument("--contamination-mode", choices=["ngram", "jaccard"], default="ngram")
    p.add_argument("--ngram", type=int, default=13)
    p.add_argument("--strict", action="store_true", help="stop at the first bad record instead of setting it aside")
    p.add_argument("--device", default=None)
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        default="float32",
        help="perplexity: bfloat16 runs the matmuls in bfloat16 (faster on CPUs/GPUs that have it; not exact)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def _metric_options(args: argparse.Namespace, metric: str) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if metric in ("bleu", "sacrebleu") and args.tokenize:
        opts["tokenize"] = args.tokenize
    if metric in ("bleu", "sacrebleu", "chrf", "chrf++") and args.lowercase:
        opts["lowercase"] = True
    return opts


def run(args: argparse.Namespace) -> int:
    from massivetext.evaluation.data import Fields
    from massivetext.evaluation.run import MAIN, EvalOptions, evaluate_model, score_files

    confidence = args.confidence if args.confidence and args.confidence > 0 else None
    if args.metric:
        if args.model or args.task:
            raise ConfigError("--metric scores files without a model: drop --model/--task (or drop --metric)")
        if not args.predictions or not args.references:
            raise ConfigError("--metric needs --predictions FILE and --references FILE")
        opts = EvalOptions(confidence, args.resamples, args.seed, metric_options=_metric_options(args, args.metric))
        result = score_files(args.metric, args.predictions, args.references, args.output, options=opts)
    else:
        if not (args.model and args.task and args.data):
            raise ConfigError("give --model, --task and --data (or --metric with --predictions/--references)")
        fields = Fields(
            args.text_field,
            args.source_field,
            args.target_field,
            args.label_field,
            args.tokens_field,
            args.tags_field,
            args.question_field,
            args.context_field,
            args.answers_field,
            args.id_field,
        )
        opts = EvalOptions(
            confidence, args.resamples, args.seed, metric_options=_metric_options(args, MAIN[args.task][0])
        )
        data = args.data[0] if len(args.data) == 1 else args.data
        result = evaluate_model(
            args.model,
            args.task,
            data,
            args.output,
            fields=fields,
            batch_size=args.batch_size,
            max_new_tokens=args.max_new_tokens,
            num_beams=args.num_beams,
            max_length=args.max_length,
            stride=args.stride,
            prefix=args.prefix,
            split=args.split,
            limit=args.limit,
            strict=args.strict,
            train_corpus=args.train_corpus,
            contamination_mode=args.contamination_mode,
            ngram=args.ngram,
            device=args.device,
            progress=not args.no_progress,
            options=opts,
            dtype=args.dtype,
        )
    _print(result, args.output if not args.metric or args.output else None)
    return 0


def _print(result: dict[str, Any], output: str | None) -> None:
    h = result["headline"]
    ci = h.get("ci") or [None, None]
    line = f"{h['metric']} {h['key']} = {h['score']:.4f}"
    if None not in ci:
        line += f"  [{ci[0]:.4f}, {ci[1]:.4f}] ({h['confidence']:.0%} bootstrap)"
    print(line)
    if h.get("signature"):
        print(f"signature: {h['signature']}")
    con = result.get("contamination")
    if con:
        clean = con.get("clean") or {}
        print(
            f"contamination: {con['contaminated']}/{con['examples']} examples overlap the training corpus; "
            f"{h['key']} on the clean {clean.get('examples', 0)} = {clean.get(h['key'], float('nan')):.4f}"
        )
    if result.get("bad_records"):
        print(f"{result['bad_records']} bad record(s) set aside (listed in eval.json)", file=sys.stderr)
    if output:
        print(f"wrote {output}/eval.json and {output}/eval.html")
    else:
        print(json.dumps(result["metrics"], ensure_ascii=False, default=str))
