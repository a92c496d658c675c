"""CUDA paths (skipped without a GPU): float32 parity with transformers on the GPU, and bfloat16/float16 forwards
and cached generation that stay close to float32."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import massivetext as mt
from peers import require

transformers = require("transformers")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _families():
    T = transformers
    return {
        "gpt2": (
            T.GPT2LMHeadModel(T.GPT2Config(n_embd=48, n_head=3, n_layer=2, vocab_size=101, n_positions=64)),
            mt.AutoModelForCausalLM,
        ),
        "bert": (
            T.BertForMaskedLM(
                T.BertConfig(
                    hidden_size=48, num_attention_heads=3, num_hidden_layers=2, intermediate_size=72, vocab_size=101
                )
            ),
            mt.AutoModelForMaskedLM,
        ),
        "t5": (
            T.T5ForConditionalGeneration(
                T.T5Config(
                    d_model=48, d_kv=16, num_heads=3, num_layers=2, d_ff=72, vocab_size=101, decoder_start_token_id=0
                )
            ),
            mt.AutoModelForSeq2SeqLM,
        ),
        "marian": (
            T.MarianMTModel(
                T.MarianConfig(
                    d_model=48,
                    encoder_attention_heads=3,
                    decoder_attention_heads=3,
                    encoder_layers=2,
                    decoder_layers=2,
                    encoder_ffn_dim=72,
                    decoder_ffn_dim=72,
                    vocab_size=101,
                    pad_token_id=100,
                    decoder_start_token_id=100,
                    max_position_embeddings=64,
                )
            ),
            mt.AutoModelForSeq2SeqLM,
        ),
    }


def _inputs(name, dev):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(3, 99, (2, 12), generator=g).to(dev)
    kw = {"input_ids": x}
    if name in ("t5", "marian"):
        kw["decoder_input_ids"] = torch.randint(3, 99, (2, 6), generator=g).to(dev)
    return kw


@pytest.mark.parametrize("name", ["gpt2", "bert", "t5", "marian"])
def test_cuda_float32_parity_and_half_precision(name, tmp_path):
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    hf, auto = _families()[name]
    hf.eval().save_pretrained(tmp_path)
    hf = hf.cuda()
    kw = _inputs(name, "cuda")
    ref = hf(**kw).logits.float()
    model = auto.from_pretrained(tmp_path, device="cuda")
    with torch.no_grad():
        assert_close(model(**kw).logits, ref, atol=1e-4, rtol=1e-4)
        for dtype in (torch.bfloat16, torch.float16):
            half = auto.from_pretrained(tmp_path, device="cuda", dtype=dtype)
            logits = half(**kw).logits
            assert logits.dtype == dtype and torch.isfinite(logits).all()
            # half precision: same answer up to rounding (scale-relative tolerance)
            assert (logits.float() - ref).abs().max() < 0.05 * ref.abs().max() + 0.05
            if name != "bert":
                out = half.generate(kw["input_ids"], max_new_tokens=8, eos_token_id=None)
                assert out.shape[0] == 2 and out.device.type == "cuda"


def test_cuda_generation_matches_transformers(tmp_path):
    torch.manual_seed(0)
    hf, auto = _families()["gpt2"]
    hf.eval().save_pretrained(tmp_path)
    hf = hf.cuda()
    model = auto.from_pretrained(tmp_path, device="cuda")
    x = torch.randint(3, 99, (3, 7), device="cuda")
    for kw in ({}, {"num_beams": 3}):
        ref = hf.generate(
            x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=20,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
            **kw,
        )
        assert torch.equal(model.generate(x, max_new_tokens=20, eos_token_id=None, pad_token_id=0, **kw), ref)
