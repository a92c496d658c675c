"""Bad input gives a clear MassiveTextError, never an index error from inside torch; long input is cut with a
warning that says how much."""

from __future__ import annotations

import pytest
import transformers

import massivetext as mt
from massivetext.errors import MassiveTextError


def test_unknown_task_suggests():
    with pytest.raises(MassiveTextError, match="did you mean 'sentiment-analysis'"):
        mt.pipeline("sentiment-analisys", model="x")
    with pytest.raises(MassiveTextError, match="did you mean 'question-answering'"):
        mt.pipeline("question-answer", model="x")


def test_head_that_does_not_fit(bert_mlm_dir, bert_cls_dir):
    with pytest.raises(MassiveTextError, match="seq2seq"):
        mt.pipeline("translation_en_to_fr", model=bert_mlm_dir)
    model = mt.AutoModelForMaskedLM.from_pretrained(bert_mlm_dir)
    with pytest.raises(MassiveTextError, match="BertForSequenceClassification"):
        mt.pipeline("text-classification", model=model, tokenizer=bert_mlm_dir)
    with pytest.raises(MassiveTextError, match="entailment"):  # a sentiment model is not an NLI model
        mt.pipeline("zero-shot-classification", model=bert_cls_dir)("a castle", candidate_labels=["x"])


@pytest.mark.parametrize("bad", ["", "   ", None, 42, 3.5, ["ok", None], ["ok", 7]])
def test_bad_texts(bert_cls_dir, bert_ner_dir, bad):
    for task, d in (("text-classification", bert_cls_dir), ("ner", bert_ner_dir)):
        with pytest.raises(MassiveTextError):
            mt.pipeline(task, model=d)(bad)


def test_bad_qa_and_fill_mask(bert_qa_dir, bert_mlm_dir):
    qa = mt.pipeline("question-answering", model=bert_qa_dir)
    for kwargs in (
        {"question": "", "context": "a castle"},
        {"question": "who?", "context": None},
        {"question": "who?"},
        {"question": 5, "context": "a castle"},
    ):
        with pytest.raises(MassiveTextError):
            qa(**kwargs)
    with pytest.raises(MassiveTextError, match="too long"):
        qa(question="castle " * 80, context="a castle", max_seq_len=32, doc_stride=8)
    with pytest.raises(MassiveTextError, match="no mask token"):
        mt.pipeline("fill-mask", model=bert_mlm_dir)("no mask here")
    with pytest.raises(MassiveTextError, match="doc_stride"):
        qa(question="who?", context="a castle", max_seq_len=32, doc_stride=40)


def test_generation_past_positions(gpt2_dir):
    gen = mt.pipeline("text-generation", model=gpt2_dir)
    with pytest.raises(MassiveTextError, match="positions"):
        gen("the river " * 40, max_new_tokens=80, do_sample=False)
    with pytest.raises(MassiveTextError, match="does not implement"):
        gen("the river", max_new_tokens=2, diversity_penalty=0.5)
    with pytest.raises(MassiveTextError):
        gen(None)


def test_long_input_truncated_with_warning(bert_cls_dir):
    long = "the castle of the river " * 40
    clf = mt.pipeline("text-classification", model=bert_cls_dir)
    with pytest.warns(UserWarning, match=r"has \d+ tokens, the model takes 64; cut \d+ tokens"):
        out = clf(long)
    # the truncated result is what transformers gives for the truncated input
    ref = transformers.pipeline("text-classification", model=bert_cls_dir, tokenizer=bert_cls_dir)
    assert out[0]["label"] == ref(long, truncation=True)[0]["label"]
    assert abs(out[0]["score"] - ref(long, truncation=True)[0]["score"]) < 1e-5
