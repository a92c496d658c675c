"""Peak memory and time of the LM loss's forward + backward: full logits vs the chunked loss (no B x T x V logits).

Each path runs in its own process (peak RSS, VmHWM, is per process); the parent prints both and the ratios.

    python benchmarks/chunked_loss_memory.py [--vocab 50257] [--rows 2048] [--width 256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def run(path: str, vocab: int, rows: int, width: int) -> dict:
    import torch

    from massivetext.models.losses import linear_cross_entropy, token_loss

    torch.manual_seed(0)
    h = torch.randn(rows, width, requires_grad=True)
    w = (torch.randn(vocab, width) * 0.02).requires_grad_()
    t = torch.randint(0, vocab, (rows,))
    before = _peak_mb()
    start = time.perf_counter()
    if path == "full":
        loss = token_loss(h @ w.t(), t)
    else:
        loss = linear_cross_entropy(h, w, t)
    loss.backward()
    return {"path": path, "seconds": time.perf_counter() - start, "extra_peak_mb": _peak_mb() - before,
            "loss": loss.item()}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--rows", type=int, default=2048, help="batch x sequence length (8 x 256)")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--run", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.run:
        print("RESULT " + json.dumps(run(a.run, a.vocab, a.rows, a.width)))
        return
    res = {}
    for path in ("full", "chunked"):
        out = subprocess.run([sys.executable, __file__, "--run", path, "--vocab", str(a.vocab), "--rows", str(a.rows),
                              "--width", str(a.width)], capture_output=True, text=True, check=True)  # fmt: skip
        res[path] = json.loads(next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))[7:])
        r = res[path]
        print(f"{path:8s} loss {r['loss']:.6f}  {r['seconds']:.2f} s  +{r['extra_peak_mb']:.0f} MB peak", flush=True)
    f, c = res["full"], res["chunked"]
    print(f"# {a.rows} rows x vocab {a.vocab} (fp32 logits {a.rows * a.vocab * 4 / 2**20:.0f} MB): chunked/full "
          f"peak memory x{c['extra_peak_mb'] / max(f['extra_peak_mb'], 1e-9):.2f}, speed x{f['seconds'] / c['seconds']:.2f}")


if __name__ == "__main__":
    main()
