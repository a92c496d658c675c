"""The dialogue recipe, end to end: supervised fine-tuning (SFT) of the quickstart GPT on ``chat-dialogs`` with a
chat template and the loss on the assistant's tokens only, then chatting with it through
``mt.pipeline("text-generation")`` with messages.

    python recipes/dialogue/run.py --base runs/quickstart/model   # SFT a quickstart model (WORK = runs/dialogue)
    python recipes/dialogue/run.py                                # no --base: runs `massivetext quickstart` first
    python recipes/dialogue/run.py --ci --work /tmp/d             # reduced budget on a planted-easy dialogue task

Steps (each timed): base model → its tokenizer gets the recipe's chat template (``TEMPLATE``) and is saved with the
model as ``WORK/base`` → every conversation rendered with ``apply_chat_template(..., return_assistant_tokens_mask=
True)``; ``labels`` are the token ids on the assistant's tokens and -100 elsewhere (what TRL's SFT trainer does with
``assistant_only_loss`` / ``DataCollatorForCompletionOnlyLM``) → ``massivetext train sft.yaml`` → loss per
assistant token on the validation and test splits for the model before and after SFT (and a unigram model of the
training replies; with ``--scratch`` also the same SFT from random weights), each with a 95% bootstrap interval over
conversations and a paired test → greedy replies to each test conversation's first user turn through the pipeline,
ROUGE-L against the reference reply (``mt.load_metric("rouge")``, with interval) → ``WORK/results.json`` and a
Markdown table on stdout.

The template adds no token to the pretrained vocabulary (so the pretrained embeddings are used as they are): a turn is
``User: ...`` / ``Assistant: ...`` on its own line and the assistant ends its turn with the model's end-of-text token,
which is also where generation stops. ``--ci`` swaps the data for a planted-easy task (what does the <animal> say? →
the <animal> says <sound>., one or two exchanges per conversation) and the quickstart model for a tiny randomly
initialised GPT with a tokenizer trained on that text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from seq2seq_recipe import log, write_jsonl  # noqa: E402  (the recipes' shared helpers)

TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ 'Assistant:' }}{% generation %}{{ ' ' + message['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
    "{% elif message['role'] == 'system' %}{{ message['content'] + '\n' }}"
    "{% else %}{{ 'User: ' + message['content'] + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
SOUNDS = {"cat": "meow", "dog": "woof", "cow": "moo", "duck": "quack", "sheep": "baa", "owl": "hoot",
          "lion": "roar", "frog": "ribbit", "bee": "buzz", "horse": "neigh", "snake": "hiss", "mouse": "squeak"}  # fmt: skip
ASKS = ("what does the {} say?", "tell me what a {} says.", "i heard a {} today. what does it say?",
        "which sound does a {} make?")  # fmt: skip


def planted_conversations(n: int, seed: int) -> list[list[dict[str, str]]]:
    """The CI task: the reply names the animal the user asked about and its sound; half have a second exchange."""
    rng = random.Random(seed)
    animals = sorted(SOUNDS)
    out = []
    for _ in range(n):
        a = rng.choice(animals)
        conv = [{"role": "user", "content": rng.choice(ASKS).format(a)},
                {"role": "assistant", "content": f"the {a} says {SOUNDS[a]}."}]  # fmt: skip
        if rng.random() < 0.5:
            b = rng.choice(animals)
            conv += [{"role": "user", "content": f"and the {b}?"},
                     {"role": "assistant", "content": f"the {b} says {SOUNDS[b]}."}]  # fmt: skip
        out.append(conv)
    return out


def load_conversations(ci: bool) -> dict[str, list[list[dict[str, str]]]]:
    import massivetext as mt

    if ci:
        return {"train": planted_conversations(800, 0), "validation": planted_conversations(100, 1),
                "test": planted_conversations(100, 2)}  # fmt: skip
    ds = mt.load_dataset("chat-dialogs")
    return {s: list(ds[s]["messages"]) for s in ("train", "validation", "test")}


def tiny_base(work: Path, conversations: list[list[dict[str, str]]]) -> Path:
    """--ci: a tokenizer trained on the planted text and a randomly initialised 2-layer GPT (the 'pretrained' model)."""
    import massivetext as mt
    from massivetext.models.config import special_ids_from_tokenizer

    texts = [f"{m['role']}: {m['content']}" for c in conversations for m in c] + ["User: Assistant:"]
    tok = mt.train_tokenizer(texts, kind="bpe", vocab_size=300, model_max_length=64)
    config = mt.AutoConfig.for_model("gpt2", vocab_size=len(tok), n_positions=64, n_layer=2, n_head=2, n_embd=64,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                     **special_ids_from_tokenizer(tok))  # fmt: skip
    mt.set_seed(0)
    model = mt.AutoModelForCausalLM.from_config(config)
    out = work / "tiny-base"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def base_model(args: argparse.Namespace, work: Path, train: list) -> Path:
    if args.ci:
        return tiny_base(work, train)
    if args.base:
        return Path(args.base)
    from massivetext.cli.main import main

    log(f"no --base: running `massivetext quickstart --output {work / 'quickstart'} --minutes {args.base_minutes}`")
    code = main(["quickstart", "--output", str(work / "quickstart"), "--minutes", str(args.base_minutes)])
    if code != 0:
        raise SystemExit(f"massivetext quickstart failed with exit code {code}")
    return work / "quickstart" / "model"


def with_template(base: Path, out: Path) -> Any:
    """Copy the pretrained model to ``out`` with the recipe's chat template in its tokenizer (no new tokens)."""
    import massivetext as mt

    tok = mt.AutoTokenizer.from_pretrained(str(base))
    if tok.eos_token is None:
        raise mt.ConfigError(f"{base}: the tokenizer has no end-of-text token to end the assistant's turns with")
    tok.chat_template = TEMPLATE
    model = mt.AutoModelForCausalLM.from_pretrained(str(base))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return tok


