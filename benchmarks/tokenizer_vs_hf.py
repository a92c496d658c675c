"""Batch encoding speed: MassiveText's FastTokenizer against transformers' PreTrainedTokenizerFast, one run.

Both wrap the same ``tokenizer.json`` (a byte-level BPE trained here), encode the same texts of mixed length with
the same options, and must give identical ids. Times are medians of alternating runs, so load hurts both alike.

    python benchmarks/tokenizer_vs_hf.py [--texts 4000] [--batch 64] [--repeats 5] [--threads 4]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from transformers import PreTrainedTokenizerFast

import massivetext as mt

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her she there been one all we their has would when if so no will more can said who out time about "
    "model data token train curate evaluate serve language corpus Größe café 日本語 🙂 ∑"
).split()
OPTIONS = [
    {"padding": True},
    {"padding": True, "truncation": True, "max_length": 48},
    {"padding": "max_length", "truncation": True, "max_length": 96, "padding_side": "left"},
    {"truncation": True, "max_length": 32, "stride": 8, "return_overflowing_tokens": True, "padding": True},
]


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice([3, 10, 30, 80, 200]))) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    data = texts(args.texts)
    tok = mt.train_tokenizer(texts(3000, seed=1), vocab_size=4000)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        ours, theirs = mt.AutoTokenizer.from_pretrained(tmp), PreTrainedTokenizerFast.from_pretrained(tmp)
    batches = [data[i : i + args.batch] for i in range(0, len(data), args.batch)]

    def run(tk, options, pool=None):
        call = lambda b: tk(b, **options)["input_ids"]  # noqa: E731
        return list(pool.map(call, batches)) if pool else [call(b) for b in batches]

    print(f"{len(data)} texts in batches of {args.batch}; seconds are medians of {args.repeats} alternating runs")
    print(f"{'options':<100} {'massivetext':>11} {'transformers':>12} {'ratio':>6}")
    with ThreadPoolExecutor(args.threads) as pool:
        for options in OPTIONS:
            for threads in (None, pool):
                times: tuple[list[float], list[float]] = ([], [])
                for _ in range(args.repeats):
                    outs = []
                    for i, tk in enumerate((ours, theirs)):
                        t0 = time.perf_counter()
                        outs.append(run(tk, options, threads))
                        times[i].append(time.perf_counter() - t0)
                    if threads is None:  # transformers is not thread-safe: compare outputs sequentially only
                        assert outs[0] == outs[1], options
                a, b = statistics.median(times[0]), statistics.median(times[1])
                label = f"{options}" + (f" x{args.threads} threads" if threads else "")
                print(f"{label:<100} {a:>11.3f} {b:>12.3f} {b / a:>5.2f}x")


if __name__ == "__main__":
    main()
