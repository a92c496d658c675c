"""Where a training step's time goes: torch.profiler over steps of the benchmark GPT (4 x 256, context 256,
vocabulary 8,192, batch 8), as the Trainer runs them (autocast, chunked loss, clip, fused AdamW).

    python benchmarks/profile_train_step.py [--bf16] [--dropout 0.1] [--steps 3]

Prints a table of the time per step by part (forward, loss, backward, clip, optimizer) and the top operators.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--vocab", type=int, default=8192)
    a = p.parse_args()
    import massivetext as mt
    from massivetext.models.losses import causal_lm_loss_from_hidden

    d = a.dropout
    cfg = mt.AutoConfig.for_model("gpt2", vocab_size=a.vocab, n_positions=256, n_embd=256, n_layer=4, n_head=4,
                                  resid_pdrop=d, embd_pdrop=d, attn_pdrop=d)  # fmt: skip
    torch.manual_seed(0)
    model = mt.AutoModelForCausalLM.from_config(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    x = torch.randint(0, a.vocab, (8, 256))
    parts: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
        return out

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            h = timed("forward (trunk)", lambda: model.trunk(x))
            loss = timed("loss (chunked lm head + CE)", lambda: causal_lm_loss_from_hidden(
                h, model.lm_head.weight, labels=x))  # fmt: skip
        timed("backward", loss.backward)
        timed("clip_grad_norm_ (foreach)", lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        timed("AdamW (fused)", opt.step)
        timed("zero_grad", lambda: opt.zero_grad(set_to_none=True))

    step()
    parts.clear()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(a.steps):
            step()
    total = sum(parts.values())
    print(f"# bf16={a.bf16} dropout={d} vocab={a.vocab}: {total / a.steps:.3f} s/step (profiler on)")
    print("| part | s/step | share |\n|---|---|---|")
    for k, v in parts.items():
        print(f"| {k} | {v / a.steps:.3f} | {100 * v / total:.1f}% |")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
