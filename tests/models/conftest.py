"""Tiny random checkpoints made by transformers (non-default sizes), saved to tmp dirs for MassiveText to load."""

from __future__ import annotations

import pytest
import torch

from peers import require

transformers = require("transformers")

torch.set_num_threads(1)


def save_hf(model, path) -> str:
    model.eval().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_embd=48,
        n_head=3,
        n_layer=2,
        vocab_size=101,
        n_positions=64,
        bos_token_id=1,
        eos_token_id=2,
        activation_function="gelu_new",
    )
    hf = transformers.GPT2LMHeadModel(cfg)
    return save_hf(hf, tmp_path_factory.mktemp("gpt2")), hf.eval()
