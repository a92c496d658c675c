"""Per-core rates of every curation and tokenization stage on one corpus, and what they mean for Gopher's
MassiveText (10.5 TB, 2.35 B documents): core-hours per stage and nodes for a one-day run (docs/scaling.md).

    python benchmarks/stage_rates.py [--max-docs 3000] [--cores-per-node 64]

Every stage runs in this process on one core (workers=1, one tokenizer thread), over the same documents.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GOPHER_BYTES = 10.5e12
GOPHER_DOCS = 2.35e9


def peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-docs", type=int, default=3000)
    ap.add_argument("--cores-per-node", type=int, default=64)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import massivetext as mt
    from curate_vs_datatrove import load_corpus
    from massivetext.curate import (
        ExactDeduplicator,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        MinHashDeduplicator,
        PIIRedactor,
        Pipeline,
    )

    path, docs = load_corpus(None, args.max_docs)
    mb = sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6
    print(f"corpus: {path}: {len(docs)} docs, {mb:.2f} MB")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        stages = {
            "language ID": [LanguageFilter()],
            "quality + repetition": [GopherQualityFilter(), GopherRepetitionFilter()],
            "exact dedup": [ExactDeduplicator()],
            "MinHash dedup": [MinHashDeduplicator()],
            "PII": [PIIRedactor()],
        }
        for name, steps in stages.items():
            t = time.perf_counter()
            Pipeline(steps).run(path, os.path.join(tmp, name.replace(" ", "_")), workers=1, progress=False,
                                report=False)  # fmt: skip
            rates[name] = mb / (time.perf_counter() - t)
        tok = mt.train_tokenizer([d["text"] for d in docs[:1000]], vocab_size=8192)
        t = time.perf_counter()
        mt.encode_corpus(tok, path, os.path.join(tmp, "shards"), processes=1, progress=False)
        rates["tokenize encode"] = mb / (time.perf_counter() - t)
    print(f"\n{'stage':22s} {'MB/s/core':>10s} {'core-hours for 10.5 TB':>24s}")
    total = 0.0
    for name, r in rates.items():
        ch = GOPHER_BYTES / (r * 1e6) / 3600
        total += ch
        print(f"{name:22s} {r:10.2f} {ch:24,.0f}")
    nodes = math.ceil(total / 24 / args.cores_per_node)  # whole nodes: 1.08 nodes' work needs 2
    print(
        f"{'all stages':22s} {'':10s} {total:24,.0f}  -> {nodes:,.0f} nodes of {args.cores_per_node} cores for one day"
    )
    print(f"peak RSS of this process: {peak_mb():.0f} MB")
    print(json.dumps({"mb": mb, "docs": len(docs), "rates_mb_s": rates}))


if __name__ == "__main__":
    main()
