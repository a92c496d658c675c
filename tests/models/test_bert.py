"""BERT and RoBERTa: every head matches transformers (logits and loss), and saves back loadable by transformers."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

import massivetext as mt
from peers import require

transformers = require("transformers")

HEADS = {
    "ForMaskedLM": mt.AutoModelForMaskedLM,
    "ForSequenceClassification": mt.AutoModelForSequenceClassification,
    "ForTokenClassification": mt.AutoModelForTokenClassification,
    "ForQuestionAnswering": mt.AutoModelForQuestionAnswering,
}


def _inputs(pad_id: int):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(3, 90, (2, 11), generator=g)
    mask = torch.ones_like(x)
    mask[1, 7:] = 0
    x[1, 7:] = pad_id
    types = torch.zeros_like(x)
    types[:, 5:] = 1
    return {"input_ids": x, "attention_mask": mask, "token_type_ids": types}


def _labels(head: str, x: torch.Tensor):
    if head == "ForMaskedLM":
        labels = x.clone()
        labels[:, ::2] = -100
        return {"labels": labels}
    if head == "ForSequenceClassification":
        return {"labels": torch.tensor([0, 2])}
    if head == "ForTokenClassification":
        return {"labels": torch.randint(0, 3, x.shape, generator=torch.Generator().manual_seed(1))}
    return {"start_positions": torch.tensor([1, 3]), "end_positions": torch.tensor([4, 20])}  # 20: out of range


@pytest.mark.parametrize("family", ["Bert", "Roberta"])
@pytest.mark.parametrize("head", list(HEADS))
def test_head_matches_transformers_both_ways(family, head, tmp_path):
    torch.manual_seed(0)
    cfg_cls = getattr(transformers, f"{family}Config")
    cfg = cfg_cls(
        hidden_size=48,
        num_attention_heads=3,
        num_hidden_layers=2,
        intermediate_size=72,
        vocab_size=90,
        max_position_embeddings=40,
        type_vocab_size=2,
        num_labels=2 if head.endswith("Answering") else 3,
    )
    hf = getattr(transformers, family + head)(cfg).eval()
    hf.save_pretrained(tmp_path / "hf")
    model = HEADS[head].from_pretrained(tmp_path / "hf")
    inputs = _inputs(cfg.pad_token_id)
    labels = _labels(head, inputs["input_ids"])
    with torch.no_grad():
        ours, ref = model(**inputs, **labels), hf(**inputs, **labels)
    if head == "ForQuestionAnswering":
        assert_close(ours.start_logits, ref.start_logits, atol=1e-4, rtol=1e-4)
        assert_close(ours.end_logits, ref.end_logits, atol=1e-4, rtol=1e-4)
    else:
        assert_close(ours.logits, ref.logits, atol=1e-4, rtol=1e-4)
    assert_close(ours.loss, ref.loss, atol=1e-5, rtol=1e-5)
    model.save_pretrained(tmp_path / "mt")
    back = getattr(transformers, family + head).from_pretrained(tmp_path / "mt").eval()
    with torch.no_grad():
        again = back(**inputs)
    first = again.start_logits if head == "ForQuestionAnswering" else again.logits
    want = ref.start_logits if head == "ForQuestionAnswering" else ref.logits
    assert_close(first, want, atol=1e-5, rtol=1e-5)


def test_classifier_from_a_masked_lm_checkpoint_gets_a_fresh_head(tmp_path):
    """Fine-tuning starts from a pretrained encoder: its MLM head is skipped, the new head is initialized."""
    cfg = transformers.BertConfig(
        hidden_size=32, num_attention_heads=2, num_hidden_layers=1, intermediate_size=40, vocab_size=50
    )
    hf = transformers.BertForMaskedLM(cfg).eval()
    hf.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="newly initialized"):
        model = mt.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert_close(model.bert.embeddings.word_embeddings.weight, hf.bert.embeddings.word_embeddings.weight)
    assert model(torch.tensor([[5, 6, 7]])).logits.shape == (1, 2)


@pytest.mark.parametrize("family", ["Bert", "Roberta"])
@pytest.mark.parametrize("head", ["ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"])
def test_skip_padding_matches_transformers_on_real_tokens(family, head, tmp_path):
    """Inference on packed real tokens (what the pipelines ask for): every real position as transformers computes it
    on the padded batch, pads included in its attention mask. Rows of very different lengths, one without padding."""
    torch.manual_seed(1)
    cfg = getattr(transformers, f"{family}Config")(
        hidden_size=48,
        num_attention_heads=3,
        num_hidden_layers=3,
        intermediate_size=72,
        vocab_size=90,
        max_position_embeddings=40,
        num_labels=2 if head.endswith("Answering") else 3,
    )
    hf = getattr(transformers, family + head)(cfg).eval()
    hf.save_pretrained(tmp_path)
    model = HEADS[head].from_pretrained(tmp_path)
    lengths = [14, 3, 9, 1]
    x = torch.randint(3, 90, (4, 14), generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(14)[None, :] < torch.tensor(lengths)[:, None]).long()
    x = x.masked_fill(mask == 0, cfg.pad_token_id)
    with torch.inference_mode():
        ours = model(input_ids=x, attention_mask=mask, skip_padding=True)
        ref = hf(input_ids=x, attention_mask=mask)
    names = ["start_logits", "end_logits"] if head == "ForQuestionAnswering" else ["logits"]
    for name in names:
        got, want = getattr(ours, name), getattr(ref, name)
        if head == "ForSequenceClassification":
            assert_close(got, want, atol=1e-5, rtol=1e-5)
            continue
        for r, n in enumerate(lengths):
            assert_close(got[r, :n], want[r, :n], atol=1e-5, rtol=1e-5)
        assert not torch.allclose(got[1, 3:], want[1, 3:], atol=1e-3)  # pads were skipped, not computed
