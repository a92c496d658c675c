"""Memory behaviour of BERT inference: the packed path feeds oneDNN a few row counts only (each distinct row count
is a cached oneDNN primitive holding an output-sized buffer), still equal to transformers. Loading without
torch._dynamo (~70 MB resident) is tested for every family in test_load_without_dynamo.py."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import massivetext as mt
import massivetext.models.bert as bert
from peers import require

transformers = require("transformers")


def _model(tmp_path, family: str, head: str):
    torch.manual_seed(2)
    cfg = getattr(transformers, f"{family}Config")(
        hidden_size=48,
        num_attention_heads=3,
        num_hidden_layers=2,
        intermediate_size=96,
        vocab_size=90,
        max_position_embeddings=160,
        num_labels=3,
    )
    hf = getattr(transformers, family + head)(cfg).eval()
    hf.save_pretrained(tmp_path)
    auto = mt.AutoModelForSequenceClassification if "Sequence" in head else mt.AutoModelForTokenClassification
    return hf, auto.from_pretrained(tmp_path), cfg.pad_token_id


def _batch(lengths: list[int], pad_id: int, seed: int, left: bool = False):
    T = max(lengths)
    x = torch.randint(3, 90, (len(lengths), T), generator=torch.Generator().manual_seed(seed))
    pos = torch.arange(T)[None, :]
    n = torch.tensor(lengths)[:, None]
    mask = (pos >= T - n if left else pos < n).long()
    return x.masked_fill(mask == 0, pad_id), mask


@pytest.fixture
def row_counts(monkeypatch):
    """Rows of every 2-D product the packed path hands to the linear kernels, with blocks of 64 rows."""
    seen: list[int] = []

    def spy(fn):
        def call(x, layer):
            if x.dim() == 2:
                seen.append(x.shape[0])
            return fn(x, layer)

        return call

    # small blocks: several per batch of these short rows (the library's sizes are tuned for speed)
    monkeypatch.setattr(bert, "ROW_BLOCK", 64)
    monkeypatch.setattr(bert, "ROW_STEP", 16)
    monkeypatch.setattr(bert, "linear", spy(bert.linear))
    monkeypatch.setattr(bert, "linear_gelu", spy(bert.linear_gelu))
    return seen


@pytest.mark.parametrize("family", ["Bert", "Roberta"])
@pytest.mark.parametrize("head", ["ForTokenClassification", "ForSequenceClassification"])
def test_packed_rows_come_in_a_few_block_sizes_and_match_transformers(family, head, tmp_path, row_counts):
    hf, model, pad = _model(tmp_path, family, head)
    allowed = {bert.ROW_BLOCK} | set(range(bert.ROW_STEP, bert.ROW_BLOCK + 1, bert.ROW_STEP))
    # batches of 2-4 blocks of real tokens with different totals (one without padding): the row counts repeat
    for seed, lengths in enumerate(
        [[150, 3, 140, 1, 77, 60, 11], [120, 120, 119, 7], [130, 130, 130], [155, 99, 100, 2, 33, 150]]
    ):
        x, mask = _batch(lengths, pad, seed)
        assert sum(lengths) > bert.ROW_BLOCK  # more than one block
        with torch.inference_mode():
            ours = model(input_ids=x, attention_mask=mask, skip_padding=True).logits
            ref = hf(input_ids=x, attention_mask=mask).logits
        if head == "ForSequenceClassification":
            assert_close(ours, ref, atol=1e-5, rtol=1e-5)
        else:
            for r, n in enumerate(lengths):
                assert_close(ours[r, :n], ref[r, :n], atol=1e-5, rtol=1e-5)
    assert row_counts and set(row_counts) <= allowed, sorted(set(row_counts) - allowed)


def test_left_padded_classification_takes_the_padded_path(tmp_path, row_counts):
    """With left padding position 0 is a pad, which transformers' classifier reads: it must be computed."""
    hf, model, pad = _model(tmp_path, "Bert", "ForSequenceClassification")
    x, mask = _batch([9, 4, 6], pad, 0, left=True)
    with torch.inference_mode():
        assert_close(model(input_ids=x, attention_mask=mask).logits, hf(input_ids=x, attention_mask=mask).logits)
    assert not row_counts  # nothing packed
