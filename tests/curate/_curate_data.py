"""Small corpora for the curation engine tests: good, filtered, code, PII and malformed records in JSONL files."""

from __future__ import annotations

import json
import os
import random
import time

WORDS = (
    "river stone cloud green table music forest bright window garden silver planet ocean yellow quiet morning "
    "village letter winter summer paper candle market bridge mountain valley station harbor orchard meadow"
).split()
STOP = ["the", "of", "and", "to", "with", "that"]


def good_text(rng: random.Random, n: int = 80) -> str:
    words = [rng.choice(STOP) if i % 4 == 0 else rng.choice(WORDS) for i in range(n)]
    words = [w + "." if i % 12 == 11 else w for i, w in enumerate(words)]
    return " ".join(words)


def write_jsonl(path: str, lines: list[str | bytes | dict]) -> None:
    with open(path, "wb") as f:
        for x in lines:
            if isinstance(x, dict):
                x = json.dumps(x)
            f.write((x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n")


def make_corpus(d: str, n_files: int = 4, docs_per_file: int = 12, seed: int = 0, bad: bool = True) -> list[str]:
    """``n_files`` JSONL files mixing: good prose (kept), short prose (too_few_words), repeated lines
    (dup_line_frac), code (passes the prose filters untouched), prose with an e-mail (redacted), and, with
    ``bad``, malformed records in file 0 at known lines (see ``BAD_LINES``)."""
    rng = random.Random(seed)
    os.makedirs(d, exist_ok=True)
    paths = []
    for fi in range(n_files):
        recs: list = []
        for di in range(docs_per_file):
            kind = di % 6
            doc_id = f"f{fi}-d{di}"
            meta = {"n": di, "tags": ["a", "b"]}
            if kind == 0:
                recs.append({"id": doc_id, "text": good_text(rng), "source": "prose/web", "meta": meta})
            elif kind == 1:
                recs.append({"id": doc_id, "text": good_text(rng, 20), "source": "prose/web"})
            elif kind == 2:
                line = good_text(rng, 10)
                recs.append({"id": doc_id, "text": "\n".join([line] * 8 + [good_text(rng, 30)]), "source": "prose/web"})
            elif kind == 3:
                recs.append({"id": doc_id, "text": "def f(x):\n    return x + 1\n", "source": "code/py"})
            elif kind == 4:
                text = good_text(rng) + f" contact jo{fi}{di}@example.com for details"
                recs.append({"id": doc_id, "text": text, "source": "prose/web", "meta": meta})
            else:
                recs.append({"id": doc_id, "text": good_text(rng, 120), "source": "prose/book"})
        if bad and fi == 0:
            recs[3:3] = [
                '{"id": "broken", "text": ',
                '["not", "an", "object"]',
                {"id": "no-text"},
                {"id": "num", "text": 5},
                b'{"id": "utf", "text": "\xff\xfe bad"}',
            ]
        p = os.path.join(d, f"in-{fi:02d}.jsonl")
        write_jsonl(p, recs)
        paths.append(p)
    return paths


BAD_LINES = [4, 5, 6, 7, 8]  # lines of in-00.jsonl holding the five malformed records

SLOW_RECIPE = {
    "steps": [
        {"type": "GopherQualityFilter", "sources": ["prose/*"]},
        {"type": "GopherRepetitionFilter", "sources": ["prose/*"]},
        {"type": "PIIRedactor"},
        {"type": "_curate_data:SlowStep", "seconds": 0.01},
    ]
}


class SlowStep:
    """Passes documents through after a pause: makes a run long enough to kill part-way."""

    name = "slow"

    def __init__(self, seconds: float = 0.01):
        self.seconds = seconds

    def config(self) -> dict:
        return {"seconds": self.seconds}

    def __call__(self, docs, ctx):
        for d in docs:
            time.sleep(self.seconds)
            yield d


def output_bytes(out: str) -> dict[str, bytes]:
    """Every output file that must be identical between runs (stats and report hold timings)."""
    res = {}
    for name in sorted(os.listdir(out)):
        p = os.path.join(out, name)
        if os.path.isfile(p) and (name.startswith("part-") or name == "errors.jsonl"):
            with open(p, "rb") as f:
                res[name] = f.read()
    return res
