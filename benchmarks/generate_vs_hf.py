"""Greedy generation and training step speed: MassiveText's GPT against transformers' GPT2LMHeadModel, one run.

The model: GPT-2 shape, 4 layers, 4 heads, 256 wide, context 256, vocabulary 8192, random weights, loaded into
both from one checkpoint. Each side generates ``--new`` tokens greedily from a 1-token prompt at each batch size;
the tokens must be identical. Then forward+backward of a (batch 8, 256 tokens) step is timed on both.

    python benchmarks/generate_vs_hf.py [--new 255] [--batches 1 8] [--repeats 3] [--device cpu|cuda] [--dtype ...]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time

import torch
import transformers

from massivetext.models.gpt import GPTForCausalLM


def timed_pair(fn_a, fn_b, repeats: int, sync) -> tuple[float, float, object, object]:
    """Median seconds of a and b, run alternately so that a noisy machine hurts both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    outs: list[object] = [None, None]
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            outs[i] = fn()
            sync()
            times[i].append(time.perf_counter() - t0)
            cpu[i].append(time.process_time() - c0)
    CPU_SECONDS.append((statistics.median(cpu[0]), statistics.median(cpu[1])))
    return statistics.median(times[0]), statistics.median(times[1]), outs[0], outs[1]


# process CPU seconds of each pair (a, b): on a shared machine, CPU time is steadier than wall time
CPU_SECONDS: list[tuple[float, float]] = []


def cpu_note() -> str:
    a, b = CPU_SECONDS[-1]
    return f" | CPU-time ratio {a / b:.2f}x"


def weight_floor_us(mt: GPTForCausalLM, repeats: int) -> float:
    """Microseconds per token of the batch-1 decode step's matmuls alone (every weight read once, as decoding
    must), with nothing else: a floor for any implementation that keeps float32 weights and exact tokens."""
    lean = mt._lean_weights()
    if lean is None:
        return float("nan")
    w = mt.transformer.wte.weight
    x, h = w.new_zeros(1, w.shape[1]), w.new_zeros(1, lean[0][8].shape[1])

    def run() -> None:
        for _, _, wa, ba, wp, bp, _, _, wf, bf, wo, bo, _ in lean:
            torch.addmm(ba, x, wa), torch.addmm(bp, x, wp), torch.addmm(bf, x, wf), torch.addmm(bo, h, wo)
        torch.mm(x, mt.lm_head.weight.t())

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(255):
            run()
        times.append((time.perf_counter() - t0) / 255)
    return statistics.median(times) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--new", type=int, default=255)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_layer=args.layers,
        n_head=args.heads,
        n_embd=args.width,
        n_positions=args.context,
        vocab_size=args.vocab,
        bos_token_id=0,
        eos_token_id=None,
        pad_token_id=0,
    )
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    transformers.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        mt = GPTForCausalLM.from_pretrained(d).eval()
    hf.to(dev, dtype)
    mt.to(dev, dtype)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, device {dev}, dtype {args.dtype}, "
        f"threads {torch.get_num_threads()}, params {mt.num_parameters():,}"
    )
    for b in args.batches:
        prompt = torch.randint(1, args.vocab, (b, 1), device=dev)
        mask = torch.ones_like(prompt)
        kw = dict(max_new_tokens=args.new, do_sample=False)
        hf.generate(prompt, attention_mask=mask, **{**kw, "max_new_tokens": 8})  # warm up both
        mt.generate(prompt, **{**kw, "max_new_tokens": 8})
        t_hf, t_mt, out_hf, out_mt = timed_pair(
            functools.partial(hf.generate, prompt, attention_mask=mask, **kw),
            functools.partial(mt.generate, prompt, **kw),
            args.repeats,
            sync,
        )
        same = torch.equal(out_hf.cpu(), out_mt.cpu())
        n = b * args.new
        print(
            f"generate batch {b}: transformers {n / t_hf:8.0f} new tok/s | massivetext {n / t_mt:8.0f} new tok/s | "
            f"ratio {t_hf / t_mt:.2f}x{cpu_note()} | identical tokens: {same}"
        )
        if b == 1 and dev.type == "cpu":
            with torch.inference_mode():
                floor = weight_floor_us(mt, args.repeats)
            us_hf, us_mt = t_hf / n * 1e6, t_mt / n * 1e6
            print(
                f"  batch 1 per token: transformers {us_hf:.0f} us, massivetext {us_mt:.0f} us, of which the bare "
                f"matmuls take {floor:.0f} us: the ratio bound with zero other work is {us_hf / floor:.2f}x"
            )
    x = torch.randint(0, args.vocab, (args.train_batch, args.context), device=dev)
    hf.train()
    mt.train()
    for m in (hf, mt):  # dropout off on both: same work, comparable numbers
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
    mt.config.resid_pdrop = mt.config.embd_pdrop = mt.config.attn_pdrop = 0.0
    for blk in mt.transformer.h:
        blk.attn.dropout = blk.attn.resid_dropout = blk.mlp.dropout = 0.0
    mt.transformer.drop = 0.0

    def step(m):
        def run():
            m.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32 and dev.type == "cuda"):
                loss = m(x, labels=x).loss
            loss.backward()
            return float(loss.detach())

        return run

    step(hf)()
    step(mt)()
    t_hf, t_mt, l_hf, l_mt = timed_pair(step(hf), step(mt), args.repeats, sync)
    toks = x.numel()
    print(
        f"forward+backward batch {args.train_batch}x{args.context}: transformers {t_hf * 1000:.1f} ms "
        f"({toks / t_hf:.0f} tok/s) | massivetext {t_mt * 1000:.1f} ms ({toks / t_mt:.0f} tok/s) | "
        f"ratio {t_hf / t_mt:.2f}x{cpu_note()} | loss {l_hf:.4f} vs {l_mt:.4f}"
    )


if __name__ == "__main__":
    main()
