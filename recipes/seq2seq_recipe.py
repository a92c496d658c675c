"""Shared steps of the sequence-to-sequence recipes (translation, summarization): pairs → one shared tokenizer →
token-id JSONL for ``massivetext train`` → generation through ``mt.pipeline`` → metrics with 95% intervals.

Imported by ``recipes/translation/run.py`` and ``recipes/summarization/run.py``; not a library module (recipes are
examples built on the public API).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def encode_pairs(tok: Any, sources: list[str], targets: list[str], max_source: int, max_target: int) -> list[dict]:
    """Token ids for the seq2seq trainer: ``input_ids``/``attention_mask`` from the source, ``labels`` from the
    target (both end with ``</s>``; truncated to the limits, keeping the end-of-sequence token)."""
    src = tok(sources, truncation=True, max_length=max_source)
    tgt = tok(text_target=targets, truncation=True, max_length=max_target)
    return [
        {"input_ids": i, "attention_mask": m, "labels": t}
        for i, m, t in zip(src["input_ids"], src["attention_mask"], tgt["input_ids"])
    ]


def train_yaml(path: Path, sets: list[str]) -> None:
    from massivetext.cli.main import main

    args = ["train", str(path)]
    for s in sets:
        args += ["--set", s]
    code = main(args)
    if code != 0:
        raise SystemExit(f"massivetext train {path.name} failed with exit code {code}")


def set_generation_defaults(model_dir: Path, **values: Any) -> None:
    """Write generation defaults into the checkpoint's ``generation_config.json`` (as Helsinki-NLP/opus-mt-* ship
    ``max_length``), so that a plain ``mt.pipeline(task, model=DIR)(text)`` call works without options."""
    path = Path(model_dir) / "generation_config.json"
    config = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(config | values, indent=2) + "\n")


def special_sets(tok: Any) -> list[str]:
    """Marian and T5 start decoding from the pad token and end with ``</s>``: take both ids from the tokenizer."""
    return [
        f"model.decoder_start_token_id={tok.pad_token_id}",
        f"model.pad_token_id={tok.pad_token_id}",
        f"model.eos_token_id={tok.eos_token_id}",
    ]


def generate(task: str, model_dir: Path, texts: list[str], max_new_tokens: int, num_beams: int = 1) -> list[str]:
    import massivetext as mt

    pipe = mt.pipeline(task, model=str(model_dir), batch_size=64)
    key = "translation_text" if task.startswith("translation") else "summary_text"
    out = pipe(texts, max_new_tokens=max_new_tokens, num_beams=num_beams)
    return [o[key] if isinstance(o, dict) else o[0][key] for o in out]


def score_translation(preds: list[str], refs: list[str], resamples: int = 1000) -> dict:
    """BLEU and chrF (sacrebleu through ``mt.load_metric``) with the signature and a 95% bootstrap interval."""
    import massivetext as mt

    out = {}
    for name in ("sacrebleu", "chrf"):
        r = mt.load_metric(name).compute(predictions=preds, references=[[x] for x in refs], confidence=0.95,
                                         resamples=resamples, seed=0)  # fmt: skip
        out["bleu" if name == "sacrebleu" else "chrf"] = {
            "score": round(float(r["score"]), 2),
            "ci": [round(float(r["score_ci_low"]), 2), round(float(r["score_ci_high"]), 2)],
            "signature": r["signature"],
        }
    return out


def score_rouge(preds: list[str], refs: list[str], resamples: int = 1000) -> dict:
    """ROUGE-1/2/L F-measure (rouge-score through ``mt.load_metric``) with a 95% bootstrap interval, in percent."""
    import massivetext as mt

    r = mt.load_metric("rouge").compute(predictions=preds, references=refs, confidence=0.95, resamples=resamples,
                                        seed=0)  # fmt: skip
    return {
        k: {"score": round(100 * r[k], 2), "ci": [round(100 * r[f"{k}_ci_low"], 2), round(100 * r[f"{k}_ci_high"], 2)]}
        for k in ("rouge1", "rouge2", "rougeL")
    }
