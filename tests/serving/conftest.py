"""Fixtures: a tiny GPT-2 + tokenizer made here, and real servers (uvicorn subprocesses on free loopback ports)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _serving_tiny import make_tiny_gpt2  # noqa: E402

pytest.importorskip("fastapi")
pytest.importorskip("transformers")

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return make_tiny_gpt2(tmp_path_factory.mktemp("serve") / "tiny-gpt2", n_positions=512)


@pytest.fixture(scope="session")
def tiny_model(tiny_dir):
    import massivetext as mt

    return mt.AutoModelForCausalLM.from_pretrained(tiny_dir), mt.AutoTokenizer.from_pretrained(tiny_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``massivetext serve`` in a subprocess; ``url`` once /health says ready."""

    def __init__(self, model_dir: Path, *args: str, env: dict | None = None, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        e = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
        self.log = log
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
        cmd = [sys.executable, "-m", "massivetext.cli.main", "serve", "--model", str(model_dir)]
        cmd += ["--port", str(self.port), "--log-level", "warning", *args]
        self.proc = subprocess.Popen(cmd, env=e, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.logs()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in 90 s: {self.logs()}")

    def logs(self) -> str:
        return self.log.read_text() if self.log and self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def server(tiny_dir, tmp_path_factory):
    s = Server(
        tiny_dir,
        "--max-batch-size",
        "8",
        "--max-queue",
        "64",
        log=tmp_path_factory.mktemp("log") / "server.log",
    )
    yield s
    s.stop()
