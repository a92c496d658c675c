#!/usr/bin/env python3
"""Corpus to token shards: MassiveText's ``encode_corpus`` beside the bare ``tokenizers`` + numpy memmap path.

    python benchmarks/tokenize_vs_raw.py [--scales 1,10] [--bare-max-scale 1] [--vocab-size 8192]

The corpus is the stdlib corpus (``massivetext.build_stdlib_corpus``); scale K repeats it K times (new ids) in one
file. One tokenizer (byte-level BPE, trained here once on the corpus) serves both sides. Each side runs in its own
process; peak memory is the largest total RSS of that process and its children, sampled every 20 ms.

Peers:
- ``bare``: read every text, ``Tokenizer.encode_batch(texts)`` (what people write; it holds every encoding),
  write the ids with EOS after each document into a ``np.memmap``.
- ``bare-fast``: the same with ``encode_batch_fast`` (no offsets), the fastest the library offers.
- ``massivetext``: ``encode_corpus`` (streaming batches, val split, shards + index.json), all cores.

Throughput is input bytes per second, end to end (read + encode + write), by wall clock and per CPU-second of the
whole process tree (the second is steadier on a shared machine). Compare only within one run: the machine is noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIDES = ("bare", "bare-fast", "massivetext")


def run_side(side: str, tokenizer_dir: str, corpus: str, out: str, processes: int | None) -> dict:
    start = time.perf_counter()
    if side == "massivetext":
        from massivetext.tokenization.encode import encode_corpus

        index = encode_corpus(tokenizer_dir, corpus, out, val_fraction=0.01, processes=processes, progress=False)
        tokens = index["splits"]["train"]["tokens"] + index["splits"]["val"]["tokens"]
    else:
        import numpy as np
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
        eos = tok.token_to_id("<|endoftext|>")
        with open(corpus, encoding="utf-8") as f:
            texts = [json.loads(line)["text"] for line in f]
        encode = tok.encode_batch if side == "bare" else tok.encode_batch_fast
        encodings = encode(texts, add_special_tokens=False)
        tokens = sum(len(e.ids) + 1 for e in encodings)
        ids = np.memmap(os.path.join(out, "tokens.bin"), dtype=np.uint16, mode="w+", shape=(tokens,))
        pos = 0
        for e in encodings:
            row = e.ids
            ids[pos : pos + len(row)] = row
            ids[pos + len(row)] = eos
            pos += len(row) + 1
        ids.flush()
    import resource

    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)  # worker processes are joined, so they are counted
    return {"seconds": time.perf_counter() - start, "cpu_seconds": cpu, "tokens": tokens}


def measure(side: str, tokenizer_dir: str, corpus: str, processes: int | None) -> dict:
    """Run one side in a fresh process; sample the RSS of its process tree."""
    import psutil

    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as out:
        cmd = [sys.executable, __file__, "--_side", side, "--_tok", tokenizer_dir, "--_corpus", corpus, "--_out", out]
        if processes:
            cmd += ["--processes", str(processes)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        parent, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.02)
        stdout = proc.stdout.read()
        if proc.returncode:
            raise SystemExit(f"{side} failed with exit code {proc.returncode}")
        result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = peak / 2**20
    return result


def scaled_corpus(base: str, scale: int, workdir: Path) -> str:
    if scale == 1:
        return base
    path = workdir / f"corpus-x{scale}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with open(base, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
            lines = src.readlines()
            for k in range(scale):
                for line in lines:
                    doc = json.loads(line)
                    doc["id"] = f"{doc['id']}#{k}"
                    dst.write(json.dumps(doc, ensure_ascii=False) + "\n")
        tmp.rename(path)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="JSONL corpus (default: the stdlib corpus, built once)")
    parser.add_argument("--scales", default="1,10", help="corpus repetitions to run, e.g. 1,10")
    parser.add_argument(
        "--bare-max-scale", type=int, default=1, help="largest scale for the bare sides (they hold all)"
    )
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mt-bench-tokenize"))
    parser.add_argument("--_side", help=argparse.SUPPRESS)
    parser.add_argument("--_tok", help=argparse.SUPPRESS)
    parser.add_argument("--_corpus", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._side:  # inside a measured child process
        print(json.dumps(run_side(args._side, args._tok, args._corpus, args._out, args.processes)))
        return

    import massivetext as mt

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    base = args.corpus or mt.build_stdlib_corpus(str(workdir / "stdlib.jsonl"))
    tok_dir = workdir / f"tok-{args.vocab_size}"
    if not (tok_dir / "tokenizer.json").exists():
        start = time.perf_counter()
        mt.train_tokenizer(base, vocab_size=args.vocab_size).save_pretrained(tok_dir)
        print(f"trained byte-level BPE {args.vocab_size} in {time.perf_counter() - start:.1f}s")
    print(f"machine: {os.cpu_count()} cores; corpus {base} ({os.path.getsize(base) / 1e6:.1f} MB)")
    for scale in (int(s) for s in args.scales.split(",")):
        corpus = scaled_corpus(base, scale, workdir)
        mb = os.path.getsize(corpus) / 1e6
        results = {}
        for side in SIDES:
            if side != "massivetext" and scale > args.bare_max_scale:
                continue
            r = measure(side, str(tok_dir), corpus, args.processes)
            results[side] = r
            print(f"x{scale:<3} {side:12s} {mb:8.1f} MB  {r['seconds']:7.2f} s  {mb / r['seconds']:6.2f} MB/s  "
                  f"cpu {r['cpu_seconds']:7.2f} s  {r['tokens']:>12,} tokens  peak {r['peak_mb']:7.0f} MB")  # fmt: skip
        ours = results["massivetext"]
        for peer in ("bare", "bare-fast"):
            if peer in results:
                ratio = results[peer]["seconds"] / ours["seconds"]
                cpu_ratio = results[peer]["cpu_seconds"] / ours["cpu_seconds"]
                same = results[peer]["tokens"] == ours["tokens"]
                print(f"x{scale:<3} throughput massivetext / {peer}: {ratio:.2f}x wall, {cpu_ratio:.2f}x per cpu-second "
                      f"(same token count: {same})")  # fmt: skip
        print(f"x{scale:<3} peak memory massivetext: {ours['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
