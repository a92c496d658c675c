"""Fixtures: a tiny GPT-2 + tokenizer made here, and real servers (uvicorn subprocesses on free loopback ports)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from peers import require

sys.path.insert(0, str(Path(__file__).parent))
from _serving_tiny import Server, make_tiny_gpt2  # noqa: E402

require("fastapi")
require("transformers")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return make_tiny_gpt2(tmp_path_factory.mktemp("serve") / "tiny-gpt2", n_positions=512)


@pytest.fixture(scope="session")
def tiny_model(tiny_dir):
    import massivetext as mt

    return mt.AutoModelForCausalLM.from_pretrained(tiny_dir), mt.AutoTokenizer.from_pretrained(tiny_dir)


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
