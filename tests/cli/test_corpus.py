"""``massivetext corpus NAME`` for the named data sets: builds, copies, and one line + exit 2 when offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "massivetext.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)  # fmt: skip


def test_corpus_builds_a_named_dataset(tmp_path):
    out = _cli("corpus", "movie-sentiment", "--output", str(tmp_path / "ms"))
    if out.returncode == 2 and "could not fetch" in out.stderr:
        pytest.skip(f"registry not reachable: {out.stderr.strip()}")
    assert out.returncode == 0, out.stderr
    assert "train 8" in out.stdout and "licence: MIT" in out.stdout and "source: pip download" in out.stdout
    info = json.loads((tmp_path / "ms" / "info.json").read_text())
    rows = sum(1 for s in ("train", "validation", "test") for _ in open(tmp_path / "ms" / f"{s}.jsonl"))
    assert rows == sum(info["num_rows"].values()) == 10605


def test_corpus_offline_is_one_line_exit_2(tmp_path):
    env = {"MASSIVETEXT_CACHE": str(tmp_path), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "none")}
    out = _cli("corpus", "chat-dialogs", env=env)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "could not fetch chatterbot-corpus==1.3.3 with pip" in out.stderr
    out = _cli("corpus", "movie-sentiment", "--max-docs", "3", env=env)
    assert out.returncode == 2 and "stdlib corpus only" in out.stderr
