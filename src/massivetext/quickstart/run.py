"""``massivetext quickstart``: raw text to a trained, evaluated model on the embedded stdlib corpus.

Built only from the public API (``import massivetext as mt``), so it doubles as the worked example of every stage:
corpus -> curate (the MassiveText recipe) -> tokenizer -> token shards -> train a small GPT -> evaluate against a
unigram baseline -> generate samples -> ``report.html``. Each stage leaves ``.done/<stage>.json`` with its results;
a re-run skips finished stages (and says so), ``force=True`` redoes them all.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Any

import massivetext as mt

PROMPTS = [
    ("prose", "Return a new list containing"),
    ("prose", "The module provides"),
    ("code", "def __init__(self"),
]


@dataclass
class QuickstartConfig:
    output: str = "runs/quickstart"
    minutes: float = 10.0  # wall-clock budget of the whole run; training gets what the other stages leave
    max_docs: int | None = None  # a subset of the corpus (tests, demos)
    workers: int | None = None
    vocab_size: int = 8192
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    block_size: int = 256
    batch_size: int = 8
    learning_rate: float = 2e-3
    val_fraction: float = 0.02
    max_new_tokens: int = 80
    seed: int = 0
    force: bool = False


class _Stages:
    """Completion markers: a finished stage is skipped on the next run unless forced."""

    def __init__(self, root: str, force: bool):
        self.dir = os.path.join(root, ".done")
        if force and os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir, exist_ok=True)

    def done(self, name: str) -> dict | None:
        path = os.path.join(self.dir, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                result = json.load(f)
            print(f"[{name}] already done, skipping (--force redoes it)")
            return result
        return None

    def finish(self, name: str, result: dict) -> dict:
        tmp = os.path.join(self.dir, f".{name}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, os.path.join(self.dir, f"{name}.json"))
        return result


def _header(name: str, text: str) -> None:
    print(f"\n=== {name}: {text}", flush=True)


def quickstart(config: QuickstartConfig | None = None, **overrides: Any) -> dict:
    """Run every stage; returns the summary also written to ``stats.json``."""
    cfg = config or QuickstartConfig(**overrides)
    t_start = time.perf_counter()
    out = cfg.output
    os.makedirs(out, exist_ok=True)
    stages = _Stages(out, cfg.force)
    p = {k: os.path.join(out, k) for k in ("curated", "tokenizer", "shards", "model", "training")}
    curated_files = os.path.join(p["curated"], "part-*.jsonl.zst")
    corpus_path = os.path.join(out, "corpus.jsonl")
    sub = "" if cfg.max_docs is None else f" --max-docs {cfg.max_docs}"
    workers = cfg.workers or os.cpu_count() or 1
    commands = [
        f"massivetext corpus stdlib --output {corpus_path}{sub}",
        f"massivetext curate {corpus_path} --output {p['curated']} --recipe massivetext --workers {workers}",
        f"massivetext tokenize train '{curated_files}' --output {p['tokenizer']} --vocab-size {cfg.vocab_size}",
        f"massivetext tokenize encode --tokenizer {p['tokenizer']} '{curated_files}' --output {p['shards']} "
        f"--val-fraction {cfg.val_fraction}",
        f"massivetext train {os.path.join(out, 'train.yaml')}",
        f"massivetext generate --model {p['model']} --prompt '{PROMPTS[0][1]}' --max-new-tokens {cfg.max_new_tokens}",
    ]

    # 1. corpus + curation
    _header("1/5 curate", "the MassiveText recipe on the stdlib corpus")
    curated = stages.done("curate")
    if curated is None:
        mt.build_stdlib_corpus(corpus_path, max_docs=cfg.max_docs, force=True)
        stats = mt.Pipeline.from_recipe("massivetext").run(corpus_path, p["curated"], workers=workers, resume=False)
        curated = stages.finish("curate", {"funnel": _funnel(stats.to_dict())})
    _print_funnel(curated["funnel"])

    # 2. tokenizer + shards
    _header("2/5 tokenize", f"byte-level BPE ({cfg.vocab_size}) and packed token shards")
    tokenized = stages.done("tokenize")
    if tokenized is None:
        t0 = time.perf_counter()
        tok = mt.train_tokenizer(files=curated_files, kind="bpe", vocab_size=cfg.vocab_size)
        tok.save_pretrained(p["tokenizer"])
        index = mt.encode_corpus(p["tokenizer"], curated_files, p["shards"], val_fraction=cfg.val_fraction,
                                 processes=workers)  # fmt: skip
        splits = {name: {"tokens": s["tokens"], "documents": s["documents"]} for name, s in index["splits"].items()}
        tokenized = stages.finish("tokenize", {"splits": splits, "vocab_size": len(tok),
                                               "seconds": time.perf_counter() - t0})  # fmt: skip
    for name, s in tokenized["splits"].items():
        print(f"  {name}: {s['tokens']:,} tokens in {s['documents']:,} documents")

    # 3. training
    _header("3/5 train", f"a GPT-2 ({cfg.n_layer} layers, {cfg.n_embd} wide, context {cfg.block_size})")
    trained = stages.done("train")
    if trained is None:
        # leave time for evaluation and samples; train at least 20 s however little the budget left
        budget = max(20.0, cfg.minutes * 60 - (time.perf_counter() - t_start) - 30)
        trained = stages.finish("train", _train(cfg, p, budget, tokenized["vocab_size"]))
    print(f"  {trained['steps']} steps, {trained['tokens_per_second']:,.0f} tokens/s, final loss {trained['loss']:.3f}")

    # 4. evaluation
    _header("4/5 evaluate", "validation perplexity against a unigram model of the same tokens")
    evaluation = stages.done("evaluate")
    if evaluation is None:
        evaluation = stages.finish("evaluate", _evaluate(cfg, p))
    print(f"  model: loss {evaluation['loss']:.3f}, perplexity {evaluation['perplexity']:.1f}")
    print(f"  unigram baseline: loss {evaluation['unigram_loss']:.3f}, "
          f"perplexity {evaluation['unigram_perplexity']:.1f}")  # fmt: skip

    # 5. samples + report
    _header("5/5 generate", "three samples from prose and code prompts")
    samples = stages.done("generate")
    if samples is None:
        samples = stages.finish("generate", {"samples": _generate(cfg, p)})
    for s in samples["samples"]:
        print(f"--- [{s['kind']}] {s['prompt']!r}\n{s['text']}")

    summary = {
        "config": asdict(cfg),
        "curation": curated,
        "tokenization": tokenized,
        "training": trained,
        "evaluation": evaluation,
        "samples": samples["samples"],
        "commands": commands,
        "seconds": time.perf_counter() - t_start,
        "facts": {
            "corpus": f"{curated['funnel'][0]['docs']:,} documents, {curated['funnel'][0]['bytes'] / 1e6:.1f} MB",
            "curated": f"{curated['funnel'][-1]['docs']:,} documents, {curated['funnel'][-1]['bytes'] / 1e6:.1f} MB",
            "training tokens": f"{tokenized['splits']['train']['tokens']:,}",
            "model": f"{trained['parameters'] / 1e6:.1f} M parameters",
            "training": f"{trained['steps']} steps in {trained['seconds']:.0f} s "
            f"({trained['tokens_per_second']:,.0f} tokens/s)",
        },
    }
    _write_train_yaml(cfg, p, trained["steps"], os.path.join(out, "train.yaml"))
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(summary, f, indent=1)
    from massivetext.quickstart.report import loss_chart, write_report

    loss_png = loss_chart(trained["train_curve"], trained["eval_curve"], evaluation["unigram_loss"])
    write_report(os.path.join(out, "report.html"), summary, curated["funnel"], loss_png, samples["samples"], commands)
    print(f"\nDone in {summary['seconds']:.0f} s: {os.path.join(out, 'report.html')}")
    return summary


def _funnel(stats: dict) -> list[dict]:
    """Documents and bytes left after each step, from the curation stats."""
    steps = stats["steps"]
    names = list(steps)
    first = steps[names[0]]
    funnel = [{"step": "input", "docs": first["docs_in"], "bytes": first["bytes_in"]}]
    funnel += [{"step": n, "docs": steps[n]["docs_out"], "bytes": steps[n]["bytes_out"]} for n in names]
    return funnel


def _print_funnel(funnel: list[dict]) -> None:
    top = funnel[0]["docs"] or 1
    for f in funnel:
        print(f"  {f['step']:<24} {f['docs']:>8,} docs {f['bytes'] / 1e6:>8.2f} MB  {100 * f['docs'] / top:5.1f}%")


def _model_config(cfg: QuickstartConfig, vocab_size: int) -> Any:
    return mt.AutoConfig.for_model(
        "gpt2", vocab_size=vocab_size, n_positions=cfg.block_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
        n_embd=cfg.n_embd, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip


def _train(cfg: QuickstartConfig, p: dict, budget_s: float, vocab_size: int) -> dict:
    import torch

    torch.manual_seed(cfg.seed)
    model = mt.AutoModelForCausalLM.from_config(_model_config(cfg, vocab_size))
    train = mt.TokenShards(p["shards"], block_size=cfg.block_size, split="train", seed=cfg.seed)
    val = mt.TokenShards(p["shards"], block_size=cfg.block_size, split="val", shuffle=False)
    bf16 = _bf16_supported()  # bf16 autocast is ~1.4x faster where the CPU has bf16 units (measured, issue 7)
    step_s = _seconds_per_step(model, train, cfg.batch_size, bf16)
    steps = max(30, int(budget_s / step_s))
    print(f"  {model.num_parameters() / 1e6:.1f} M parameters; ~{step_s:.2f} s/step -> {steps} steps in the budget")
    args = mt.TrainingArguments(
        output_dir=p["training"], max_steps=steps, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, weight_decay=0.1,
        adam_beta2=0.95, lr_scheduler_type="cosine", warmup_steps=max(1, steps // 20),
        logging_steps=max(1, steps // 50), eval_strategy="steps", eval_steps=max(1, steps // 5),
        save_strategy="no", seed=cfg.seed, report_to="none", bf16=bf16,
    )  # fmt: skip
    trainer = mt.Trainer(model=model, args=args, train_dataset=train, eval_dataset=_spread(val, 128),
                         callbacks=[_Deadline(time.perf_counter() + 1.25 * budget_s)])  # fmt: skip
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    model.save_pretrained(p["model"])
    mt.AutoTokenizer.from_pretrained(p["tokenizer"]).save_pretrained(p["model"])
    history = trainer.state.log_history
    train_curve = [(h["step"], h["loss"]) for h in history if "loss" in h]
    eval_curve = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    steps = trainer.state.global_step
    return {
        "steps": steps,
        "seconds": seconds,
        "tokens_per_second": steps * cfg.batch_size * cfg.block_size / seconds,
        "loss": train_curve[-1][1] if train_curve else float(result.training_loss),
        "parameters": model.num_parameters(),
        "train_curve": train_curve,
        "eval_curve": eval_curve,
    }


class _Deadline(mt.TrainerCallback):
    """Ends training early if the machine turns out slower than the calibration said (a guard, not the plan)."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() > self.deadline:
            control.should_training_stop = True