def encode(tok: Any, conversations: list[list[dict[str, str]]], max_length: int) -> list[dict[str, list[int]]]:
    """Token ids and assistant-only labels, cut to the model's context; conversations left without an assistant
    token after the cut are dropped (nothing to learn or score)."""
    enc = tok.apply_chat_template(conversations, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    rows = []
    for ids, mask in zip(enc["input_ids"], enc["assistant_masks"]):
        ids, mask = ids[:max_length], mask[:max_length]
        labels = [t if m else -100 for t, m in zip(ids, mask)]
        if any(x != -100 for x in labels[1:]):
            rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return rows


def assistant_nll(model_dir: Path, rows: list[dict], batch_size: int = 32) -> np.ndarray:
    """(n, 2): summed negative log-likelihood of each conversation's assistant tokens and their count."""
    import torch
    import torch.nn.functional as F

    import massivetext as mt

    model = mt.AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    out = np.zeros((len(rows), 2))
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            T = max(len(r["input_ids"]) for r in chunk)
            ids = torch.zeros(len(chunk), T, dtype=torch.long)
            labels = torch.full((len(chunk), T), -100, dtype=torch.long)
            mask = torch.zeros(len(chunk), T, dtype=torch.long)
            for i, r in enumerate(chunk):
                n = len(r["input_ids"])
                ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
                                 reduction="none").view(target.shape)  # fmt: skip
            out[start : start + len(chunk), 0] = ce.sum(1).numpy()
            out[start : start + len(chunk), 1] = (target != -100).sum(1).numpy()
    return out


def unigram_nll(train: list[dict], rows: list[dict], vocab_size: int) -> np.ndarray:
    """The same statistics for a unigram model of the training replies' tokens (add-one smoothing)."""
    counts = np.ones(vocab_size)
    for r in train:
        np.add.at(counts, [t for t in r["labels"][1:] if t != -100], 1)
    logp = np.log(counts / counts.sum())
    return np.array([[-logp[[t for t in r["labels"][1:] if t != -100]].sum(), sum(t != -100 for t in r["labels"][1:])]
                     for r in rows])  # fmt: skip


