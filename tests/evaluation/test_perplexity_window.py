"""Sliding-window perplexity equals the Hugging Face perplexity guide's loop on a transformers model."""

import math

import numpy as np
import pytest
import torch

import massivetext as mt
from massivetext.evaluation.perplexity import (
    sliding_window_nll,
    sliding_window_perplexity,
    sliding_windows,
    split_lm_head,
    token_nll,
)
from massivetext.evaluation.scored_forward import gpt_scored_hidden
from peers import require

transformers = require("transformers")


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_embd=32, n_head=2, n_layer=2, vocab_size=97, n_positions=64)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    path = tmp_path_factory.mktemp("gpt")
    hf.save_pretrained(path)
    return hf, mt.AutoModelForCausalLM.from_pretrained(path).eval(), path


def guide_loop(model, ids: torch.Tensor, max_length: int, stride: int) -> float:
    """The loop of https://huggingface.co/docs/transformers/perplexity, verbatim but for names."""
    seq_len = ids.size(1)
    nll_sum, n_tokens, prev_end_loc = 0.0, 0, 0
    for begin_loc in range(0, seq_len, stride):
        end_loc = min(begin_loc + max_length, seq_len)
        trg_len = end_loc - prev_end_loc
        input_ids = ids[:, begin_loc:end_loc]
        target_ids = input_ids.clone()
        target_ids[:, :-trg_len] = -100
        with torch.no_grad():
            outputs = model(input_ids, labels=target_ids)
            neg_log_likelihood = outputs.loss
        num_valid_tokens = (target_ids != -100).sum().item()
        num_loss_tokens = num_valid_tokens - target_ids.size(0)
        nll_sum += neg_log_likelihood * num_loss_tokens
        n_tokens += num_loss_tokens
        prev_end_loc = end_loc
        if end_loc == seq_len:
            break
    return math.exp(nll_sum / n_tokens)


def exact_loop(model, ids: np.ndarray, max_length: int, stride: int) -> float:
    """Every predicted token counted once (what the batched code computes)."""
    nll, n, prev = 0.0, 0, 0
    for b in range(0, len(ids), stride):
        e = min(b + max_length, len(ids))
        first = max(prev, b + 1)
        x = torch.tensor(ids[b:e])[None]
        with torch.no_grad():
            lp = torch.log_softmax(model(x).logits[0].double(), -1)
        t = torch.arange(first - b, e - b)
        nll -= lp[t - 1, x[0, t]].sum().item()
        n += e - first
        prev = e
        if e == len(ids):
            break
    return math.exp(nll / n)


@pytest.mark.parametrize("length,max_length,stride", [(700, 64, 32), (300, 64, 64), (50, 64, 16), (129, 32, 7)])
def test_equals_guide_loop(gpt, length, max_length, stride):
    hf, ours, _ = gpt
    ids = np.random.default_rng(length).integers(0, 97, length)
    got = sliding_window_perplexity(ours, ids, max_length=max_length, stride=stride, batch_size=5)
    assert got["perplexity"] == pytest.approx(exact_loop(hf, ids, max_length, stride), rel=1e-5)
    assert got["perplexity"] == pytest.approx(guide_loop(hf, torch.tensor(ids)[None], max_length, stride), rel=2e-3)
    assert got["tokens"] == length - 1 if stride < max_length else True


def test_windows_cover_every_token_once():
    b, e, f = sliding_windows(1000, 256, 128)
    covered = np.concatenate([np.arange(x, y) for x, y in zip(f, e)])
    assert (covered == np.arange(1, 1000)).all() and e[-1] == 1000


def test_metric_over_texts_and_lists(gpt):
    _, ours, _ = gpt
    seqs = [np.random.default_rng(i).integers(0, 97, 20 + 13 * i).tolist() for i in range(5)]
    m = mt.load_metric("perplexity", model=ours, max_length=16, stride=8, batch_size=3)
    got = m.compute(predictions=seqs, confidence=0.9, resamples=200)
    singles = [sliding_window_perplexity(ours, [s], max_length=16, stride=8)["perplexity"] for s in seqs]
    assert got["perplexities"] == pytest.approx(singles, rel=1e-5)
    assert got["perplexity_ci_low"] <= got["perplexity"] <= got["perplexity_ci_high"]