def _spread(dataset: Any, n: int) -> Any:
    """``n`` windows spread evenly over the dataset: a cheap in-training eval that sees every part of it."""
    import torch

    step = max(1, len(dataset) // n)
    return torch.utils.data.Subset(dataset, range(0, len(dataset), step)[:n])


def _bf16_supported() -> bool:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _seconds_per_step(model: Any, data: Any, batch_size: int, bf16: bool) -> float:
    """Time a few forward/backward passes (after one warm-up) to size the run to the budget."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the Trainer will train
    model.to(device)
    batch = {k: torch.stack([data[i][k] for i in range(batch_size)]).to(device) for k in data[0]}
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    return 1.15 * min(times[1:])  # optimizer step and logging on top


def _evaluate(cfg: QuickstartConfig, p: dict) -> dict:
    from massivetext.evaluation.baseline import unigram_perplexity

    model = mt.AutoModelForCausalLM.from_pretrained(p["model"])
    val = mt.TokenShards(p["shards"], block_size=cfg.block_size, split="val", shuffle=False)
    result = mt.perplexity(model, val, batch_size=cfg.batch_size)
    train_tokens = _shard_arrays(p["shards"], "train")
    val_windows = [val[i]["shift_labels"].numpy() for i in range(len(val))]  # exactly the tokens the model predicts
    base = unigram_perplexity(train_tokens, val_windows, vocab_size=model.config.vocab_size)
    return {"loss": result["loss"], "perplexity": result["perplexity"], "tokens": base["tokens"],
            "unigram_loss": base["loss"], "unigram_perplexity": base["perplexity"]}  # fmt: skip


def _shard_arrays(shards_dir: str, split: str) -> list[Any]:
    """The memory-mapped token arrays of one split."""
    from massivetext.tokenization.shard_format import open_shard
    from massivetext.tokenization.shards import read_index

    index = read_index(shards_dir)
    return [open_shard(os.path.join(shards_dir, s["file"])) for s in index["splits"][split]["shards"]]


def _generate(cfg: QuickstartConfig, p: dict) -> list[dict]:
    import torch

    torch.manual_seed(cfg.seed)
    model = mt.AutoModelForCausalLM.from_pretrained(p["model"])
    tok = mt.AutoTokenizer.from_pretrained(p["model"])
    samples = []
    for kind, prompt in PROMPTS:
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        room = min(cfg.max_new_tokens, cfg.block_size - ids.shape[1])  # stay inside the model's context
        out = model.generate(ids, max_new_tokens=room, do_sample=True, temperature=0.8, top_k=50)
        samples.append({"kind": kind, "prompt": prompt, "text": tok.decode(out[0], skip_special_tokens=True)})
    return samples


def _write_train_yaml(cfg: QuickstartConfig, p: dict, steps: int, path: str) -> None:
    """The config for ``massivetext train`` that redoes the training stage by hand."""
    import yaml

    conf = {
        "model": {"type": "gpt2", "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
                  "n_positions": cfg.block_size, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
        "task": "causal_lm",
        "tokenizer": p["tokenizer"],
        "data": {"shards": p["shards"], "block_size": cfg.block_size},
        "args": {"output_dir": p["model"], "max_steps": steps, "per_device_train_batch_size": cfg.batch_size,
                 "learning_rate": cfg.learning_rate, "weight_decay": 0.1, "adam_beta2": 0.95,
                 "lr_scheduler_type": "cosine", "warmup_steps": max(1, steps // 20), "seed": cfg.seed,
                 "save_strategy": "no", "report_to": "none"},
    }  # fmt: skip
    with open(path, "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
