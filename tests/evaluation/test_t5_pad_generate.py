"""Greedy generation of a tiny random T5 whose output is the pad id after the start token (pad = decoder start = 0):
MassiveText's ``generate`` equals transformers' on the same weights, single and batched.

The previous session saw transformers give ``[0, 0, 4, 4, ...]`` where MassiveText gave ``[0, 0, 0, 0, ...]``: a
transformers model built from a config is in training mode (``T5ForConditionalGeneration(cfg).training`` is True,
dropout 0.1) and ``generate`` does not switch it to eval, so its greedy output was decoded through dropout. In eval
mode the two agree; nothing is wrong in MassiveText's generation."""

import torch
from eval_t5_helpers import t5_config, tiny_corpus, tiny_tokenizer

import massivetext as mt
from peers import require

transformers = require("transformers")


def test_t5_greedy_with_pad_ids_equals_transformers(tmp_path):
    corpus = tiny_corpus()
    tok = tiny_tokenizer(corpus)
    torch.manual_seed(0)
    cfg = t5_config(tok)
    hf = transformers.T5ForConditionalGeneration(cfg)
    assert hf.training  # the trap: built from a config, it would generate through dropout
    hf.eval().save_pretrained(tmp_path)
    ours = mt.AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    enc = tok(corpus[:6], padding=True, return_tensors="pt")
    with torch.no_grad():
        want = hf.generate(enc["input_ids"], attention_mask=enc["attention_mask"], max_length=9)
        got = ours.generate(enc["input_ids"], attention_mask=enc["attention_mask"], max_length=9)
        singles = [ours.generate(torch.tensor([tok.encode(s)]), max_length=9)[0] for s in corpus[:6]]
    assert bool((want[:, 1:] == tok.pad_token_id).any())  # the case under test: pad ids after the start token
    assert got.tolist() == want.tolist()
    assert [s.tolist() for s in singles] == [w[: len(s)].tolist() for s, w in zip(singles, want)]
