"""Loading a checkpoint builds the model on the meta device and must not run any random init there: torch's meta
``normal_`` goes through ``torch._refs``, whose first call imports ``torch._dynamo`` (~70 MB resident in every
pipeline or server process, for values the checkpoint overwrites)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import massivetext as mt
from massivetext.models.config import LSTMConfig
from massivetext.models.lstm import LSTMForCausalLM
from peers import require

transformers = require("transformers")


def _save(tmp_path, family: str) -> str:
    torch.manual_seed(0)
    if family == "gpt2":
        cfg = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=100, n_positions=64)
        transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    elif family == "marian":
        cfg = transformers.MarianConfig(
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            vocab_size=100,
            pad_token_id=99,
            decoder_start_token_id=99,
            max_position_embeddings=64,
        )
        transformers.MarianMTModel(cfg).save_pretrained(tmp_path)
    elif family == "t5":
        cfg = transformers.T5Config(
            d_model=32, d_kv=16, num_heads=2, num_layers=1, d_ff=32, vocab_size=100, decoder_start_token_id=0
        )
        transformers.T5ForConditionalGeneration(cfg).save_pretrained(tmp_path)
    elif family == "bert":
        cfg = transformers.BertConfig(
            hidden_size=48, num_attention_heads=3, num_hidden_layers=2, intermediate_size=96, vocab_size=90
        )
        transformers.BertForTokenClassification(cfg).save_pretrained(tmp_path)
        return "AutoModelForTokenClassification"
    else:  # our own LSTM baseline, saved by us
        LSTMForCausalLM(LSTMConfig(vocab_size=100, hidden_size=16)).save_pretrained(tmp_path)
    return "AutoModelForCausalLM" if family in ("gpt2", "lstm") else "AutoModelForSeq2SeqLM"


@pytest.mark.parametrize("family", ["bert", "gpt2", "marian", "t5", "lstm"])
def test_loading_a_checkpoint_does_not_import_dynamo(tmp_path, family):
    auto = _save(tmp_path, family)
    code = (
        "import sys, torch, massivetext as mt\n"
        f"m = mt.{auto}.from_pretrained({str(tmp_path)!r})\n"
        "with torch.inference_mode():\n"
        + (
            "    m(input_ids=torch.tensor([[5, 6, 7, 0]]), attention_mask=torch.tensor([[1, 1, 1, 0]]), skip_padding=True)\n"
            if family == "bert"  # the packed inference path too
            else "    m.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3)\n"
        )
        + "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("family", ["gpt2", "marian", "t5"])
def test_loaded_weights_are_the_checkpoints(tmp_path, family):
    """Skipping the meta init must leave nothing uninitialized: every tensor equals transformers' after loading."""
    _save(tmp_path, family)
    hf_cls = {"gpt2": transformers.GPT2LMHeadModel, "marian": transformers.MarianMTModel}.get(
        family, transformers.T5ForConditionalGeneration
    )
    hf = hf_cls.from_pretrained(tmp_path).eval()
    auto = mt.AutoModelForCausalLM if family == "gpt2" else mt.AutoModelForSeq2SeqLM
    ours = auto.from_pretrained(tmp_path)
    x = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        if family == "gpt2":
            ref, got = hf(x).logits, ours(x).logits
        else:
            d = torch.tensor([[hf.config.decoder_start_token_id, 5, 6]])
            ref, got = hf(input_ids=x, decoder_input_ids=d).logits, ours(input_ids=x, decoder_input_ids=d).logits
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
