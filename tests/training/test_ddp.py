"""torchrun with 2 CPU processes (gloo) matches 1 process with the same global batch; each rank reads its own rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def test_two_processes_match_one(tmp_path):
    from ddp_worker import run

    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(tmp_path / "ddp"), "2"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]

    single, data = run(str(tmp_path / "one"), 4)  # 1 process x batch 4 == 2 processes x batch 2
    ddp_log = json.loads((tmp_path / "ddp" / "log.json").read_text())
    one = [r[k] for r in single.state.log_history if "loss" in r for k in ("loss", "grad_norm")]
    two = [r[k] for r in ddp_log if "loss" in r for k in ("loss", "grad_norm")]
    assert len(one) == len(two) == 8
    assert two == pytest.approx(one, rel=1e-5)
    ev1 = next(r for r in single.state.log_history if "eval_loss" in r)["eval_loss"]
    ev2 = next(r for r in ddp_log if "eval_loss" in r)["eval_loss"]
    assert ev2 == pytest.approx(ev1, rel=1e-5)
    # each rank read its own rows; together exactly what the single process read
    seen = [json.loads((tmp_path / "ddp" / f"seen_{r}.json").read_text()) for r in range(2)]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(data.seen)
    # rank 0 saved the checkpoint with one RNG file per rank; the weights equal the single-process run's
    ckpt = tmp_path / "ddp" / "checkpoint-4"
    assert (ckpt / "rng_state_0.pth").exists() and (ckpt / "rng_state_1.pth").exists()
    from safetensors.torch import load_file

    weights = load_file(str(ckpt / "model.safetensors"))
    own = single.model.state_dict()
    for k, v in weights.items():
        torch.testing.assert_close(v, own[k], rtol=1e-3, atol=1e-4)  # Adam magnifies float noise
