"""Training speed, memory and loss: MassiveText Trainer + GPT vs transformers Trainer + GPT2LMHeadModel.

The benchmark model: GPT-2 shape, 4 layers, 4 heads, 256 wide, context 256, vocabulary 8192, batch 8, trained on
token shards of the stdlib corpus (byte-level BPE 8192 trained here), same seed and hyper-parameters on both sides.
Each variant runs in its own process (so peak memory is its own); the parent prints one line per variant and the
ratios against transformers.

    python benchmarks/train_vs_hf.py                      # 200 steps, CPU, the default variants
    python benchmarks/train_vs_hf.py --steps 60 --variants hf,mt,mt_compile
    python benchmarks/train_vs_hf.py --device cuda --variants hf_bf16,mt_bf16,mt_bf16_compile

Variants: hf (transformers, fp32, dropout 0.1 as GPT2Config's default), hf_bf16; mt (same model and settings),
mt_bf16 (autocast bf16), mt_compile (torch.compile), mt_bf16_compile; add `_nodrop` to any variant for dropout 0.
The hf/mt variants above force bf16 and torch_compile (True or False) and set the benchmark's hyper-parameters.
`hf_defaults` / `mt_defaults`: each Trainer constructed with only output_dir, max_steps and the batch size (what a
user gets untouched: MassiveText's bf16="auto", torch_compile="auto", its chunked loss); `_bf16` / `_compile` on a
defaults variant add just that flag (`mt_defaults_bf16_compile_nodrop`: MassiveText's best CPU settings, bf16 autocast,
torch.compile and dropout 0, see the README; `mt_defaults_bf16_nodrop` the same eager).
Both sides start from the same initial checkpoint (transformers' GPT-2 init under the seed, saved once) and read the
windows in the same order (TokenShards' seeded order; transformers' Trainer is given a sequential sampler over it).
`_v50k`: the same model with a 50,257-word vocabulary (GPT-2's; the data's ids stay < 8,192), where the logits are
the largest activation; `mt_fulllogits`: MassiveText asked to return the full logits (the plain loss path), to show
the chunked loss's memory and speed against it:

    python benchmarks/train_vs_hf.py --steps 30 --variants hf_defaults,mt_defaults,hf_defaults_nodrop,mt_defaults_nodrop
    python benchmarks/train_vs_hf.py --steps 20 --variants hf_v50k,mt_fulllogits_v50k,mt_v50k

GPU (one command, when a CUDA device is there): the same with `--device cuda`; `_124m` makes the model GPT-2 124M at
context 1,024 (vocabulary 50,257) and the line shows MFU against the device's bf16 peak:
    python benchmarks/train_vs_hf.py --device cuda --steps 300 \
        --variants hf_defaults_nodrop_124m,mt_defaults_nodrop_124m,hf_bf16_nodrop_124m,mt_bf16_compile_nodrop_124m
Measured: median tokens/s over steps after warm-up (time between consecutive step ends, so data loading, forward,
backward, optimizer and logging all count; the compile is in the first step, whose time is printed apart: steady-state
speed, as torch.compile's cost is paid once per run and cached on disk for the next), peak RSS of the process (CPU) or peak CUDA memory when training ends, the
mean train loss of the last 10 steps as each trainer logs it, and the validation loss of both final models computed
by the same code in float32 (`massivetext.perplexity` over the whole validation split, or `--val-batches`). Every
MassiveText variant is printed against every transformers variant of the same size. Validation loss at step 200
against transformers, at the defaults (about 5 minutes on 2 quiet cores):

    python benchmarks/train_vs_hf.py --steps 200 --variants hf_defaults,mt_defaults

Best settings against transformers' defaults, interleaved rounds (hf, mt, hf, mt, ...) so that a drift of the
machine shows as a spread of the per-round ratios rather than a bias:

    python benchmarks/train_vs_hf.py --steps 50 --rounds 3 --val-batches 8 \
        --variants hf_defaults,mt_defaults_bf16_compile_nodrop
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SEQ, BATCH, VOCAB = 256, 8, 8192
HPARAMS = dict(learning_rate=1e-3, warmup_steps=20, lr_scheduler_type="cosine", weight_decay=0.1, max_grad_norm=1.0)
DEFAULT_VARIANTS = "hf,mt,mt_bf16,mt_compile,mt_bf16_compile,hf_bf16"


def prepare(workdir: Path, docs: int | None) -> Path:
    """stdlib corpus -> BPE 8192 tokenizer -> token shards (cached in workdir)."""
    import massivetext as mt
    from massivetext.tokenization.shards import encode_corpus

    shards = workdir / "shards"
    if (shards / "index.json").exists():
        return shards
    workdir.mkdir(parents=True, exist_ok=True)
    corpus = mt.build_stdlib_corpus(str(workdir / "corpus.jsonl"), max_docs=docs)
    tok = mt.train_tokenizer(corpus, kind="bpe", vocab_size=VOCAB, special_tokens=["<|endoftext|>"])
    encode_corpus(tok, corpus, shards, val_fraction=0.02, progress=False)
    return shards


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mfu(tokens_per_s: float, shape: dict, seq: int, device: str) -> float | None:
    """Model FLOPs utilisation on CUDA (PaLM's 6N + 12·L·d·T per token over the device's bf16 dense peak)."""
    if device != "cuda":
        return None
    import torch

    from massivetext.training.reporting import peak_flops

    d, n_layer, vocab = shape["n_embd"], shape["n_layer"], shape["vocab_size"]
    n = 12 * n_layer * d * d + vocab * d  # weights without the position table (tied head counted once)
    peak, _ = peak_flops(torch.device("cuda"), None)
    return tokens_per_s * (6 * n + 12 * n_layer * d * seq) / peak


def run_variant(
    name: str, shards: Path, steps: int, warmup: int, device: str, seed: int, val_batches: int | None
) -> dict:
    import torch

    import massivetext as mt

    torch.manual_seed(seed)
    bf16, compile_, nodrop = "bf16" in name, "compile" in name, "nodrop" in name
    defaults = "defaults" in name
    drop = 0.0 if nodrop else 0.1
    vocab = 50257 if "v50k" in name or "124m" in name else VOCAB
    big = "124m" in name  # GPT-2 124M at context 1,024 (the GPU goal: MFU and tokens/s against transformers)
    seq = 1024 if big else SEQ
    width, layers = (768, 12) if big else (256, 4)
    shape = dict(vocab_size=vocab, n_positions=seq, n_embd=width, n_layer=layers, n_head=layers,
                 resid_pdrop=drop, embd_pdrop=drop, attn_pdrop=drop, bos_token_id=0, eos_token_id=0)  # fmt: skip
    train = mt.TokenShards(shards, block_size=seq, split="train", seed=seed)
    step_ends: list[float] = []
    common = dict(output_dir=str(shards.parent / f"out-{name}"), max_steps=steps, per_device_train_batch_size=BATCH,
                  logging_steps=min(10, steps), save_strategy="no", report_to="none", disable_tqdm=True, seed=seed, bf16=bf16,
                  torch_compile=compile_, use_cpu=device == "cpu", dataloader_num_workers=0, **HPARAMS)  # fmt: skip
    if defaults:  # what a user gets untouched: only output_dir, max_steps and the batch size
        common = dict(output_dir=common["output_dir"], max_steps=steps, per_device_train_batch_size=BATCH)
        common.update({"bf16": True} if bf16 else {}, **({"torch_compile": True} if compile_ else {}))
    import transformers

    transformers.logging.set_verbosity_error()
    # one initial checkpoint for both sides (transformers' GPT2 init under the seed): same start, same data order
    init = shards.parent / ("init-" + "-".join(str(shape[k]) for k in ("vocab_size", "n_embd", "n_layer")) + f"-{drop}")
    if not (init / "config.json").exists():
        transformers.GPT2LMHeadModel(transformers.GPT2Config(**shape)).save_pretrained(init)
    if name.startswith("hf"):
        model = transformers.GPT2LMHeadModel.from_pretrained(init)

        class WithLabels(torch.utils.data.Dataset):  # transformers runs the loss only when `labels` is given
            def __len__(self):
                return len(train)

            def __getitem__(self, i):
                item = train[i]
                return {**item, "labels": item["shift_labels"]}

        class Clock(transformers.TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                step_ends.append(time.perf_counter())

        class InShardOrder(transformers.Trainer):
            """Reads the windows in TokenShards' own (seeded, shuffled) order, as MassiveText's Trainer does, so
            both sides see the same batches; the sampler is not a speed setting."""

            def _get_train_sampler(self, train_dataset=None):
                return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)

        # remove_unused_columns=False: the dataset's extra column is read by the wrapper, not a speed setting
        args = transformers.TrainingArguments(remove_unused_columns=False, **common)
        trainer = InShardOrder(model=model, args=args, train_dataset=WithLabels(), callbacks=[Clock()])
    else:
        from massivetext.training.callbacks import TrainerCallback

        model = mt.AutoModelForCausalLM.from_pretrained(str(init))
        if "fulllogits" in name:  # the plain loss path: the model is made to build the (B, T, V) logits
            import functools

            chunked = model.forward

            @functools.wraps(chunked)
            def full_logits(*args, **kwargs):
                return chunked(*args, **{**kwargs, "return_logits": True})

            model.forward = full_logits

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                step_ends.append(time.perf_counter())

        trainer = mt.Trainer(model, mt.TrainingArguments(**common), train_dataset=train, callbacks=[Clock()])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    first_step_s = step_ends[0] - t0 if step_ends else float("nan")  # includes compiling, when compiled
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _rss_mb()  # training's, before eval
    train_mb = (_rss_mb() - rss_before) if device == "cpu" else None
    deltas = [b - a for a, b in zip(step_ends, step_ends[1:])][warmup:]
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r] or [float("nan")]  # defaults log at 500
    val = mt.TokenShards(shards, block_size=seq, split="val", shuffle=False)
    model = trainer.model.to(torch.device(device if device == "cpu" else "cuda"))
    ppl = mt.perplexity(model, val, batch_size=BATCH, max_batches=val_batches)  # fp32, same code for both
    return {
        "variant": name,
        "tokens_per_s": BATCH * seq / statistics.median(deltas),
        "mfu": _mfu(BATCH * seq / statistics.median(deltas), shape, seq, device),
        "peak_mb": peak,
        "train_mb": train_mb,
        "val_tokens": ppl["tokens"],
        "loss_last10": losses[-1],
        "val_loss": ppl["loss"],
        "wall_s": wall,
        "first_step_s": first_step_s,
        "steps": steps,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the median (compile, caches)")
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--workdir", default=os.environ.get("MT_BENCH_DIR", "/tmp/mt_bench_train"))
    p.add_argument("--docs", type=int, default=None, help="first N stdlib documents only (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=1, help="run the variant list this many times, interleaved")
    p.add_argument("--val-batches", type=int, default=None, help="validation batches of 8 (default: the whole split)")
    p.add_argument("--run", help=argparse.SUPPRESS)  # internal: run one variant, print its JSON
    a = p.parse_args()
    workdir = Path(a.workdir)
    if a.run:
        print(
            "RESULT "
            + json.dumps(run_variant(a.run, workdir / "shards", a.steps, a.warmup, a.device, a.seed, a.val_batches))
        )
        return
    shards = prepare(workdir, a.docs)
    index = json.loads((shards / "index.json").read_text())
    print(f"# shards: {shards} ({json.dumps({k: v.get('tokens') for k, v in index['splits'].items()})} tokens)")
    print(f"# {a.steps} steps x batch {BATCH} x {SEQ} tokens, device {a.device}, threads {os.cpu_count()}, {HPARAMS}")
    results = []
    names = a.variants.split(",")
    for round_, name in ((r, n) for r in range(a.rounds) for n in names):  # rounds interleaved: hf, mt, hf, mt...
        cmd = [sys.executable, __file__, "--run", name, "--steps", str(a.steps), "--warmup", str(a.warmup),
               "--device", a.device, "--workdir", str(workdir), "--seed", str(a.seed)]  # fmt: skip
        cmd += ["--val-batches", str(a.val_batches)] if a.val_batches else []
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{name}: FAILED\n{out.stderr[-2000:]}")
            continue
        r = {**json.loads(line[7:]), "round": round_}
        results.append(r)
        mem = f"peak {r['peak_mb']:.0f} MB" + (f" (train +{r['train_mb']:.0f} MB)" if r["train_mb"] is not None else "")
        mfu = f"  MFU {100 * r['mfu']:.1f}%" if r.get("mfu") else ""
        tag = f"{name}#{round_ + 1}" if a.rounds > 1 else name
        print(f"{tag:33s} {r['tokens_per_s']:8.0f} tokens/s{mfu}  {mem:32s} loss@{r['steps']} {r['loss_last10']:.3f}"
              f"  val {r['val_loss']:.3f}  first step {r['first_step_s']:.1f}s  wall {r['wall_s']:.0f}s",
              flush=True)  # fmt: skip
    # every MassiveText variant against every transformers one of the same model size and vocabulary
    size = lambda v: tuple(t in v for t in ("v50k", "124m"))  # noqa: E731
    same_round = lambda r, b: a.rounds == 1 or r["round"] == b["round"]  # noqa: E731
    for r in (r for r in results if r["variant"].startswith("mt")):
        for base in (b for b in results if b["variant"].startswith("hf") and size(b["variant"]) == size(r["variant"])
                     and same_round(r, b)):  # fmt: skip
            print(f"{r['variant']:31s} vs {base['variant']:18s} speed x{r['tokens_per_s'] / base['tokens_per_s']:.2f}  "
                  f"peak memory x{r['peak_mb'] / base['peak_mb']:.2f}  loss {r['loss_last10'] - base['loss_last10']:+.3f}  "
                  f"val {r['val_loss'] - base['val_loss']:+.4f} ({r['val_loss']:.4f} vs {base['val_loss']:.4f}, "
                  f"{r['val_tokens']} tokens, step {r['steps']})", flush=True)  # fmt: skip
    if a.rounds > 1:  # each pair's speed ratio per round (same round = closest in time), then its spread
        pairs: dict[tuple[str, str], list[float]] = {}
        for r in (r for r in results if r["variant"].startswith("mt")):
            for b in (b for b in results if b["variant"].startswith("hf") and size(b["variant"]) == size(r["variant"])
                      and r["round"] == b["round"]):  # fmt: skip
                pairs.setdefault((r["variant"], b["variant"]), []).append(r["tokens_per_s"] / b["tokens_per_s"])
        for (m, h), ratios in pairs.items():
            print(f"{m:31s} vs {h:18s} speed over {len(ratios)} rounds: median x{statistics.median(ratios):.2f}, "
                  f"min x{min(ratios):.2f}, max x{max(ratios):.2f}", flush=True)  # fmt: skip
    full = {r["variant"].replace("_fulllogits", ""): r for r in results if "fulllogits" in r["variant"]}
    for r in results:  # the chunked loss against the full logits, same model, same process setup
        if r["variant"] in full:
            f = full[r["variant"]]
            print(f"{r['variant']:22s} vs {f['variant']:20s} speed x{r['tokens_per_s'] / f['tokens_per_s']:.2f}  "
                  f"train memory x{(r['train_mb'] or 0) / max(f['train_mb'] or 1, 1):.2f}  "
                  f"peak x{r['peak_mb'] / f['peak_mb']:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
