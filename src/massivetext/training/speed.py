"""The "auto" speed defaults: bf16 autocast where the hardware computes bf16 natively, torch.compile when the run
is long enough to repay compiling, and an eager fallback for a model that cannot compile.

Each choice comes with the reason the Trainer logs once ("bf16 autocast: CPU has AVX-512 BF16").
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

# When torch.compile repays its compile time, as training work (FLOPs) done after which the saved time exceeds the
# compile time: steps x FLOPs per step. Compile time is roughly fixed while the time a compiled step saves grows with
# the step's work, so a tiny model never repays it and a large one repays it in a few steps.
# CPU, measured on this project's 2-core AMD EPYC (AVX-512 BF16, no AMX) with benchmarks/train_vs_hf.py's GPT (4 x 256,
# context 256, vocabulary 8,192, batch 8: 34.7 MFLOP/token x 2,048 tokens = 71.0 GFLOP/step), dropout 0, one thread,
# in CPU seconds so that the other jobs on the machine do not count (compiling in-process with the C++ compiler's
# processes counted), eager and compiled steps interleaved in one process, cold compile cache (what a first run pays;
# benchmarks/compile_break_even.py):
#   bf16 autocast: compile 41.7 s; eager 0.717 s/step, compiled 0.612 (x1.17) -> (41.7 - 0.61) / 0.105 = 394 steps
#                  (with the cache warm, as for a resumed or repeated run: compile 6.0 s -> 77 steps)
#   fp32:          compile 36.1 s; eager 1.023 s/step, compiled 0.942 (x1.09) -> (36.1 - 0.94) / 0.081 = 435 steps
#                  (warm cache: compile 5.4 s -> 67 steps)
# On the 2 quiet cores (train_vs_hf.py, bf16, 3 interleaved rounds) compiled steps ran 1.11-1.16x eager and the
# warm-cache compile held the first step 5.3-5.8 s (eager 0.5 s); a cold compile was not timed there.
# (An earlier estimate, 100 steps in fp32 and "never" in bf16, came from wall-clock times on a machine loaded so much
# that a step took 30 times its quiet time.) CUDA, an estimate (no GPU was lent to measure): GPT-2 124M at batch 8 x
# 1,024 (7.0 TFLOP/step) compiles in about a minute and saves ~30 ms a step -> ~2,000 steps.
BENCH_FLOPS_PER_STEP = 71.0e9
GPT2_124M_FLOPS_PER_STEP = 7.0e12
BREAK_EVEN_FLOPS: dict[tuple[str, bool], float | None] = {
    ("cpu", False): 440 * BENCH_FLOPS_PER_STEP,
    ("cpu", True): 400 * BENCH_FLOPS_PER_STEP,
    ("cuda", False): 2000 * GPT2_124M_FLOPS_PER_STEP,
    ("cuda", True): 2000 * GPT2_124M_FLOPS_PER_STEP,
}
_CPU_BF16_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX-512 BF16", "bf16": "BF16 (Arm)"}


def cpu_bf16_unit(cpuinfo: str | None = None) -> str | None:
    """The CPU's native bf16 matmul unit named from /proc/cpuinfo flags (or torch's capability), else None.

    Emulated bf16 (plain AVX-512 or AVX2) is slower than fp32, so only real units count: AMX, AVX-512 BF16, Arm's BF16.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    for flag, name in _CPU_BF16_FLAGS.items():
        if flag in flags:
            return name
    if "AMX" in str(torch.backends.cpu.get_cpu_capability()).upper():  # no /proc (macOS, containers without it)
        return "AMX"
    return None


def resolve_bf16(setting: bool | str, device: torch.device, fp16: bool = False) -> tuple[bool, str]:
    """(use bf16 autocast, why). True/False force it; "auto" follows the hardware."""
    if setting is not True and setting != "auto":
        return False, "fp32: bf16=False"
    if setting is True:
        return True, "bf16 autocast: bf16=True"
    if fp16:
        return False, "fp16 autocast: fp16=True"
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if major >= 8:
            return True, f"bf16 autocast: CUDA compute capability {major}.{minor} >= 8.0"
        return False, f"fp32: CUDA compute capability {major}.{minor} < 8.0 has no bf16 tensor cores"
    if device.type == "cpu":
        unit = cpu_bf16_unit()
        if unit:
            return True, f"bf16 autocast: CPU has {unit}"
        return False, "fp32: this CPU has no native bf16 unit (AMX / AVX-512 BF16 / Arm BF16)"
    return False, f"fp32: bf16='auto' enables bf16 on CUDA and CPU only, not {device.type}"


def break_even_steps(device: torch.device, flops_per_step: float, bf16: bool = False) -> int | None:
    """Steps after which compiling has paid for itself, for a step of `flops_per_step` (None: it never does)."""
    work = BREAK_EVEN_FLOPS.get((device.type, bf16))
    return None if work is None else max(1, math.ceil(work / max(flops_per_step, 1.0)))


def resolve_compile(
    setting: bool | str, model: Any, device: torch.device, steps: int, flops_per_step: float, bf16: bool = False
) -> tuple[bool, str]:
    """(compile, why). True/False force it; "auto" compiles MassiveText models on runs of more `steps` than the
    break-even."""
    if setting is True:
        return True, "compile: torch_compile=True"
    if setting != "auto":
        return False, "eager: torch_compile=False"
    from massivetext.models.base import PreTrainedModel

    if not isinstance(model, PreTrainedModel):
        return False, f"eager: {type(model).__name__} is not a MassiveText model (torch_compile=True compiles it)"
    even = break_even_steps(device, flops_per_step, bf16)
    if even is None:
        return False, f"eager: no compile break-even known for {device.type}"
    if steps <= even:
        return False, f"eager: {steps:,} steps <= compile break-even {even:,}"
    return True, f"compile: {steps:,} steps > break-even {even:,}"


def use_compile_cache() -> str:
    """Point inductor at a cache that outlives /tmp (a resumed or repeated run reuses the compiled kernels);
    TORCHINDUCTOR_CACHE_DIR set by the user wins."""
    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(base, "massivetext", "inductor")
    return os.environ["TORCHINDUCTOR_CACHE_DIR"]


class CompiledOrEager:
    """Calls the compiled module; if compiling fails on the first call, warns once and runs eager from then on.

    Only the first call can fall back: compilation happens there, before any kernel ran, so nothing (parameters,
    RNG draws for dropout aside) has changed. Later errors are real errors and propagate.
    """

    def __init__(self, module: torch.nn.Module):
        self.eager = module
        self.compiled = torch.compile(module)
        self.target: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.target is not None:
            return self.target(*args, **kwargs)
        try:
            out = self.compiled(*args, **kwargs)
            self.target = self.compiled
            return out
        except Exception as exc:  # dynamo / inductor / a missing C++ compiler: all mean "cannot compile"
            name = type(self.eager).__name__
            warnings.warn(f"torch.compile failed for {name}; training eager instead ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''})", stacklevel=2)  # fmt: skip
            self.target = self.eager
            return self.eager(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # model.config, model.training, ... as on the module itself
        return getattr(self.eager, name)
