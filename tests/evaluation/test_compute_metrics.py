"""metrics_for(task, tokenizer): the compute_metrics functions a Trainer receives, fed EvalPrediction like the
Trainer builds it (generated ids padded with the pad id or -100, labels with -100)."""

import numpy as np
import pytest
import sacrebleu
import torch
from seqeval.metrics import classification_report
from sklearn.metrics import accuracy_score, f1_score

import massivetext as mt
from massivetext.errors import ConfigError
from massivetext.training.eval_loop import EvalPrediction
from peers import require
from tiny_configs import tiny_t5_config

transformers = require("transformers")


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    torch.manual_seed(0)
    words = "a small red house by the river and a big blue tree on the hill".split()
    corpus = [" ".join(words[i % 7 : i % 7 + 5]) for i in range(40)]
    tok = mt.train_tokenizer(corpus, vocab_size=280)
    cfg = tiny_t5_config(tok)
    path = tmp_path_factory.mktemp("t5")
    transformers.T5ForConditionalGeneration(cfg).save_pretrained(path)
    return mt.AutoModelForSeq2SeqLM.from_pretrained(path).eval(), tok, corpus


def _pad(rows, value):
    width = max(len(r) for r in rows)
    return np.array([list(r) + [value] * (width - len(r)) for r in rows])


@pytest.mark.parametrize("pad_with", ["pad", -100])
def test_translation_bleu_equals_generating_and_scoring_by_hand(t5, pad_with):
    model, tok, corpus = t5
    sources, targets = corpus[:6], corpus[10:16]
    generated = [model.generate(torch.tensor([tok.encode(s)]), max_new_tokens=6)[0].tolist() for s in sources]
    hyps = [tok.decode(g, skip_special_tokens=True).strip() for g in generated]
    preds = _pad(generated, tok.pad_token_id if pad_with == "pad" else -100)
    labels = _pad([tok.encode(t) + [tok.eos_token_id] for t in targets], -100)
    got = mt.evaluation.metrics_for("translation", tok)(EvalPrediction(preds, labels))
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [targets]).score)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [targets]).score)
    assert got["gen_len"] == pytest.approx(np.mean([sum(1 for x in g if x != tok.pad_token_id) for g in generated]))
    assert all(isinstance(v, float) for v in got.values())


def test_summarization_rouge_from_logits(t5):
    _, tok, corpus = t5
    labels = _pad([tok.encode(t) for t in corpus[:4]], -100)
    logits = np.random.default_rng(0).normal(size=(*labels.shape, len(tok)))
    hyps = [tok.decode(r.tolist(), skip_special_tokens=True).strip() for r in logits.argmax(-1)]
    got = mt.evaluation.metrics_for("summarization", tok)(EvalPrediction(logits, labels))
    expected = mt.load_metric("rouge").compute(predictions=hyps, references=corpus[:4])
    assert got["rougeL"] == pytest.approx(expected["rougeL"]) and got["rouge1"] == pytest.approx(expected["rouge1"])


def test_classification_binary_and_multiclass():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    logits = rng.normal(size=(40, 3))
    got = mt.evaluation.metrics_for("classification")(EvalPrediction(logits, y))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, logits.argmax(-1)))
    assert got["f1"] == pytest.approx(f1_score(y, logits.argmax(-1), average="macro"))
    y2, l2 = y % 2, logits[:, :2]
    got = mt.evaluation.metrics_for("classification")(EvalPrediction(l2, y2))
    assert got["f1"] == pytest.approx(f1_score(y2, l2.argmax(-1)))


def test_ner_ignores_minus_100_positions():
    names = ["O", "B-PER", "I-PER", "B-LOC"]
    labels = np.array([[-100, 1, 2, 0, 3, -100, -100], [-100, 3, -100, 0, 1, 2, -100]])
    pred_ids = np.array([[0, 1, 2, 0, 0, 3, 3], [1, 3, 3, 0, 1, 0, 2]])
    logits = np.eye(4)[pred_ids]
    got = mt.evaluation.metrics_for("ner", labels=names)(EvalPrediction(logits, labels))
    refs = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O", "B-PER", "I-PER"]]
    hyps = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "O", "B-PER", "O"]]
    micro = classification_report(refs, hyps, output_dict=True, zero_division=0)["micro avg"]
    assert got["f1"] == pytest.approx(micro["f1-score"]) and got["precision"] == pytest.approx(micro["precision"])
    with pytest.raises(ConfigError, match="tag names"):
        mt.evaluation.metrics_for("ner")
    with pytest.raises(ConfigError, match="unknown task"):
        mt.evaluation.metrics_for("translate")