class _LogitsOnly(torch.nn.Module):
    """A model `split_lm_head` does not know and that takes no `logits_to_keep`: the full-logits fallback."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return {"logits": self.model(input_ids).logits}


def test_split_head_and_fallbacks_equal_exact_loop(gpt):
    hf, ours, path = gpt
    padded = mt.AutoModelForCausalLM.from_pretrained(path, mt_pad_vocab_multiple=64).eval()
    assert padded.lm_head.weight.shape[0] == 128  # the split head must drop the padding rows as the model does
    assert split_lm_head(ours) is not None and split_lm_head(hf) is not None
    assert split_lm_head(_LogitsOnly(hf)) is None
    ids = np.random.default_rng(3).integers(0, 97, 400)
    seqs = [ids, ids[:50], ids[:2]]
    expected = [exact_loop(hf, s, 64, 24) for s in seqs[:2]]
    for model, split in (
        (ours, True),
        (padded, True),
        (padded, False),
        (hf, True),
        (hf, False),
        (_LogitsOnly(hf).eval(), True),  # built in training mode, which sliding_window_nll restores on hf
    ):
        nll, count, per_window = sliding_window_nll(
            model, seqs, max_length=64, stride=24, batch_size=4, split_head=split
        )
        assert count.tolist() == [399, 49, 1]
        assert np.exp(nll[:2] / count[:2]) == pytest.approx(expected, rel=1e-5)
        assert per_window[:, 0].sum() == pytest.approx(nll.sum()) and per_window[:, 1].sum() == count.sum()


def test_token_nll_equals_log_softmax_in_blocks():
    g = torch.Generator().manual_seed(0)
    h, w, b = torch.randn(100, 8, generator=g), torch.randn(50_000, 8, generator=g), torch.randn(50_000, generator=g)
    t = torch.randint(0, 50_000, (100,), generator=g)  # 100 rows = 3 blocks of 41 at this vocabulary
    ref = -torch.log_softmax((h @ w.T + b).double(), -1)[torch.arange(100), t]
    assert torch.allclose(token_nll(h, w, b, t).double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "switches",
    [
        {},
        {"n_layer": 1},
        {"scale_attn_by_inverse_layer_idx": True},
        {"mt_rotary": True, "mt_rmsnorm": True, "mt_swiglu": True, "mt_bias": False},
    ],
)
def test_gpt_scored_hidden_equals_trunk(switches):
    """The last block run for some positions only (keys and values for all) gives the trunk's hidden states there."""
    torch.manual_seed(1)
    cfg = mt.AutoConfig.for_model(
        "gpt2", vocab_size=61, n_positions=40, n_embd=32, n_head=4, **{"n_layer": 3, **switches}
    )
    model = mt.AutoModelForCausalLM.from_config(cfg).eval()
    x = torch.randint(0, 61, (3, 37))
    with torch.inference_mode():
        full = model.trunk(x)
        for first in (0, 1, 20, 36):
            torch.testing.assert_close(gpt_scored_hidden(model, x, first), full[:, first:], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gpt_scored_hidden(model, x[:, :1], 0), model.trunk(x[:, :1]))


@pytest.mark.parametrize("last_block_scored_only", [True, False])
def test_scored_last_block_on_off_equal_exact_loop(gpt, last_block_scored_only):
    """Windows of many lengths and first scored positions mixed in batches (texts of 2 to 300 tokens)."""
    hf, ours, _ = gpt
    rng = np.random.default_rng(7)
    seqs = [rng.integers(0, 97, n) for n in (300, 2, 3, 64, 65, 90, 150, 33)]
    nll, count, per_window = sliding_window_nll(
        ours, seqs, max_length=64, stride=20, batch_size=3, last_block_scored_only=last_block_scored_only
    )
    assert count.tolist() == [len(s) - 1 for s in seqs]
    expected = [exact_loop(hf, s, 64, 20) for s in seqs]
    assert np.exp(nll / count) == pytest.approx(expected, rel=1e-5)


def test_bfloat16_option_is_close_not_exact(gpt):
    """dtype="bfloat16" really computes in bfloat16 (the result moves) and stays near the float32 perplexity."""
    _, ours, _ = gpt
    ids = np.random.default_rng(11).integers(0, 97, 500)
    exact = sliding_window_perplexity(ours, ids, max_length=64, stride=32)["perplexity"]
    assert sliding_window_perplexity(ours, ids, max_length=64, stride=32, dtype="float32")["perplexity"] == exact
    low = sliding_window_perplexity(ours, ids, max_length=64, stride=32, dtype="bfloat16")["perplexity"]
    assert low != exact and low == pytest.approx(exact, rel=1e-2)
    with pytest.raises(mt.MassiveTextError, match="dtype must be"):
        sliding_window_perplexity(ours, ids, max_length=64, stride=32, dtype="int8")
