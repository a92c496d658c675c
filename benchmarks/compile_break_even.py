"""torch.compile's break-even for training on CPU: after how many steps compiling has paid for itself.

The benchmark GPT of train_vs_hf.py (4 x 256, context 256, vocabulary 8,192, batch 8, dropout 0), one process, one
thread, in CPU seconds, so that other jobs on a shared machine do not count: the compile runs in-process
(TORCHINDUCTOR_COMPILE_THREADS=1) and the C++ compiler's processes are counted (RUSAGE_CHILDREN). The first compiled
step holds the compile; eager and compiled steps are then interleaved. Run it twice with the same cache directory to
see the cold (a first run) and the warm (a resumed or repeated run) compile:

    TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-be python benchmarks/compile_break_even.py --bf16
    TORCHINDUCTOR_CACHE_DIR=/tmp/inductor-be python benchmarks/compile_break_even.py --bf16   # warm

break-even = (first compiled step - compiled step) / (eager step - compiled step); training/speed.py keeps the
measured cold values as FLOPs (steps x 71.0 GFLOP per step of this model).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (else fp32)")
    p.add_argument("--rounds", type=int, default=8)
    a = p.parse_args()
    import torch

    import massivetext as mt

    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=8192, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                                  resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
    torch.manual_seed(0)
    model = mt.AutoModelForCausalLM.from_config(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    x = torch.randint(0, 8192, (8, 256))

    def step(m) -> None:  # as the Trainer's step: autocast forward with the chunked loss, backward, clip, AdamW
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = m(x, labels=x, return_logits=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(model)
    compiled = torch.compile(model)
    c, w = cpu_seconds(), time.perf_counter()
    step(compiled)
    first, first_wall = cpu_seconds() - c, time.perf_counter() - w
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(a.rounds):
        for name, m in (("eager", model), ("compiled", compiled)):
            c = cpu_seconds()
            step(m)
            times[name].append(cpu_seconds() - c)
    eager, comp = (statistics.median(times[k][1:]) for k in ("eager", "compiled"))
    even = (first - comp) / (eager - comp) if eager > comp else float("inf")
    print(f"{'bf16' if a.bf16 else 'fp32'}, cache {os.environ.get('TORCHINDUCTOR_CACHE_DIR', '(torch default)')}: "
          f"first compiled step {first:.1f} CPU-s ({first_wall:.1f} s wall); eager {eager:.3f}, compiled {comp:.3f} "
          f"CPU-s/step (x{eager / comp:.3f}); break-even {even:.0f} steps")  # fmt: skip


if __name__ == "__main__":
    main()
