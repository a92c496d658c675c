"""GPT-2 parity with transformers (logits, loss, generation), save/load both ways, and the modern options."""

from __future__ import annotations

import json

import pytest
import torch
from torch.testing import assert_close

import massivetext as mt
from massivetext.models.gpt import GPTForCausalLM
from peers import require

transformers = require("transformers")


def _batch(vocab=101, B=3, T=17, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, vocab, (B, T), generator=g)
    mask = torch.ones_like(x)
    mask[0, :5] = 0  # left padding, as generation uses it
    mask[1, :2] = 0
    return x, mask


def test_logits_and_loss_match_transformers(gpt2_dir):
    path, hf = gpt2_dir
    model = mt.AutoModelForCausalLM.from_pretrained(path)
    assert isinstance(model, GPTForCausalLM)
    x, mask = _batch()
    with torch.no_grad():
        ours, ref = model(x, labels=x), hf(x, labels=x)
        assert_close(ours.logits, ref.logits, atol=1e-4, rtol=1e-4)
        assert_close(ours.loss, ref.loss, atol=1e-5, rtol=1e-5)
        # padded rows: compare where the mask is 1
        ours, ref = model(x, attention_mask=mask).logits, hf(x, attention_mask=mask).logits
        keep = mask.bool()
        assert_close(ours[keep], ref[keep], atol=1e-4, rtol=1e-4)


def test_shift_labels_and_num_items_in_batch(gpt2_dir):
    path, _ = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)
    x, _ = _batch()
    x[0, 3] = -100  # an ignored label
    inputs = x.clamp(min=0)
    with torch.no_grad():
        mean = model(inputs, labels=x).loss
        shifted = model(inputs[:, :-1], shift_labels=x[:, 1:]).loss
        logits = model(inputs).logits
        n = int((x[:, 1:] != -100).sum())
        summed = model(inputs, labels=x, num_items_in_batch=2 * n).loss
    ref = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 101), x[:, 1:].reshape(-1), ignore_index=-100)
    assert_close(mean, ref)
    # shift_labels: the same targets used as given; only the last input position is dropped
    ref_shift = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 101), x[:, 1:].reshape(-1), ignore_index=-100, reduction="mean"
    )
    assert_close(shifted, ref_shift, atol=1e-5, rtol=1e-5)
    assert_close(summed, mean / 2)


def test_save_with_massivetext_load_with_transformers(gpt2_dir, tmp_path):
    path, hf = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["architectures"] == ["GPT2LMHeadModel"]
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    x, _ = _batch()
    with torch.no_grad():
        assert_close(back(x).logits, hf(x).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("padded", [True, False], ids=["left-padded", "unpadded"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"repetition_penalty": 1.3},
        {"num_beams": 3},
        {"num_beams": 3, "length_penalty": 0.5, "early_stopping": True},
        {"num_beams": 2, "num_return_sequences": 2, "early_stopping": "never"},
    ],
)
def test_generate_matches_transformers(gpt2_dir, kwargs, padded):
    """Left-padded batches take the masked path; unpadded ones the lean one-token decode step."""
    path, hf = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)
    x, mask = _batch(T=9)
    if not padded:
        mask = torch.ones_like(mask)
    # an EOS that the model actually emits, so early finishing and padding are exercised
    with torch.no_grad():
        first = hf.generate(
            x, attention_mask=mask, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
        )
    eos = int(torch.mode(first[:, 9:].flatten()).values)
    gen = {"max_new_tokens": 12, "eos_token_id": eos, "pad_token_id": 0, **kwargs}
    ref = hf.generate(x, attention_mask=mask, do_sample=False, **gen)
    ours = model.generate(x, attention_mask=None if not padded else mask, **gen)
    assert torch.equal(ours, ref), (ours, ref)


def test_sampling_is_seeded_and_respects_top_k(gpt2_dir):
    path, _ = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)
    x = torch.tensor([[5, 6, 7]])
    g = torch.Generator().manual_seed(0)
    a = model.generate(x, max_new_tokens=8, do_sample=True, top_k=1, temperature=0.7, eos_token_id=None, generator=g)
    greedy = model.generate(x, max_new_tokens=8, eos_token_id=None)
    assert torch.equal(a, greedy)  # top_k=1 sampling is greedy
    s1 = model.generate(
        x, max_new_tokens=8, do_sample=True, top_p=0.9, eos_token_id=None, generator=torch.Generator().manual_seed(3)
    )
    s2 = model.generate(
        x, max_new_tokens=8, do_sample=True, top_p=0.9, eos_token_id=None, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(s1, s2)


def test_streaming_callback_and_iterator(gpt2_dir):
    path, _ = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)
    x = torch.tensor([[5, 6, 7]])
    seen: list[int] = []
    out = model.generate(x, max_new_tokens=6, eos_token_id=None, callback=lambda t: seen.append(int(t[0])))
    assert seen == out[0, 3:].tolist()
    streamed = [int(t[0]) for t in model.stream(x, max_new_tokens=6, eos_token_id=None)]
    assert streamed == seen


def test_stop_strings(gpt2_dir):
    path, _ = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)

    class Tok:  # one character per token id
        def decode(self, ids):
            return "".join(chr(65 + i % 26) for i in ids)

    x = torch.tensor([[5, 6, 7]])
    full = model.generate(x, max_new_tokens=10, eos_token_id=None)
    stop = Tok().decode(full[0, 3:6].tolist())[-1]  # the third new token's letter
    cut = model.generate(x, max_new_tokens=10, eos_token_id=None, stop_strings=[stop], tokenizer=Tok())
    text = Tok().decode(cut[0, 3:].tolist())
    assert stop in text and cut.shape[1] <= 6


