"""One side of benchmarks/pipelines_vs_hf.py: runs a pipeline over the inputs, in its own process, and writes
the outputs, the seconds and the peak memory as JSON. ``side`` is ``hf`` (run by the transformers 4.57 venv's
python) or ``mt`` (MassiveText)."""

import json
import sys
import time

import numpy as np


def plain(x):
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM: per address space, so not inherited from the parent the way
    getrusage's ru_maxrss is across exec)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(spec_path: str, out_path: str) -> None:
    spec = json.load(open(spec_path))
    import torch

    torch.set_num_threads(spec["threads"])
    side, task, model = spec["side"], spec["task"], spec["model"]
    if side == "hf":
        import transformers

        transformers.logging.set_verbosity_error()
        pipe = transformers.pipeline(task, model=model, tokenizer=model)
    else:
        import massivetext as mt

        pipe = mt.pipeline(task, model=model, batch_size=spec["batch_size"])
    inputs, kwargs = spec["inputs"], spec["kwargs"]
    if side == "hf":
        kwargs = {**kwargs, "batch_size": spec["batch_size"]}
    if task == "question-answering":
        call = lambda xs: pipe(question=[x["question"] for x in xs], context=[x["context"] for x in xs], **kwargs)  # noqa: E731
    else:
        call = lambda xs: pipe(xs, **kwargs)  # noqa: E731
    call(inputs[:4])  # warm-up (lazy inits, allocator)
    rss_before = peak_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        out = call(inputs)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if task == "question-answering" and isinstance(out, dict):
        out = [out]
    json.dump(
        {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,  # this process's CPU time: what a loaded machine disturbs least
            "outputs": plain(out),
            "peak_rss_mb": peak_mb(),
            "rss_after_load_mb": rss_before,
        },
        open(out_path, "w"),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
