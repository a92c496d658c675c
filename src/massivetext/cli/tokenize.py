"""``massivetext tokenize``: train a tokenizer, and encode documents into packed token shards.

    massivetext tokenize train INPUT... --output DIR [--kind bpe|wordpiece|unigram] [--vocab-size N]
    massivetext tokenize encode --tokenizer DIR INPUT... --output DIR [--val-fraction F] [--processes N]
        [--source-field metadata.source]

Both are thin layers over ``massivetext.train_tokenizer`` and ``massivetext.tokenization.encode.encode_corpus``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokenize", help="train a tokenizer or encode documents into token shards")
    verbs = parser.add_subparsers(dest="tokenize_verb", metavar="ACTION", required=True)

    train = verbs.add_parser("train", help="train a tokenizer on documents (JSONL, .zst/.gz, text, parquet)")
    train.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or glob patterns")
    train.add_argument("--output", "-o", required=True, help="directory to write tokenizer.json and its config to")
    train.add_argument("--kind", choices=["bpe", "wordpiece", "unigram"], default="bpe")
    train.add_argument("--vocab-size", type=int, default=8192)
    train.add_argument("--min-frequency", type=int, default=2)
    train.add_argument("--special-tokens", nargs="*", default=None, help="default: the kind's usual ones")
    train.add_argument("--text-field", default="text")
    train.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=None)
    train.add_argument("--model-max-length", type=int, default=None)
    train.set_defaults(func=run_train)

    enc = verbs.add_parser("encode", help="encode documents into packed token shards (.bin + index.json)")
    enc.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="files, directories or glob patterns; NAME=PATTERN tags a source for TokenShards(weights=...)",
    )  # fmt: skip
    enc.add_argument("--tokenizer", "-t", required=True, help="tokenizer directory (tokenizer.json)")
    enc.add_argument("--output", "-o", required=True, help="directory for the shards and index.json")
    enc.add_argument("--val-fraction", type=float, default=0.01, help="documents held out for validation")
    enc.add_argument("--processes", "-j", type=int, default=None, help="worker processes (default: CPU count)")
    enc.add_argument("--text-field", default="text")
    enc.add_argument("--id-field", default="id", help="document id field used for the validation split")
    enc.add_argument(
        "--source-field", default=None, metavar="PATH",
        help="each document's source from this (dotted) field, e.g. metadata.source: one shard per source",
    )  # fmt: skip
    enc.add_argument("--strict", action="store_true", help="stop at the first malformed record")
    enc.add_argument("--no-progress", action="store_true")
    enc.set_defaults(func=run_encode)


def run_train(args: argparse.Namespace) -> int:
    from massivetext.tokenization.train import train_tokenizer

    start = time.perf_counter()
    tok = train_tokenizer(
        files=args.inputs,  # paths only: one that does not exist is an error, never a text
        kind=args.kind,
        vocab_size=args.vocab_size,
        special_tokens=args.special_tokens,
        min_frequency=args.min_frequency,
        text_field=args.text_field,
        lowercase=args.lowercase,
        model_max_length=args.model_max_length,
        show_progress=sys.stderr.isatty(),
    )
    tok.save_pretrained(args.output)
    print(
        f"trained a {args.kind} tokenizer of {len(tok)} tokens in {time.perf_counter() - start:.1f}s -> {args.output}"
    )
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from massivetext.tokenization.encode import encode_corpus

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = encode_corpus(
            args.tokenizer,
            args.inputs,
            args.output,
            val_fraction=args.val_fraction,
            text_field=args.text_field,
            id_field=args.id_field,
            processes=args.processes,
            strict=args.strict,
            source_field=args.source_field,
            progress=not args.no_progress,
        )
    for w in caught:
        print(f"massivetext: note: {w.message}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    for name, split in index["splits"].items():
        print(f"{name}: {split['tokens']:,} tokens, {split['documents']:,} documents, {len(split['shards'])} shard(s)")
    print(f"dtype {index['dtype']}, eos id {index['eos_id']}, {elapsed:.1f}s -> {args.output}/index.json")
    if index["bad_records"]:
        print(f"{index['bad_records']} bad record(s) skipped, e.g.:", file=sys.stderr)
        for example in index["bad_examples"][:5]:
            print(f"  {example}", file=sys.stderr)
    if index["surrogate_documents"]:
        print(f"{index['surrogate_documents']} document(s) had lone surrogates, replaced by U+FFFD", file=sys.stderr)
    return 0
