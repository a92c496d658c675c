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
from massivetext.errors import ConfigError
from massivetext.models.config import special_ids_from_tokenizer
from massivetext.quickstart import budget as clock

# the run aims to end this share before its budget: the stages after training are estimated, not known. 3% and a
# reserve of 1.5x the estimate landed 3.5-6.7% early in four real runs (one kept 43 s and used 29 s), so both are
# trimmed: a reserve that turns out 1.5x too small now overruns by about 1% of a 10-minute budget
FINISH_MARGIN = 0.01
RESERVE_FACTOR = 1.25
MIN_TRAIN_S = 20.0  # however little of the budget the earlier stages left, train this long
EVAL_SHARE = 0.05  # the final evaluation may take this share of the budget (all the validation split if it fits)
MIN_EVAL_WINDOWS = 32
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
    # the size a 10-minute budget trains best on this 2-core machine (issue 18, side by side on the quiet machine:
    # validation perplexity 47.8 for 2x128, 49.6 for 4x128 (within the run-to-run spread), 61.3 for 4x256)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 256
    batch_size: int = 8
    learning_rate: float = 2e-3
    val_fraction: float = 0.02
    decay_fraction: float = 0.2  # share of the training time spent decaying the learning rate (warmup-stable-decay)
    max_new_tokens: int = 80
    # sampling: chosen on a trained quickstart model by distinct-n and the share of whitespace-only tokens
    # (benchmarks/quickstart_sampling.py): the old T=0.8/top-k 50 gave 42% whitespace tokens, distinct-2 0.60;
    # nucleus 0.95 with a repetition penalty of 1.2 gives 18% and 0.92
    temperature: float = 0.8
    top_k: int = 0  # off
    top_p: float = 0.95
    repetition_penalty: float = 1.2
    seed: int = 0
    force: bool = False

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> ConfigError:
            flag = "--" + name.replace("_", "-")
            return ConfigError(f"quickstart: {name} ({flag}) must be {rule}, got {getattr(self, name)!r}")

        if not isinstance(self.output, str | os.PathLike) or not str(self.output):
            raise bad("output", "a directory path")
        for name in ("minutes", "learning_rate", "temperature", "repetition_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise bad(name, "a positive number")
        ints = {"vocab_size": 257, "n_layer": 1, "n_head": 1, "n_embd": 1, "block_size": 8, "batch_size": 1,
                "max_new_tokens": 1, "top_k": 0}  # fmt: skip
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(name, f"an integer >= {low}")
        for name, low in (("max_docs", 50), ("workers", 1)):  # None: the whole corpus, every core
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise bad(name, f"an integer >= {low} (or None)")
        if self.n_embd % self.n_head:
            raise bad("n_embd", f"a multiple of n_head ({self.n_head})")
        for name in ("val_fraction", "decay_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise bad(name, "between 0 and 1 (exclusive)")
        if not 0 < self.top_p <= 1:
            raise bad("top_p", "in (0, 1]")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise bad("seed", "an integer")


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


def _header(name: str, text: str, t_start: float) -> None:
    print(f"\n=== {name}: {text} (at {clock.now() - t_start:.0f} s)", flush=True)


def quickstart(config: QuickstartConfig | None = None, *, started_at: float | None = None, **overrides: Any) -> dict:
    """Run every stage; returns the summary also written to ``stats.json``.

    The budget (``minutes``) counts from ``started_at`` (a ``time.time()``; the command line passes its process's
    start, so that importing counts too) or else from this call, and covers every stage to the report.
    """
    cfg = config or QuickstartConfig(**overrides)
    t_start = clock.now() - (0.0 if started_at is None else max(0.0, time.time() - started_at))
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
    _header("1/5 curate", "the MassiveText recipe on the stdlib corpus", t_start)
    curated = stages.done("curate")
    if curated is None:
        mt.build_stdlib_corpus(corpus_path, max_docs=cfg.max_docs, force=True)
        stats = mt.Pipeline.from_recipe("massivetext").run(corpus_path, p["curated"], workers=workers, resume=False)
        curated = stages.finish("curate", {"funnel": _funnel(stats.to_dict())})
    _print_funnel(curated["funnel"])

    # 2. tokenizer + shards
    _header("2/5 tokenize", f"byte-level BPE ({cfg.vocab_size}) and packed token shards", t_start)
    tokenized = stages.done("tokenize")
    if tokenized is None:
        t0 = clock.now()
        tok = mt.train_tokenizer(files=curated_files, kind="bpe", vocab_size=cfg.vocab_size)
        tok.save_pretrained(p["tokenizer"])
        index = mt.encode_corpus(p["tokenizer"], curated_files, p["shards"], val_fraction=cfg.val_fraction,
                                 processes=workers)  # fmt: skip
        splits = {name: {"tokens": s["tokens"], "documents": s["documents"]} for name, s in index["splits"].items()}
        tokenized = stages.finish("tokenize", {"splits": splits, "vocab_size": len(tok),
                                               "seconds": clock.now() - t0})  # fmt: skip
    for name, s in tokenized["splits"].items():
        print(f"  {name}: {s['tokens']:,} tokens in {s['documents']:,} documents")

    # 3. training
    _header("3/5 train", f"a GPT-2 ({cfg.n_layer} layers, {cfg.n_embd} wide, context {cfg.block_size})", t_start)
    trained = stages.done("train")
    if trained is None:
        finish_at = t_start + cfg.minutes * 60 * (1 - FINISH_MARGIN)
        trained = stages.finish("train", _train(cfg, p, finish_at))
    print(f"  {trained['steps']} steps, {trained['tokens_per_second']:,.0f} tokens/s, final loss {trained['loss']:.3f}")

    # 4. evaluation
    _header("4/5 evaluate", "validation perplexity against a unigram model of the same tokens", t_start)
    evaluation = stages.done("evaluate")
    if evaluation is None:
        evaluation = stages.finish("evaluate", _evaluate(cfg, p, trained.get("eval_windows")))
    print(f"  model: loss {evaluation['loss']:.3f}, perplexity {evaluation['perplexity']:.1f}")
    print(f"  unigram baseline: loss {evaluation['unigram_loss']:.3f}, "
          f"perplexity {evaluation['unigram_perplexity']:.1f}")  # fmt: skip

    # 5. samples + report
    _header("5/5 generate", "three samples from prose and code prompts", t_start)
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
        "seconds": clock.now() - t_start,
        "facts": {
            "corpus": f"{curated['funnel'][0]['docs']:,} documents, {curated['funnel'][0]['bytes'] / 1e6:.1f} MB",
            "curated": f"{curated['funnel'][-1]['docs']:,} documents, {curated['funnel'][-1]['bytes'] / 1e6:.1f} MB",
            "training tokens": f"{tokenized['splits']['train']['tokens']:,}",
            "model": f"{trained['parameters'] / 1e6:.1f} M parameters",
            "training": f"{trained['steps']} steps in {trained['seconds']:.0f} s "
            f"({trained['tokens_per_second']:,.0f} tokens/s)",
        },
    }
    _write_train_yaml(cfg, p, trained, os.path.join(out, "train.yaml"))
    from massivetext.quickstart.report import loss_chart, write_report

    loss_png = loss_chart(trained["train_curve"], trained["eval_curve"], evaluation["unigram_loss"])
    write_report(os.path.join(out, "report.html"), summary, curated["funnel"], loss_png, samples["samples"], commands)
    summary["seconds"] = clock.now() - t_start  # the whole run, report included
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(summary, f, indent=1)
    report = os.path.join(out, "report.html")
    print(f"\nDone in {summary['seconds']:.0f} s of a {cfg.minutes * 60:.0f} s budget: {report}")
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


def _model_config(cfg: QuickstartConfig, tokenizer: Any) -> Any:
    """GPT-2 shapes from the config; vocabulary and special ids (bos/eos/pad) from the tokenizer it is trained with."""
    return mt.AutoConfig.for_model(
        "gpt2", vocab_size=len(tokenizer), n_positions=cfg.block_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
        n_embd=cfg.n_embd, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **special_ids_from_tokenizer(tokenizer),
    )  # fmt: skip


def _train(cfg: QuickstartConfig, p: dict, finish_at: float) -> dict:
    """Train until the wall clock says stop (see ``budget.py``); the whole run is to end at ``finish_at``."""
    import torch

    from massivetext.quickstart.budget import TimeBudget, WallClockSchedule

    torch.manual_seed(cfg.seed)
    tokenizer = mt.AutoTokenizer.from_pretrained(p["tokenizer"])
    model = mt.AutoModelForCausalLM.from_config(_model_config(cfg, tokenizer))
    train = mt.TokenShards(p["shards"], block_size=cfg.block_size, split="train", seed=cfg.seed)
    val = mt.TokenShards(p["shards"], block_size=cfg.block_size, split="val", shuffle=False)
    bf16 = _bf16_supported()  # bf16 autocast is ~1.4x faster where the CPU has bf16 units (measured, issue 7)
    cal = _calibrate(model, train, cfg, bf16)
    # validation windows (evenly spread) that the final evaluation can afford: all of them unless the machine is
    # so slow that they would cost more than EVAL_SHARE of the budget; the evaluations during training see a quarter
    affordable = int(EVAL_SHARE * cfg.minutes * 60 / cal["forward_s"]) * cfg.batch_size
    eval_windows = min(len(val), max(MIN_EVAL_WINDOWS, affordable))
    mid_windows = min(128, eval_windows, max(16, eval_windows // 4))
    # the stages after training at calibration speed: the validation pass, three samples, the report's two charts,
    # with room for saving, loading and the error of the estimate (a loaded machine's speed varies by the minute)
    after_s = RESERVE_FACTOR * (eval_windows / cfg.batch_size * cal["forward_s"] + 3 * cfg.max_new_tokens * cal["token_s"]
                     + 2 * cal["chart_s"]) + 2  # fmt: skip
    left = finish_at - clock.now() - after_s
    if left < MIN_TRAIN_S:  # the stages before training ate the budget: overrun rather than save an untrained model
        print(f"  the budget is spent before training ({left:.0f} s left): training for {MIN_TRAIN_S:.0f} s anyway")
        left = MIN_TRAIN_S
    expected = max(30, int(left / cal["step_s"]))  # only to space warmup, logs and evaluations; the clock decides
    print(f"  {model.num_parameters() / 1e6:.1f} M parameters; ~{cal['step_s']:.2f} s/step, {left:.0f} s to train "
          f"(~{expected} steps), {after_s:.0f} s kept for evaluation and samples")  # fmt: skip
    schedule = WallClockSchedule(warmup=max(1, min(expected // 20, 200)))
    args = mt.TrainingArguments(
        output_dir=p["training"], max_steps=100 * expected, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, weight_decay=0.1,
        adam_beta2=0.95, lr_scheduler_type="constant_with_warmup", warmup_steps=schedule.warmup,
        logging_steps=max(1, expected // 50), eval_strategy="steps", eval_steps=max(1, expected // 4),
        save_strategy="no", seed=cfg.seed, report_to="none", bf16=bf16, disable_tqdm=True,
        # eager, as calibrated: max_steps above is a bound, not the run's length (the clock decides), and "auto"
        # would compile; the first step would then hold a cold compile (~40 CPU-s, training/speed.py) that the
        # calibrated budget does not expect
        torch_compile=False,
    )  # fmt: skip
    timer = TimeBudget(None, schedule, finish_at=finish_at, after_s=after_s, step_s=cal["step_s"],
                       decay_fraction=cfg.decay_fraction, min_train_s=MIN_TRAIN_S, clock=clock.now)  # fmt: skip
    trainer = mt.Trainer(model=model, args=args, train_dataset=train, eval_dataset=_spread(val, mid_windows),
                         callbacks=[timer])  # fmt: skip
    timer.trainer = trainer
    t0 = clock.now()
    result = trainer.train()
    seconds = clock.now() - t0
    model.save_pretrained(p["model"])
    tokenizer.save_pretrained(p["model"])
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
        "bf16": bf16,
        "eval_windows": eval_windows,
        "stopped_by": timer.stopped_by or "max_steps",
        "schedule": {"lr_scheduler_type": "warmup_stable_decay", "warmup_steps": schedule.warmup,
                     "lr_scheduler_kwargs": schedule.scheduler_kwargs()},  # fmt: skip
        "budget": {"calibrated_step_s": cal["step_s"], "after_s_estimate": after_s,
                   "decay_planned_at_s": None if timer.decay_planned_at is None else timer.decay_planned_at - t0},
    }  # fmt: skip


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


def _calibrate(model: Any, data: Any, cfg: QuickstartConfig, bf16: bool) -> dict[str, float]:
    """Seconds per training step, per evaluation batch and per sampled token, timed now (after a warm-up)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where the Trainer will train
    model.to(device)
    batch = {k: torch.stack([data[i][k] for i in range(cfg.batch_size)]).to(device) for k in data[0]}

    def timed(fn: Any) -> float:
        times = []
        for _ in range(3):
            t0 = clock.now()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(clock.now() - t0)
        return min(times[1:])

    def train_step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch).loss
        loss.backward()

    def eval_batch() -> None:
        with torch.no_grad():
            model(**batch)

    prompt = batch["input_ids"][:1, :8]
    step_s = 1.15 * timed(train_step)  # optimizer step and logging on top
    model.zero_grad(set_to_none=True)
    forward_s = timed(eval_batch)
    model.eval()
    token_s = timed(lambda: model.generate(prompt, max_new_tokens=8, min_new_tokens=8, do_sample=False)) / 8
    model.train()
    from massivetext.quickstart.report import loss_chart  # imports matplotlib now (slow the first time)

    t0 = clock.now()
    loss_chart([(1, 2.0), (2, 1.0)], [(2, 1.5)], 3.0)  # what writing the report costs on this machine now
    return {"step_s": step_s, "forward_s": forward_s, "token_s": token_s, "chart_s": clock.now() - t0}


def _evaluate(cfg: QuickstartConfig, p: dict, windows: int | None = None) -> dict:
    """Perplexity on ``windows`` validation windows spread over the split (all of them by default), against a
    unigram model of the training tokens scored on exactly the same tokens."""
    from massivetext.evaluation.baseline import unigram_perplexity

    model = mt.AutoModelForCausalLM.from_pretrained(p["model"])
    val = mt.TokenShards(p["shards"], block_size=cfg.block_size, split="val", shuffle=False)
    val = _spread(val, min(len(val), windows or len(val)))
    result = mt.perplexity(model, val, batch_size=cfg.batch_size)
    train_tokens = _shard_arrays(p["shards"], "train")
    val_windows = [val[i]["shift_labels"].numpy() for i in range(len(val))]  # exactly the tokens the model predicts
    base = unigram_perplexity(train_tokens, val_windows, vocab_size=model.config.vocab_size)
    return {"loss": result["loss"], "perplexity": result["perplexity"], "tokens": base["tokens"],
            "windows": len(val), "unigram_loss": base["loss"], "unigram_perplexity": base["perplexity"]}  # fmt: skip


def _shard_arrays(shards_dir: str, split: str) -> list[Any]:
    """The memory-mapped token arrays of one split."""
    from massivetext.tokenization.shard_format import open_shard
    from massivetext.tokenization.shards import read_index

    index = read_index(shards_dir)
    return [open_shard(os.path.join(shards_dir, s["file"])) for s in index["splits"][split]["shards"]]


def _generate(cfg: QuickstartConfig, p: dict) -> list[dict]:
    import torch

    torch.manual_seed(cfg.seed)
    gen = mt.pipeline("text-generation", model=p["model"])  # the samples come from the pipeline users call
    samples = []
    for kind, prompt in PROMPTS:
        n_prompt = len(gen.tokenizer(prompt)["input_ids"])
        room = min(cfg.max_new_tokens, cfg.block_size - n_prompt)  # stay inside the model's context
        out = gen(prompt, max_new_tokens=room, add_special_tokens=True, **sampling(cfg))  # stops at end of text
        samples.append({"kind": kind, "prompt": prompt, "text": out[0]["generated_text"]})
    return samples


def sampling(cfg: QuickstartConfig) -> dict[str, Any]:
    """The ``generate`` keywords for the quickstart's samples (``massivetext generate`` takes the same flags)."""
    return {"do_sample": True, "temperature": cfg.temperature, "top_k": cfg.top_k, "top_p": cfg.top_p,
            "repetition_penalty": cfg.repetition_penalty}  # fmt: skip


def _write_train_yaml(cfg: QuickstartConfig, p: dict, trained: dict, path: str) -> None:
    """The config for ``massivetext train`` that redoes the training stage by hand: the settings the run really
    used, its learning-rate schedule included (warmup-stable-decay with the step counts the clock decided)."""
    import yaml

    schedule = trained.get("schedule") or {}
    conf = {
        "model": {"type": "gpt2", "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
                  "n_positions": cfg.block_size, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0},
        "task": "causal_lm",
        "tokenizer": p["tokenizer"],
        "data": {"shards": p["shards"], "block_size": cfg.block_size},
        "args": {"output_dir": p["model"], "max_steps": trained["steps"], "per_device_train_batch_size": cfg.batch_size,
                 "learning_rate": cfg.learning_rate, "weight_decay": 0.1, "adam_beta2": 0.95,
                 "lr_scheduler_type": schedule.get("lr_scheduler_type", "constant_with_warmup"),
                 "warmup_steps": schedule.get("warmup_steps", 0),
                 "lr_scheduler_kwargs": schedule.get("lr_scheduler_kwargs", {}),
                 "bf16": bool(trained.get("bf16", False)), "seed": cfg.seed, "save_strategy": "no",
                 "report_to": "none"},
    }  # fmt: skip
    with open(path, "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