def loss_table(stats: dict[str, np.ndarray], baseline: str, resamples: int = 1000, seed: int = 0) -> dict:
    """Loss per assistant token (nats) with a 95% percentile bootstrap interval over conversations, the bootstrap
    MassiveText's metrics use (same resamples for every system, so each is also paired-tested against
    ``baseline``)."""
    from massivetext.evaluation.metrics.bootstrap import interval, paired_p_value, resample_weights, resampled_sums

    n = next(iter(stats.values())).shape[0]
    weights = resample_weights(n, resamples, seed)
    boot = {k: (lambda s: s[:, 0] / s[:, 1])(resampled_sums(v, weights)) for k, v in stats.items()}
    out = {}
    for k, v in stats.items():
        loss = float(v[:, 0].sum() / v[:, 1].sum())
        lo, hi = interval(boot[k], 0.95)
        row = {"loss": round(loss, 4), "ci": [round(lo, 4), round(hi, 4)], "perplexity": round(float(np.exp(loss)), 2),
               "tokens": int(v[:, 1].sum())}  # fmt: skip
        if k != baseline:
            base = float(stats[baseline][:, 0].sum() / stats[baseline][:, 1].sum())
            row["p_vs_" + baseline] = round(paired_p_value(boot[baseline], boot[k], abs(loss - base)), 4)
        out[k] = row
    return out


