"""seqeval equals the seqeval package (lenient and strict, IOB1/IOB2/IOBES); SQuAD equals the official formulas."""

import numpy as np
import pytest
from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2, IOBES

import massivetext as mt
from massivetext.errors import MassiveTextError

REFS_IOB2 = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ["O", "B-ORG", "I-ORG", "I-ORG", "O", "B-PER"],
    ["B-MISC", "O", "O"],
    ["O", "O"],
]
PREDS_IOB2 = [
    ["B-PER", "I-PER", "O", "B-ORG", "O"],
    ["O", "I-ORG", "I-ORG", "I-ORG", "O", "B-PER"],  # starts with I-: lenient accepts, strict rejects
    ["B-MISC", "I-MISC", "O"],
    ["O", "B-LOC"],
]
REFS_IOBES = [["S-PER", "O", "B-LOC", "E-LOC"], ["B-ORG", "I-ORG", "E-ORG", "O"]]
PREDS_IOBES = [["S-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "E-ORG", "S-PER"]]
REFS_IOB1 = [["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]
PREDS_IOB1 = [["I-PER", "I-PER", "O", "I-LOC", "I-LOC"]]


def _expected(refs, preds, **kw):
    rep = classification_report(refs, preds, output_dict=True, zero_division=0, **kw)
    rep.pop("macro avg"), rep.pop("weighted avg")
    micro = rep.pop("micro avg")
    return rep, micro


@pytest.mark.parametrize(
    "refs,preds,opts,kw",
    [
        (REFS_IOB2, PREDS_IOB2, {}, {}),
        (REFS_IOB2, PREDS_IOB2, {"mode": "strict", "scheme": "IOB2"}, {"mode": "strict", "scheme": IOB2}),
        (REFS_IOBES, PREDS_IOBES, {"mode": "strict", "scheme": "IOBES"}, {"mode": "strict", "scheme": IOBES}),
        (REFS_IOBES, PREDS_IOBES, {}, {}),
        (REFS_IOB1, PREDS_IOB1, {}, {}),
    ],
)
def test_seqeval_equals_package(refs, preds, opts, kw):
    m = mt.load_metric("seqeval", zero_division=0, **opts)
    got = m.compute(predictions=preds, references=refs)
    rep, micro = _expected(refs, preds, **kw)
    for t, s in rep.items():
        assert got[t] == pytest.approx(
            {"precision": s["precision"], "recall": s["recall"], "f1": s["f1-score"], "number": s["support"]}
        )
    assert got["overall_precision"] == pytest.approx(micro["precision"])
    assert got["overall_recall"] == pytest.approx(micro["recall"])
    assert got["overall_f1"] == pytest.approx(micro["f1-score"])
    assert got["overall_accuracy"] == pytest.approx(accuracy_score(refs, preds))
    # the bootstrap's per-sentence statistics reproduce the same overall numbers
    scored = m._score(preds, refs, m.config)
    again = scored.from_sums(scored.stats.sum(0))
    for k in ("overall_precision", "overall_recall", "overall_f1", "overall_accuracy"):
        assert float(again[k][0]) == pytest.approx(got[k])


def test_strict_and_lenient_differ_on_broken_chunks():
    lenient = mt.load_metric("seqeval").compute(predictions=PREDS_IOB2, references=REFS_IOB2)
    strict = mt.load_metric("seqeval", mode="strict", scheme="IOB2").compute(
        predictions=PREDS_IOB2, references=REFS_IOB2
    )
    assert lenient["ORG"]["recall"] == 1.0 and strict["ORG"]["recall"] == 0.0


def test_seqeval_bad_input():
    with pytest.raises(MassiveTextError, match="example 0"):
        mt.load_metric("seqeval").compute(predictions=[["O"]], references=[["O", "O"]])
    with pytest.raises(MassiveTextError, match="tag strings"):
        mt.load_metric("seqeval").compute(predictions=["O O"], references=[["O", "O"]])


# --- SQuAD: the official scripts' definitions, written out by hand for these cases -------------------------------
def test_squad_v1_official_formulas():
    preds = [
        {"id": "1", "prediction_text": "The Eiffel Tower!"},
        {"id": "2", "prediction_text": "in Paris, France"},
        {"id": "3", "prediction_text": "1889"},
        {"id": "4", "prediction_text": "an"},
    ]
    refs = [
        {"id": "1", "answers": {"text": ["Eiffel tower", "the tower"], "answer_start": [0, 0]}},
        {"id": "2", "answers": {"text": ["Paris"], "answer_start": [0]}},
        {"id": "3", "answers": {"text": ["in 1889", "March 1889"], "answer_start": [0, 0]}},
        {"id": "4", "answers": {"text": ["a dog"], "answer_start": [0]}},
    ]
    # 1: normalised "eiffel tower" == "eiffel tower": EM 1, F1 1
    # 2: "in paris france" vs "paris": P 1/3, R 1 -> F1 0.5; EM 0
    # 3: "1889" vs "in 1889": P 1, R 1/2 -> 2/3 (same for "march 1889"); EM 0
    # 4: "an" normalises to "" vs "dog": v1.1 has no empty rule -> F1 0, EM 0
    got = mt.load_metric("squad").compute(predictions=preds, references=refs)
    assert got["exact_match"] == pytest.approx(100 * 1 / 4)
    assert got["f1"] == pytest.approx(100 * (1 + 0.5 + 2 / 3 + 0) / 4)


# four squad_v2 questions: a and b answerable (answered right), c and d not (c abstains, d answers)
V2_PREDS = [
    {"id": "a", "prediction_text": "blue", "no_answer_probability": 0.2},
    {"id": "b", "prediction_text": "red car", "no_answer_probability": 0.1},
    {"id": "c", "prediction_text": "", "no_answer_probability": 0.9},
    {"id": "d", "prediction_text": "something", "no_answer_probability": 0.3},
]
V2_REFS = [
    {"id": "a", "answers": {"text": ["Blue."], "answer_start": [0]}},
    {"id": "b", "answers": {"text": ["the red car", "car"], "answer_start": [0, 4]}},
    {"id": "c", "answers": {"text": [], "answer_start": []}},
    {"id": "d", "answers": {"text": [], "answer_start": []}},
]


def test_squad_v2_hasans_noans_and_threshold():
    preds, refs = V2_PREDS, V2_REFS
    got = mt.load_metric("squad_v2").compute(predictions=preds, references=refs)
    # a: EM1 F1 1; b: EM1 F1 1; c: "" vs [""]: EM1 F1 1; d: "something" vs [""]: 0, 0
    assert got["exact"] == pytest.approx(75.0) and got["f1"] == pytest.approx(75.0) and got["total"] == 4
    assert got["HasAns_exact"] == 100.0 and got["HasAns_total"] == 2
    assert got["NoAns_exact"] == 50.0 and got["NoAns_total"] == 2
    # a threshold of 0.25 turns d (p=0.3) into "no answer" (right) and leaves a (0.2) alone
    got = mt.load_metric("squad_v2", no_answer_threshold=0.25).compute(predictions=preds, references=refs)
    assert got["exact"] == pytest.approx(100.0)


def official_find_best_thresh(preds, scores, na_probs, qid_to_has_ans):
    """``find_best_thresh`` of the official SQuAD v2.0 evaluation script, verbatim but for names."""
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for qid in qid_list:
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def test_squad_v2_best_thresholds():
    preds, refs = V2_PREDS, V2_REFS
    got = mt.load_metric("squad_v2").compute(predictions=preds, references=refs)
    # start 2 (c, d right as no answer); answer b (+1), a (+1) -> 4 at threshold 0.2; d (-1), c (0) do not beat it
    assert got["best_exact"] == 100.0 and got["best_exact_thresh"] == 0.2 and got["best_f1_thresh"] == 0.2
    # random predictions against the official function (raw scores: before any threshold, as the script does)
    rng = np.random.default_rng(0)
    words = "red blue car house tree".split()
    preds, refs, has, answered, exact, f1s, probs = [], [], {}, {}, {}, {}, {}
    for i in range(60):
        gold = [] if rng.random() < 0.4 else [" ".join(rng.choice(words, int(rng.integers(1, 3))))]
        text = "" if rng.random() < 0.3 else " ".join(rng.choice(words, int(rng.integers(1, 3))))
        p = float(rng.choice([0.1, 0.5, 0.7, float(rng.random())]))  # ties too
        preds.append({"id": str(i), "prediction_text": text, "no_answer_probability": p})
        refs.append({"id": str(i), "answers": {"text": gold, "answer_start": [0] * len(gold)}})
        one = mt.load_metric("squad_v2").compute(
            predictions=[{**preds[-1], "no_answer_probability": 0.0}], references=[refs[-1]]
        )
        qid = str(i)
        has[qid], answered[qid], probs[qid] = bool(gold), text, p
        exact[qid], f1s[qid] = one["exact"] / 100, one["f1"] / 100
    for threshold in (1.0, 0.5):
        got = mt.load_metric("squad_v2", no_answer_threshold=threshold).compute(predictions=preds, references=refs)
        for key, raw in (("exact", exact), ("f1", f1s)):
            best, thresh = official_find_best_thresh(answered, raw, probs, has)
            assert got[f"best_{key}"] == pytest.approx(best) and got[f"best_{key}_thresh"] == thresh
    assert "best_f1" not in mt.load_metric("squad_v2").compute(predictions=["blue"], references=[["blue"]])


def test_squad_plain_strings_and_bad_input():
    got = mt.load_metric("squad").compute(predictions=["Paris", "no"], references=[["paris", "Paris, France"], "yes"])
    assert got == {"exact_match": 50.0, "f1": 50.0}
    with pytest.raises(MassiveTextError, match="does not match"):
        mt.load_metric("squad").compute(
            predictions=[{"id": "1", "prediction_text": "x"}], references=[{"id": "2", "answers": {"text": ["x"]}}]
        )
    with pytest.raises(MassiveTextError, match="prediction 0"):
        mt.load_metric("squad").compute(predictions=[3], references=["x"])
    assert np.isfinite(
        mt.load_metric("squad").compute(predictions=["x"], references=["x"], confidence=0.9)["f1_ci_low"]
    )
