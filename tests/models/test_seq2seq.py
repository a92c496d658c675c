"""T5 (v1.0, v1.1 tied and untied) and Marian: logits, loss, greedy and beam generation equal to transformers."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.testing import assert_close

import massivetext as mt
from peers import require

transformers = require("transformers")


def _t5(feed_forward_proj: str):
    return transformers.T5ForConditionalGeneration(
        transformers.T5Config(
            d_model=48,
            d_kv=16,
            num_heads=3,
            num_layers=2,
            d_ff=72,
            vocab_size=90,
            decoder_start_token_id=0,
            relative_attention_num_buckets=8,
            relative_attention_max_distance=20,
            feed_forward_proj=feed_forward_proj,
        )
    )


def _marian():
    return transformers.MarianMTModel(
        transformers.MarianConfig(
            d_model=48,
            encoder_attention_heads=3,
            decoder_attention_heads=3,
            encoder_layers=2,
            decoder_layers=2,
            encoder_ffn_dim=72,
            decoder_ffn_dim=72,
            vocab_size=90,
            pad_token_id=89,
            decoder_start_token_id=89,
            eos_token_id=0,
            forced_eos_token_id=0,
            max_position_embeddings=64,
            scale_embedding=True,
            activation_function="swish",
        )
    )


def _untie(path):
    """A v1.1 checkpoint as Google ships it: a separate lm_head and tie_word_embeddings false."""
    state = load_file(str(path / "model.safetensors"))
    state["lm_head.weight"] = torch.randn(state["shared.weight"].shape, generator=torch.Generator().manual_seed(5))
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((path / "config.json").read_text())
    cfg["tie_word_embeddings"] = False
    cfg.pop("scale_decoder_outputs", None)
    (path / "config.json").write_text(json.dumps(cfg))


def _inputs(pad: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 88, (2, 13), generator=g)
    mask = torch.ones_like(x)
    mask[1, 9:] = 0
    x[1, 9:] = pad
    return x, mask, torch.randint(1, 88, (2, 7), generator=g)


CASES = ["t5-v1.0", "t5-v1.1-tied", "t5-v1.1-untied", "marian"]


def _build(case, tmp_path):
    torch.manual_seed(0)
    hf = _marian() if case == "marian" else _t5("relu" if case == "t5-v1.0" else "gated-gelu")
    hf.eval().save_pretrained(tmp_path / "hf")
    if case == "t5-v1.1-untied":
        _untie(tmp_path / "hf")
        hf = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path / "hf").eval()
        assert hf.lm_head.weight.data_ptr() != hf.shared.weight.data_ptr()
    return hf, mt.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf")


@pytest.mark.parametrize("case", CASES)
def test_logits_loss_and_roundtrip(case, tmp_path):
    hf, model = _build(case, tmp_path)
    x, mask, y = _inputs(hf.config.pad_token_id)
    with torch.no_grad():
        ours, ref = model(x, attention_mask=mask, labels=y), hf(input_ids=x, attention_mask=mask, labels=y)
    assert_close(ours.logits, ref.logits, atol=1e-4, rtol=1e-4)
    assert_close(ours.loss, ref.loss, atol=1e-5, rtol=1e-5)
    model.save_pretrained(tmp_path / "mt")
    back = type(hf).from_pretrained(tmp_path / "mt").eval()
    with torch.no_grad():
        assert_close(back(input_ids=x, attention_mask=mask, labels=y).logits, ref.logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", ["t5-v1.0", "t5-v1.1-untied", "marian"])
@pytest.mark.parametrize("kwargs", [{}, {"num_beams": 3}, {"num_beams": 2, "repetition_penalty": 1.5}])
def test_generate_matches_transformers(case, kwargs, tmp_path):
    hf, model = _build(case, tmp_path)
    x, mask, _ = _inputs(hf.config.pad_token_id)
    # an EOS the model emits early, so finished rows and beam hypotheses are exercised
    probe = hf.generate(
        x, attention_mask=mask, max_new_tokens=8, do_sample=False, eos_token_id=None, forced_eos_token_id=None
    )
    eos = int(probe[0, 3])
    gen = {"max_new_tokens": 15, "eos_token_id": eos, **kwargs}
    ref = hf.generate(x, attention_mask=mask, do_sample=False, **gen)
    ours = model.generate(x, attention_mask=mask, **gen)
    assert torch.equal(ours, ref), (ours, ref)


def test_t5_with_more_decoder_layers_and_token_mean_loss(tmp_path):
    torch.manual_seed(0)
    hf = transformers.T5ForConditionalGeneration(
        transformers.T5Config(
            d_model=48,
            d_kv=16,
            num_heads=3,
            num_layers=1,
            num_decoder_layers=3,
            d_ff=72,
            vocab_size=90,
            decoder_start_token_id=0,
        )
    ).eval()
    hf.save_pretrained(tmp_path)
    model = mt.AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    x, mask, y = _inputs(0)
    y[0, 4:] = -100
    with torch.no_grad():
        ours, ref = model(x, attention_mask=mask, labels=y), hf(input_ids=x, attention_mask=mask, labels=y)
        summed = model(x, attention_mask=mask, labels=y, num_items_in_batch=100).loss
    assert_close(ours.logits, ref.logits, atol=1e-4, rtol=1e-4)
    assert_close(ours.loss, ref.loss, atol=1e-5, rtol=1e-5)
    assert_close(summed, ref.loss * int((y != -100).sum()) / 100, atol=1e-5, rtol=1e-5)


def _batch(pad: int, n: int = 6):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(1, 88, (n, 11), generator=g)
    mask = torch.ones_like(x)
    for i in range(n):
        mask[i, 11 - i :] = 0
        x[i, 11 - i :] = pad
    return x, mask


@pytest.mark.parametrize("early_stopping", [True, False])
@pytest.mark.parametrize("case", ["t5-v1.0", "marian"])
def test_beam_search_drops_finished_inputs(case, early_stopping, tmp_path):
    """A batch of inputs of different lengths with beams and several returned sequences: transformers' beams, also
    when inputs that are done leave the batch early (their rows stop costing model time)."""
    hf, model = _build(case, tmp_path)
    x, mask = _batch(hf.config.pad_token_id)
    probe = hf.generate(
        x, attention_mask=mask, max_new_tokens=6, do_sample=False, eos_token_id=None, forced_eos_token_id=None
    )
    eos = int(probe[0, 1:].mode().values)  # the token the first input repeats most: its beams end early
    gen = {
        "max_new_tokens": 20,
        "eos_token_id": eos,
        "num_beams": 3,
        "num_return_sequences": 2,
        "early_stopping": early_stopping,
    }
    ref = hf.generate(x, attention_mask=mask, do_sample=False, **gen)
    rows = []
    step = model._gen_step
    model._gen_step = lambda tokens, *a, **k: rows.append(tokens.shape[0]) or step(tokens, *a, **k)
    ours = model.generate(x, attention_mask=mask, **gen)
    assert torch.equal(ours, ref), (ours, ref)
    assert rows[0] == 6 and rows[1] == 6 * 3, rows  # the first step once per input (its beams are equal then)
    if case == "t5-v1.0" and early_stopping:  # (planted by the seed) two inputs finish first and leave the batch
        assert min(rows[1:]) == 4 * 3, rows


@pytest.mark.parametrize("case", ["t5-v1.1-tied", "marian"])
@pytest.mark.parametrize("kwargs", [{}, {"num_beams": 3}])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_size_matches_transformers(case, kwargs, n, tmp_path):
    hf, model = _build(case, tmp_path)
    x, mask = _batch(hf.config.pad_token_id, 3)
    gen = {"max_new_tokens": 16, "no_repeat_ngram_size": n, **kwargs}
    ref = hf.generate(x, attention_mask=mask, do_sample=False, **gen)
    assert torch.equal(model.generate(x, attention_mask=mask, **gen), ref)
    if n == 1:  # the ban is exercised: without it a token repeats in some row
        plain = model.generate(x, attention_mask=mask, max_new_tokens=16, **kwargs)
        assert not torch.equal(plain, ref)


def test_beam_search_fast_paths_match_transformers(tmp_path):
    """Marian with a vocabulary large enough for row_topk's fast path, 4 beams, every input running to the length
    cap, where the last step is forced to EOS: transformers' beams, with the first step computed once per input
    and no model step for the forced last token."""
    torch.manual_seed(0)
    hf = transformers.MarianMTModel(
        transformers.MarianConfig(
            d_model=32,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_layers=1,
            decoder_layers=2,
            encoder_ffn_dim=48,
            decoder_ffn_dim=48,
            vocab_size=3001,  # 46 chunks of 64 and a remainder
            pad_token_id=3000,
            decoder_start_token_id=3000,
            eos_token_id=0,
            forced_eos_token_id=0,
            max_position_embeddings=64,
            scale_embedding=True,
            activation_function="swish",
        )
    ).eval()
    with torch.no_grad():
        hf.final_logits_bias.normal_(0, 1.0)  # Marian's output bias, added inside the output product
        hf.final_logits_bias[0, 0] = -20.0  # EOS never wins: every input runs to the cap
    hf.save_pretrained(tmp_path / "hf")
    model = mt.AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf")
    x, mask = _batch(3000, n=5)
    gen = {"max_new_tokens": 9, "num_beams": 4, "num_return_sequences": 2}
    ref = hf.generate(x, attention_mask=mask, do_sample=False, **gen)
    assert ref.shape[1] == 10 and bool((ref[:, -1] == 0).all())  # the cap, then the forced EOS
    rows = []
    step = model._gen_step
    model._gen_step = lambda tokens, *a, **k: rows.append(tokens.shape[0]) or step(tokens, *a, **k)
    ours = model.generate(x, attention_mask=mask, **gen)
    assert torch.equal(ours, ref), (ours, ref)
    assert rows == [5] + [20] * 7, rows  # once per input first; 8 model steps for 9 tokens
