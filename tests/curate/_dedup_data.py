"""Tiny corpora with planted duplicates, for the dedup, decontamination and Ray tests."""

from __future__ import annotations

import json
import os
import random

VOCAB = [f"w{i}" + "".join(random.Random(i).choices("aeioustrnl", k=3)) for i in range(3000)]


def random_doc(rng: random.Random, n: int) -> str:
    words = rng.choices(VOCAB, k=n)
    # sentences with punctuation and capitals, so normalization matters
    out = []
    for i, w in enumerate(words):
        out.append(w.capitalize() if i % 12 == 0 else w)
        if i % 12 == 11:
            out[-1] += "."
    return " ".join(out)


def near_copy(rng: random.Random, text: str, changes: int = 1) -> str:
    """Substitute ``changes`` words far from each other (each costs at most 13 of the shingles)."""
    words = text.split(" ")
    for k in range(changes):
        i = (k + 1) * len(words) // (changes + 1)
        words[i] = rng.choice(VOCAB) + "x"
    return " ".join(words)


def planted_corpus(seed: int = 0, n_base: int = 120) -> tuple[list[dict], dict]:
    """Unique docs plus exact copies (case/whitespace changed), near copies, short docs and boilerplate docs.

    Returns (records, truth) with truth = {"exact": [(orig_id, copy_id)], "near": [...], "boiler": [ids]}.
    """
    rng = random.Random(seed)
    docs = [{"id": f"d{i}", "text": random_doc(rng, rng.randint(150, 300))} for i in range(n_base)]
    truth: dict[str, list] = {"exact": [], "near": [], "boiler": [], "short": []}
    for k in range(15):
        o = docs[rng.randrange(n_base)]
        docs.append({"id": f"exact{k}", "text": "  " + o["text"].upper().replace(" ", "  \n") + "\n"})
        truth["exact"].append((o["id"], f"exact{k}"))
    for k in range(15):
        o = docs[rng.randrange(n_base)]
        docs.append({"id": f"near{k}", "text": near_copy(rng, o["text"])})
        truth["near"].append((o["id"], f"near{k}"))
    header = random_doc(rng, 30)
    footer = random_doc(rng, 25)
    for k in range(6):  # share a header and a footer only: must not merge
        docs.append({"id": f"boiler{k}", "text": f"{header} {random_doc(rng, 120)} {footer}"})
        truth["boiler"].append(f"boiler{k}")
    for k in range(3):  # shorter than one 13-gram: compared by exact normalized hash
        docs.append({"id": f"short{k}", "text": "Short text, only seven words here."})
        truth["short"].append(f"short{k}")
    docs.append({"id": "empty0", "text": ""})
    docs.append({"id": "cjk0", "text": "这是一个没有空格的中文文档，用于测试近似重复检测是否能正常工作。" * 3})
    docs.append({"id": "cjk1", "text": "这是一个没有空格的中文文档，用于测试近似重复检测是否能正常工作。" * 3 + "新"})
    docs.append({"id": "long0", "text": random_doc(rng, 60000)})
    order = list(range(n_base, len(docs)))
    rng.shuffle(order)
    # copies come after their originals in the file order, so "first occurrence kept" keeps the originals
    docs = docs[:n_base] + [docs[i] for i in order]
    return docs, truth


def write_shards(records: list[dict], directory: str, n_shards: int) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    per = -(-len(records) // n_shards)
    paths = []
    for s in range(n_shards):
        p = os.path.join(directory, f"shard-{s:02d}.jsonl")
        with open(p, "w", encoding="utf-8") as f:
            for r in records[s * per : (s + 1) * per]:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        paths.append(p)
    return paths