def replies(model_dir: Path, conversations: list[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
    """Greedy replies to each conversation's first user turn, through the text-generation pipeline with messages
    (at most ``max_new_tokens``, fewer when the longest prompt leaves less room in the model's context)."""
    import massivetext as mt

    chat = mt.pipeline("text-generation", model=str(model_dir), batch_size=32)
    prompts = [[c[0]] for c in conversations]
    longest = max(len(chat.tokenizer.apply_chat_template(m, add_generation_prompt=True)["input_ids"]) for m in prompts)
    room = mt.AutoConfig.from_pretrained(str(model_dir)).n_positions - longest
    out = chat(prompts, max_new_tokens=min(max_new_tokens, room), do_sample=False)
    return [o[0]["generated_text"][-1]["content"].strip() for o in out]


def rouge_l(preds: list[str], refs: list[str]) -> dict:
    import massivetext as mt

    r = mt.load_metric("rouge").compute(predictions=preds, references=refs, confidence=0.95, resamples=1000, seed=0)
    return {"score": round(100 * r["rougeL"], 2),
            "ci": [round(100 * r["rougeL_ci_low"], 2), round(100 * r["rougeL_ci_high"], 2)]}  # fmt: skip


def train_sft(work: Path, init: Path, out: Path, sets: list[str]) -> float:
    from massivetext.cli.main import main

    t = time.perf_counter()
    argv = ["train", str(HERE / "sft.yaml")]
    for s in [
        f"model={init}",
        f"tokenizer={init}",
        f"args.output_dir={out}",
        f"data.files.train={work}/data/train.jsonl",
        f"data.files.eval={work}/data/validation.jsonl",
        *sets,
    ]:
        argv += ["--set", s]  # fmt: skip
    code = main(argv)
    if code != 0:
        raise SystemExit(f"massivetext train sft.yaml failed with exit code {code}")
    return round(time.perf_counter() - t, 1)


def scratch_copy(base: Path, out: Path) -> Path:
    """The same architecture and tokenizer with freshly initialised weights (does pretraining help SFT?)."""
    import massivetext as mt

    mt.set_seed(0)
    model = mt.AutoModelForCausalLM.from_config(mt.AutoConfig.from_pretrained(str(base)))
    model.save_pretrained(out)
    for f in base.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, out / f.name)
    return out


def main(argv: list[str] | None = None) -> int:
    import massivetext as mt

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="runs/dialogue", help="working directory (data, models, results)")
    p.add_argument("--base", default=None, help="a pretrained causal LM directory (a quickstart run's model/)")
    p.add_argument("--base-minutes", type=float, default=10.0, help="quickstart budget when --base is not given")
    p.add_argument("--ci", action="store_true", help="reduced budget on a planted-easy dialogue task")
    p.add_argument("--scratch", action="store_true", help="also SFT the same architecture from random weights")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override sft.yaml")
    args = p.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    convs = load_conversations(args.ci)
    source = base_model(args, work, convs["train"])
    times["base"] = round(time.perf_counter() - t0, 1)

    t = time.perf_counter()
    base = work / "base"
    tok = with_template(source, base)
    context = mt.AutoConfig.from_pretrained(str(base)).n_positions
    rows = {s: encode(tok, c, context) for s, c in convs.items()}
    for s in ("train", "validation"):
        write_jsonl(work / "data" / f"{s}.jsonl", rows[s])
    sizes = {s: {"conversations": len(convs[s]), "scored": len(rows[s]),
                 "assistant_tokens": sum(sum(x != -100 for x in r["labels"][1:]) for r in rows[s])}
             for s in rows}  # fmt: skip
    times["data"] = round(time.perf_counter() - t, 1)
    log(f"data: {sizes}")

    sets = ["args.max_steps=300", "args.per_device_train_batch_size=16", "args.learning_rate=3.0e-3",
            "args.logging_steps=50"] if args.ci else []  # fmt: skip
    sets += args.sets
    times["sft"] = train_sft(work, base, work / "sft", sets)
    systems = {"before SFT": base, "after SFT": work / "sft"}
    if args.scratch:
        times["sft_from_scratch"] = train_sft(work, scratch_copy(base, work / "scratch-init"), work / "scratch", sets)
        systems["SFT from random weights"] = work / "scratch"

    t = time.perf_counter()
    losses = {}
    for split in ("validation", "test"):
        stats = {name: assistant_nll(d, rows[split]) for name, d in systems.items()}
        stats["unigram of training replies"] = unigram_nll(rows["train"], rows[split], len(tok))
        losses[split] = loss_table(stats, baseline="before SFT")
    times["score"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    test = [c for c in convs["test"] if len(c) >= 2 and c[0]["role"] == "user" and c[1]["role"] == "assistant"]
    refs = [c[1]["content"] for c in test]
    generated = {name: replies(d, test, args.max_new_tokens) for name, d in systems.items()}
    exact = {name: round(sum(g == r for g, r in zip(out, refs)) / len(refs), 4) for name, out in generated.items()}
    rouge = {name: rouge_l(out, refs) for name, out in generated.items()}
    times["chat"] = round(time.perf_counter() - t, 1)
    times["total"] = round(time.perf_counter() - t0, 1)
    results = {
        "ci": args.ci,
        "base": str(source),
        "sizes": sizes,
        "loss_per_assistant_token": losses,
        "first_reply": {"n": len(refs), "rougeL": rouge, "exact_match": exact},
        "examples": [
            {"user": c[0]["content"], "reference": r, **{k: v[i] for k, v in generated.items()}}
            for i, (c, r) in enumerate(zip(test[:12], refs))
        ],  # fmt: skip
        "seconds": times,
    }
    (work / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print(table(results))
    return 0


def table(results: dict) -> str:
    rows = ["| model | validation loss/token (95% CI) | test loss/token (95% CI) | test perplexity | "
            "first-reply ROUGE-L (95% CI) |", "|---|---|---|---|---|"]  # fmt: skip
    val, test = results["loss_per_assistant_token"]["validation"], results["loss_per_assistant_token"]["test"]
    for name in test:
        v, t = val[name], test[name]
        r = results["first_reply"]["rougeL"].get(name)
        rl = f"{r['score']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]" if r else "–"
        rows.append(f"| {name} | {v['loss']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}] | "
                    f"{t['loss']:.3f} [{t['ci'][0]:.3f}, {t['ci'][1]:.3f}] | {t['perplexity']:.1f} | {rl} |")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
