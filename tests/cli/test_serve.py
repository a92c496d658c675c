"""``massivetext serve``: bad model directories fail in one line with exit 2, before any port is bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "massivetext.cli.main", "serve", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=120,
    )


def test_missing_directory(tmp_path):
    r = run("--model", str(tmp_path / "nope"), "--port", "1")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no such model directory" in r.stderr


def test_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    r = run("--model", str(tmp_path), "--port", "1")
    assert r.returncode == 2 and "config.json" in r.stderr and r.stderr.strip().count("\n") == 0
    (tmp_path / "config.json").write_text("{broken")
    r = run("--model", str(tmp_path), "--port", "1")
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_weights_without_tokenizer(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    r = run("--model", str(tmp_path), "--port", "1")
    assert r.returncode == 2 and "tokenizer" in r.stderr


@pytest.mark.parametrize("flag", ["--max-batch-size", "--max-queue"])
def test_impossible_sizes(tmp_path, flag):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
    from _serving_tiny import make_tiny_gpt2

    d = make_tiny_gpt2(tmp_path / "m", n_positions=32)
    r = run("--model", str(d), flag, "0", "--port", "1")
    assert r.returncode == 2 and "at least 1" in r.stderr


def test_a_negative_stream_interval(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
    from _serving_tiny import make_tiny_gpt2

    d = make_tiny_gpt2(tmp_path / "m", n_positions=32)
    r = run("--model", str(d), "--stream-interval-ms", "-1", "--port", "1")
    assert r.returncode == 2 and "--stream-interval-ms" in r.stderr and r.stderr.strip().count("\n") == 0


def test_help_lists_the_options():
    r = run("--help")
    assert r.returncode == 0
    for flag in (
        "--api-key",
        "--max-batch-size",
        "--max-queue",
        "--max-model-len",
        "--dtype",
        "--redact-pii",
        "--stream-interval-ms",
    ):
        assert flag in r.stdout
