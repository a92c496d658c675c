"""Collators: same batches as transformers' collators; MLM masking follows 15% with 80/10/10."""

from __future__ import annotations

import pytest
import torch

from massivetext.training.collators import (
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorWithPadding,
)
from peers import require

transformers = require("transformers")


def _features(tokenizer, texts, **extra):
    return [dict(tokenizer(t), **{k: v[i] for k, v in extra.items()}) for i, t in enumerate(texts)]


TEXTS = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9 w10"]


def test_causal_lm_batch_matches_transformers(tokenizer):
    feats = _features(tokenizer, TEXTS)
    ours = DataCollatorForLanguageModeling(tokenizer, mlm=False)(feats)
    ref = transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False)(feats)
    for key in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(ours[key], ref[key]), key
    assert (ours["labels"][1, 2:] == -100).all()


def test_padding_collator_matches_transformers_and_keeps_labels(tokenizer):
    feats = _features(tokenizer, TEXTS, label=[0, 1, 1])
    ours = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)(feats)
    ref = transformers.DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)(feats)
    assert set(ours) == set(ref)
    for key in ref:
        assert torch.equal(ours[key], ref[key]), key


def test_seq2seq_pads_labels_with_minus_100(tokenizer):
    feats = [dict(tokenizer(t), labels=tokenizer(t[::-1].strip())["input_ids"]) for t in ["w1 w2", "w3 w4 w5 w6"]]
    ours = DataCollatorForSeq2Seq(tokenizer)(feats)
    ref = transformers.DataCollatorForSeq2Seq(tokenizer)(feats)
    for key in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(ours[key], ref[key]), key


def test_mlm_masking_rates_and_special_tokens(tokenizer):
    torch.manual_seed(0)
    ids = torch.randint(5, len(tokenizer), (64, 256))
    ids[:, 0] = tokenizer.cls_token_id  # specials are never chosen
    ids[:, -8:] = tokenizer.pad_token_id
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=True)
    batch = collator([{"input_ids": row} for row in ids])
    chosen = batch["labels"] != -100
    assert not chosen[:, 0].any() and not chosen[:, -8:].any()
    eligible = ids.shape[0] * (ids.shape[1] - 9)
    assert chosen.sum().item() / eligible == pytest.approx(0.15, abs=0.01)
    assert torch.equal(batch["labels"][chosen], ids[chosen])  # labels are the original tokens
    masked = batch["input_ids"][chosen] == tokenizer.mask_token_id
    kept = batch["input_ids"][chosen] == ids[chosen]
    n = chosen.sum().item()
    assert masked.sum().item() / n == pytest.approx(0.8, abs=0.02)
    # random replacements can draw the original token by chance, so "kept" is ~10% plus a little
    assert kept.sum().item() / n == pytest.approx(0.1 + 0.1 / len(tokenizer), abs=0.02)
    assert torch.equal(batch["input_ids"][~chosen], ids[~chosen])
