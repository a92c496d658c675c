"""Which sampling settings read best on a trained quickstart model (issue 18: samples were blank lines and repeats).

For each setting, samples from prose and code prompts (several seeds each) are scored by
- distinct-n: unique n-grams / all n-grams of the new tokens of one sample, averaged over samples (Li et al. 2016);
  low means the sample repeats itself;
- whitespace share: the share of new tokens that decode to whitespace only (blank lines, runs of spaces);
- length: new tokens before the end of text.

    python benchmarks/quickstart_sampling.py runs/quickstart [--seeds 4] [--max-new-tokens 80]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import massivetext as mt

PROMPTS = [
    "Return a new list containing",
    "The module provides",
    "def __init__(self",
    "This function returns",
    "If the file does not exist,",
    "class Parser:\n    def",
    "The default value is",
    "import os\n",
]

SETTINGS = {
    "greedy": {"do_sample": False},
    "T=1.0": {"do_sample": True, "temperature": 1.0},
    "T=0.8 k=50 (old)": {"do_sample": True, "temperature": 0.8, "top_k": 50},
    "T=0.7 p=0.9": {"do_sample": True, "temperature": 0.7, "top_p": 0.9},
    "T=0.8 k=50 rp=1.1": {"do_sample": True, "temperature": 0.8, "top_k": 50, "repetition_penalty": 1.1},
    "T=0.8 p=0.95 rp=1.2": {"do_sample": True, "temperature": 0.8, "top_p": 0.95, "repetition_penalty": 1.2},
    "T=0.7 k=40 rp=1.3": {"do_sample": True, "temperature": 0.7, "top_k": 40, "repetition_penalty": 1.3},
    "T=1.0 k=40 rp=1.2": {"do_sample": True, "temperature": 1.0, "top_k": 40, "repetition_penalty": 1.2},
}


def distinct(ids: list[int], n: int) -> float:
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def score(model, tok, setting: dict, seeds: int, max_new_tokens: int) -> dict:
    d1, d2, d3, ws, lengths, texts = [], [], [], [], [], []
    eos = set(model.config.eos_token_ids)
    blank = {i for i in range(len(tok)) if not tok.decode([i]).strip()} - eos
    for prompt in PROMPTS:
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        for seed in range(seeds if setting.get("do_sample") else 1):
            torch.manual_seed(seed)
            out = model.generate(ids, max_new_tokens=max_new_tokens, **setting)[0, ids.shape[1] :].tolist()
            new = out[: next((i for i, t in enumerate(out) if t in eos), len(out))]  # up to the end of text
            lengths.append(len(new))
            d1.append(distinct(new, 1)), d2.append(distinct(new, 2)), d3.append(distinct(new, 3))
            ws.append(sum(t in blank for t in new) / max(1, len(new)))
            texts.append(prompt + tok.decode(new))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {"distinct_1": mean(d1), "distinct_2": mean(d2), "distinct_3": mean(d3), "whitespace": mean(ws),
            "length": mean(lengths), "example": texts[1]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", help="a quickstart output directory (its model/ is scored)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=80)
    ap.add_argument("--json", help="write the scores here")
    a = ap.parse_args()
    model = mt.AutoModelForCausalLM.from_pretrained(f"{a.run}/model").eval()
    tok = mt.AutoTokenizer.from_pretrained(f"{a.run}/model")
    t0 = time.perf_counter()
    results = {}
    print(f"{'setting':<22} {'distinct-1':>10} {'distinct-2':>10} {'distinct-3':>10} {'whitespace':>10} {'length':>7}")
    for name, setting in SETTINGS.items():
        r = results[name] = score(model, tok, setting, a.seeds, a.max_new_tokens)
        print(f"{name:<22} {r['distinct_1']:>10.3f} {r['distinct_2']:>10.3f} {r['distinct_3']:>10.3f} "
              f"{r['whitespace']:>10.3f} {r['length']:>7.1f}", flush=True)  # fmt: skip
    for name, r in results.items():
        print(f"\n--- {name}\n{r['example']}")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
