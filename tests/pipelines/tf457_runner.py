"""Runs transformers pipelines (inside the 4.57 side virtualenv) on jobs from a JSON file; writes JSON results."""

import json
import sys
import warnings

import numpy as np
import torch
import transformers

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
torch.set_num_threads(1)


def plain(x):
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return x.tolist()
    return x


def main(src: str, dst: str) -> None:
    jobs = json.load(open(src))
    out = []
    for job in jobs:
        pipe = transformers.pipeline(job["task"], model=job["model"], tokenizer=job["model"], **job.get("pipeline", {}))
        results = []
        for call in job["calls"]:
            results.append(plain(pipe(*call.get("args", []), **call.get("kwargs", {}))))
        out.append(results)
    json.dump(out, open(dst, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
