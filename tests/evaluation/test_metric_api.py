"""The object API and its errors: load by name (and evaluate's alias), combine, bad inputs as MassiveTextError."""

import pytest
import sacrebleu

import massivetext as mt
from massivetext.errors import ConfigError, MassiveTextError


def test_load_aliases_and_listing():
    assert mt.evaluate.load("SacreBLEU").name == "sacrebleu"
    assert mt.load_metric("chrf++").config["word_order"] == 2
    assert {"bleu", "rouge", "seqeval", "squad_v2", "perplexity"} <= set(mt.evaluate.list_evaluation_modules())
    with pytest.raises(MassiveTextError, match="did you mean 'rouge'"):
        mt.load_metric("rogue")
    with pytest.raises(ConfigError, match="unknown option.*tokenizer"):
        mt.load_metric("sacrebleu", tokenizer="13a")
    with pytest.raises(ConfigError, match="unknown BLEU tokenizer"):
        mt.load_metric("sacrebleu", tokenize="13b").compute(predictions=["a"], references=["a"])


@pytest.mark.parametrize(
    "preds,refs,match",
    [
        (["a", "b"], ["a"], "2 predictions but 1 references"),
        ([], [], "empty"),
        (["a", None], ["a", "b"], "prediction 1 is NoneType"),
        (["a", 3], ["a", "b"], "prediction 1 is int"),
        (["a"], [[]], "non-empty list"),
        (["a"], [["x", 5]], "reference 0 holds int"),
        ("a b", ["a b"], "single string"),
    ],
)
@pytest.mark.parametrize("name", ["sacrebleu", "chrf", "rouge"])
def test_bad_text_inputs(name, preds, refs, match):
    with pytest.raises(MassiveTextError, match=match):
        mt.load_metric(name).compute(predictions=preds, references=refs)


def test_combine_merges_and_prefixes_clashes():
    hyps, refs = ["the cat sat", "a dog"], ["the cat sat down", "a dog ran"]
    got = mt.combine(["sacrebleu", "chrf", "rouge"]).compute(
        predictions=hyps, references=refs, confidence=0.9, resamples=100
    )
    assert got["sacrebleu_score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert got["chrf_score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert "rougeL" in got and got["confidence"] == 0.9 and "rougeL_ci_low" in got
    with pytest.raises(MassiveTextError, match="no combined metric takes"):
        mt.combine(["accuracy"]).compute(predictions=[1], references=[1], nonsense=True)
    c = mt.evaluate.combine(["accuracy", "f1"])
    c.add_batch(predictions=[0, 1, 1], references=[0, 1, 0])
    assert c.compute() == pytest.approx({"accuracy": 2 / 3, "f1": 2 / 3})


def test_interval_on_metric_without_corpus_score():
    with pytest.raises(ConfigError, match="no corpus-level score"):
        mt.load_metric("confusion_matrix").compute(predictions=[0, 1], references=[0, 1], confidence=0.95)


def test_tokenizer_that_needs_a_missing_package_is_a_one_line_error():
    import importlib.util

    if importlib.util.find_spec("MeCab") is not None:
        from sacrebleu.metrics import BLEU

        got = mt.load_metric("sacrebleu", tokenize="ja-mecab").compute(predictions=["今日は"], references=["今日は"])
        assert got["score"] == pytest.approx(BLEU(tokenize="ja-mecab").corpus_score(["今日は"], [["今日は"]]).score)
        return
    with pytest.raises(ConfigError, match="ja-mecab.*not available") as e:
        mt.load_metric("sacrebleu", tokenize="ja-mecab").compute(predictions=["今日は"], references=["今日は"])
    assert "\n" not in str(e.value)