def test_vocab_padding_keeps_true_vocab_and_roundtrips(gpt2_dir, tmp_path):
    path, hf = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path, mt_pad_vocab_multiple=64)
    assert model.transformer.wte.weight.shape[0] == 128
    x, _ = _batch()
    with torch.no_grad():
        assert_close(model(x).logits, hf(x).logits, atol=1e-4, rtol=1e-4)
    model.save_pretrained(tmp_path)
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert_close(back(x).logits, hf(x).logits, atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_same_gradients(gpt2_dir):
    path, _ = gpt2_dir
    x, _ = _batch()
    grads = []
    for ckpt in (False, True):
        model = GPTForCausalLM.from_pretrained(path, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0).train()
        if ckpt:
            model.gradient_checkpointing_enable()
        model(x, labels=x).loss.backward()
        grads.append(model.transformer.h[0].attn.c_attn.weight.grad.clone())
    assert_close(grads[0], grads[1])


def test_counts_and_flops(gpt2_dir):
    path, hf = gpt2_dir
    model = GPTForCausalLM.from_pretrained(path)
    assert model.num_parameters() == hf.num_parameters()
    n = model.num_parameters() - model.transformer.wpe.weight.numel()
    assert model.flops_per_token(64) == 6 * n + 12 * 2 * 48 * 64


def _modern(**kw):
    cfg = mt.AutoConfig.for_model(
        "gpt2",
        vocab_size=24,
        bos_token_id=None,  # no end of text (GPT-2's default 50256 lies outside this vocabulary: saving refuses it)
        eos_token_id=None,
        n_embd=48,
        n_head=4,
        n_layer=2,
        n_positions=64,
        mt_rotary=True,
        mt_rmsnorm=True,
        mt_swiglu=True,
        mt_bias=False,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **kw,
    )
    return mt.AutoModelForCausalLM.from_config(cfg)


def test_modern_gpt_cached_generation_equals_full_recompute(tmp_path):
    torch.manual_seed(0)
    model = _modern().eval()
    model.save_pretrained(tmp_path)
    model = mt.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["mt_rotary"] is True
    x = torch.tensor([[3, 4, 5, 6], [7, 8, 9, 10]])
    out = model.generate(x, max_new_tokens=10, eos_token_id=None)
    seq = x
    with torch.no_grad():
        for _ in range(10):  # no cache: the full forward every step
            seq = torch.cat([seq, model(seq).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq)


def test_modern_gpt_learns_a_copy_task():
    """Sequences that repeat a random 8-token pattern: the second half is predictable only through attention.
    Bound: the loss on the repeated half falls below 0.3 nats (chance is ln 20 = 3.0)."""
    torch.manual_seed(0)
    model = _modern().train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        pat = torch.randint(4, 24, (32, 8))
        x = torch.cat([pat, pat], 1)
        labels = x.clone()
        labels[:, :8] = -100  # score only the predictable half
        loss = model(x, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3, loss.item()


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.7, 0, 1.0), (1.0, 5, 1.0), (1.3, 0, 0.8), (0.9, 20, 0.5)])
def test_sampling_warpers_match_transformers(temperature, top_k, top_p):
    from transformers.generation import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    from massivetext.models.generation import _warp

    scores = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    ref = LogitsProcessorList()
    if temperature != 1.0:
        ref.append(TemperatureLogitsWarper(temperature))
    if top_k:
        ref.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        ref.append(TopPLogitsWarper(top_p))
    want = ref(torch.zeros(4, 1, dtype=torch.long), scores.clone())
    assert torch.equal(_warp(scores.clone(), temperature, top_k, top_p), want)


@pytest.mark.parametrize("padded", [True, False], ids=["left-padded", "unpadded"])
@pytest.mark.parametrize("early_stopping,eos_push,seed", [(True, 0.3, 2), (False, 0.5, 3)])
def test_beam_search_drops_finished_inputs(early_stopping, eos_push, seed, padded, tmp_path):
    """Inputs whose beams are done leave the batch (their rows stop costing model time) and the prompt runs once
    per input (its beams are equal): transformers' beams all the same. The EOS logit is raised (planted) so that
    some inputs finish well before the others."""
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_embd=48, n_head=3, n_layer=2, vocab_size=101, n_positions=64, bos_token_id=1, eos_token_id=2,
        activation_function="gelu_new",
    )  # fmt: skip
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        w = hf.transformer.wte.weight[2]
        hf.transformer.ln_f.bias += eos_push * w / w.norm() ** 2
    hf.save_pretrained(tmp_path)
    model = GPTForCausalLM.from_pretrained(tmp_path)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, 101, (5, 9), generator=g)
    mask = torch.ones_like(x)
    if padded:
        for i in range(5):
            mask[i, :i] = 0
    gen = {"max_new_tokens": 16, "eos_token_id": 2, "pad_token_id": 0, "num_beams": 3, "num_return_sequences": 2}
    gen["early_stopping"] = early_stopping
    ref = hf.generate(x, attention_mask=mask, do_sample=False, **gen)
    rows = []
    step = model._gen_step
    model._gen_step = lambda tokens, *a, **k: rows.append(tokens.shape[0]) or step(tokens, *a, **k)
    ours = model.generate(x, attention_mask=mask if padded else None, **gen)
    assert torch.equal(ours, ref), (ours, ref)
    assert rows[0] == 5 and rows[1] == 15, rows  # the prompt once per input, then every beam
    assert min(rows[1:]) < 15 and rows[1:] == sorted(rows[1:], reverse=True), rows  # rows only ever leave
