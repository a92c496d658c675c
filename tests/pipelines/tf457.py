"""transformers 4.57, the reference for the pipelines v5 dropped (QA, translation, summarization, text2text).

It lives in a side virtualenv that this module creates once and caches (``~/.cache/massivetext/tf457-venv``, or
``$MASSIVETEXT_TF457_VENV``): a clean venv with torch (the local wheel when there is one) and ``transformers==4.57.*``.
Pipelines run there as a subprocess (``tf457_runner.py``) that writes its results as JSON. When the venv cannot be
made the tests skip, unless ``MASSIVETEXT_REQUIRE_PEERS=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

from peers import peers_required

VENV = Path(os.environ.get("MASSIVETEXT_TF457_VENV", Path.home() / ".cache" / "massivetext" / "tf457-venv"))
RUNNER = Path(__file__).with_name("tf457_runner.py")


def _unavailable(reason: str) -> None:
    if peers_required():
        pytest.fail(f"transformers 4.57 reference unavailable: {reason}")
    pytest.skip(f"transformers 4.57 reference unavailable: {reason}")


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import transformers, torch; assert transformers.__version__.startswith('4.57')"],
        capture_output=True,
        env=_env(),
    )
    return probe.returncode == 0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def venv_python() -> Path:
    python = VENV / "bin" / "python"
    if _works(python):
        return python
    tmp = Path(tempfile.mkdtemp(prefix="tf457-", dir=VENV.parent if VENV.parent.exists() else None))
    try:
        VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True, capture_output=True)
        version = torch.__version__.split("+")[0]
        wheels = glob.glob(f"/opt/wheels/torch-{version}*.whl")
        torch_req = wheels[0] if wheels else f"torch=={version}"
        pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", torch_req, "transformers==4.57.*"]
        done = subprocess.run(pip, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            _unavailable(f"pip install failed: {done.stderr[-500:]}")
        if VENV.exists():
            shutil.rmtree(VENV)
        tmp.rename(VENV)  # a venv's python resolves its site-packages relative to itself: safe to move
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not _works(python):
        _unavailable(f"{VENV} does not import transformers 4.57")
    return python


def run(jobs: list[dict[str, Any]]) -> list[list[Any]]:
    """Each job: {"task", "model", "pipeline": {...}, "calls": [{"args": [...], "kwargs": {...}}]}; returns the
    results per job and call, as JSON (floats as Python floats)."""
    python = venv_python()
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "jobs.json", Path(d) / "out.json"
        src.write_text(json.dumps(jobs))
        done = subprocess.run(
            [str(python), str(RUNNER), str(src), str(dst)], capture_output=True, text=True, env=_env(), timeout=900
        )
        if done.returncode != 0:
            raise RuntimeError(f"transformers 4.57 runner failed:\n{done.stderr[-3000:]}")
        return json.loads(dst.read_text())
