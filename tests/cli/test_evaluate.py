"""``massivetext evaluate``: every task on tiny data, numbers equal to generating/predicting and scoring by hand,
bad lines set aside with file:line, one-line errors with exit code 2, the contamination check finding exactly the
planted overlaps."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sacrebleu
import torch
from _evaluate_models import WORDS, bert, gpt, planted_qa, t5, texts, write_jsonl
from seqeval.metrics import f1_score as seqeval_f1

import massivetext as mt
from massivetext.cli.main import main
from massivetext.evaluation.data import Fields
from peers import require

transformers = require("transformers")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "massivetext.cli.main", "evaluate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def read(out) -> dict:
    with open(os.path.join(out, "eval.json"), encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------- --metric, no model
def test_metric_files_like_sacrebleu_cli(tmp_path):
    hyps, r1, r2 = (
        ["Le chat est là.", "", "über alles"],
        ["Le chat est ici.", "rien", "Über alles"],
        ["Un chat.", "x", "über"],
    )
    for name, lines in (("hyp", hyps), ("r1", r1), ("r2", r2)):
        (tmp_path / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "evaluate",
            "--metric",
            "sacrebleu",
            "--predictions",
            str(tmp_path / "hyp.txt"),
            "--references",
            str(tmp_path / "r1.txt"),
            "--references",
            str(tmp_path / "r2.txt"),
            "-o",
            str(out),
            "--lowercase",
        ]
    )
    assert code == 0
    res = read(out)
    expected = sacrebleu.metrics.BLEU(lowercase=True).corpus_score(hyps, [r1, r2])
    assert res["headline"]["score"] == pytest.approx(expected.score)
    lo, hi = res["headline"]["ci"]
    assert lo <= expected.score <= hi
    assert "case:lc" in res["headline"]["signature"] and "bs:1000" in res["headline"]["signature"]
    assert (out / "eval.html").read_text(encoding="utf-8").count("<img") >= 1 and (out / "score.png").stat().st_size > 0


def test_metric_files_errors_are_one_line_exit_2(tmp_path):
    (tmp_path / "h.txt").write_text("a\nb\n")
    (tmp_path / "r.txt").write_text("a\n")
    p = cli("--metric", "bleu", "--predictions", str(tmp_path / "h.txt"), "--references", str(tmp_path / "r.txt"))
    assert (
        p.returncode == 2
        and "r.txt" in p.stderr
        and "must align" in p.stderr
        and len(p.stderr.strip().splitlines()) == 1
    )
    p = cli("--metric", "blue", "--predictions", str(tmp_path / "h.txt"), "--references", str(tmp_path / "r.txt"))
    assert p.returncode == 2 and "did you mean 'bleu'" in p.stderr
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe\n")
    p = cli("--metric", "chrf", "--predictions", str(tmp_path / "bad.txt"), "--references", str(tmp_path / "h.txt"))
    assert p.returncode == 2 and "bad.txt:2" in p.stderr
    p = cli("--model", str(tmp_path), "--task", "qa")
    assert p.returncode == 2 and "--data" in p.stderr


# ---------------------------------------------------------------------------------------------- model tasks
@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpts")
    return {
        "gpt": gpt(d / "gpt"),
        "t5": t5(d / "t5"),
        "clf": bert(d / "clf", "classification", ["neg", "pos", "neutral"]),
        "ner": bert(d / "ner", "ner", ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]),
        "qa": bert(d / "qa", "qa"),
    }


def test_translation_bleu_equals_generating_by_hand(ckpts, tmp_path):
    src, tgt = texts(7, seed=1), texts(7, seed=2)
    data = write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"en": s, "fr": t} for s, t in zip(src, tgt)],
        extra_lines=['{"en": "no target here"}', "{broken json", '{"en": 3, "fr": "x"}'],
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--model",
                ckpts["t5"],
                "--task",
                "translation",
                "--data",
                data,
                "--source-field",
                "en",
                "--target-field",
                "fr",
                "--max-new-tokens",
                "8",
                "--batch-size",
                "3",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = read(out)
    model = mt.AutoModelForSeq2SeqLM.from_pretrained(ckpts["t5"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["t5"])
    hyps = []
    for s in src:  # one at a time, no padding: batching must not change the outputs
        ids = torch.tensor([tok.encode(s)])
        hyps.append(tok.decode(model.generate(ids, max_new_tokens=8)[0].tolist(), skip_special_tokens=True).strip())
    assert res["metrics"]["sacrebleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [tgt]).score)
    assert res["metrics"]["chrf"]["score"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [tgt]).score)
    assert res["bad_records"] == 3 and res["examples"] == 7
    assert any("pairs.jsonl:8" in b and "'fr'" in b for b in res["bad"]) and any(
        "pairs.jsonl:9" in b for b in res["bad"]
    )
    assert len(res["worst"]) == 7 and res["by_length"]
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["prediction"] for p in preds] == hyps


def test_summarization_rouge(ckpts, tmp_path):
    src, tgt = texts(5, seed=3), texts(5, seed=4)
    data = write_jsonl(tmp_path / "s.jsonl", [{"document": s, "summary": t} for s, t in zip(src, tgt)])
    res = mt.evaluation.evaluate_model(
        ckpts["t5"],
        "summarization",
        data,
        str(tmp_path / "o"),
        fields=Fields(source="document", target="summary"),
        max_new_tokens=6,
        progress=False,
    )
    preds = [json.loads(x)["prediction"] for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    expected = mt.load_metric("rouge").compute(predictions=preds, references=tgt)
    assert res["metrics"]["rouge"]["rougeL"] == pytest.approx(expected["rougeL"])


def test_classification_accuracy_and_confusion_png(ckpts, tmp_path):
    rows = [{"text": t, "label": ["neg", "pos", "neutral"][i % 3]} for i, t in enumerate(texts(12, seed=5))]
    rows[4]["label"] = 1  # ids work too
    data = write_jsonl(tmp_path / "c.jsonl", rows, extra_lines=['{"text": "x", "label": "unknown-label"}'])
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--model",
                ckpts["clf"],
                "--task",
                "classification",
                "--data",
                data,
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = read(out)
    model = mt.AutoModelForSequenceClassification.from_pretrained(ckpts["clf"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["clf"])
    with torch.no_grad():
        pred = [int(model(**tok(r["text"], return_tensors="pt")).logits.argmax(-1)) for r in rows]
    y = [r["label"] if isinstance(r["label"], int) else ["neg", "pos", "neutral"].index(r["label"]) for r in rows]
    from sklearn.metrics import accuracy_score, confusion_matrix

    assert res["metrics"]["accuracy"]["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert res["confusion_matrix"]["matrix"] == confusion_matrix(y, pred).tolist()
    assert res["bad_records"] == 1 and "c.jsonl:13" in res["bad"][0]
    assert (out / "confusion_matrix.png").stat().st_size > 0


def test_ner_seqeval_first_subtoken(ckpts, tmp_path):
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    rows = [
        {
            "tokens": t.split(),
            "ner_tags": [tags[(i + j) % 5] if (i + j) % 5 != 2 or j else "O" for j in range(len(t.split()))],
        }
        for i, t in enumerate(texts(6, 7))
    ]
    data = write_jsonl(tmp_path / "n.jsonl", rows, extra_lines=['{"tokens": ["a", "b"], "ner_tags": ["O"]}'])
    res = mt.evaluation.evaluate_model(ckpts["ner"], "ner", data, str(tmp_path / "o"), progress=False)
    model = mt.AutoModelForTokenClassification.from_pretrained(ckpts["ner"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["ner"])
    preds = []
    for r in rows:
        enc = tok(r["tokens"], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**{k: v for k, v in enc.items() if k != "offset_mapping"}).logits[0]
        firsts = {}
        for pos, w in enumerate(enc.word_ids(0)):
            if w is not None and w not in firsts:
                firsts[w] = tags[int(logits[pos].argmax())]
        preds.append([firsts[w] for w in range(len(r["tokens"]))])
    assert res["metrics"]["seqeval"]["overall_f1"] == pytest.approx(
        seqeval_f1([r["ner_tags"] for r in rows], preds, zero_division=0)
        if any(t != "O" for p in preds for t in p)
        else 0.0
    )
    assert res["bad_records"] == 1


def test_qa_spans_come_from_context(ckpts, tmp_path):
    ctx = texts(4, seed=9)
    rows = [
        {
            "id": str(i),
            "question": "where is the cat",
            "context": c,
            "answers": {"text": [c.split()[1]], "answer_start": [0]},
        }
        for i, c in enumerate(ctx)
    ]
    data = write_jsonl(tmp_path / "q.jsonl", rows)
    res = mt.evaluation.evaluate_model(ckpts["qa"], "qa", data, str(tmp_path / "o"), progress=False)
    preds = [json.loads(x) for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["prediction"] in c and p["prediction"] for p, c in zip(preds, ctx))
    expected = mt.load_metric("squad").compute(
        predictions=[p["prediction"] for p in preds], references=[r["answers"]["text"] for r in rows]
    )
    assert res["metrics"]["squad"]["f1"] == pytest.approx(expected["f1"])


def _long_contexts(n: int, words: int, seed: int, avoid: str = "") -> list[str]:
    g = np.random.default_rng(seed)
    pool = [w for w in WORDS if w != avoid]
    return [" ".join(g.choice(pool, words)) for _ in range(n)]


def test_qa_long_context_finds_answer_in_a_late_window(tmp_path):
    """Contexts of 150 words (one token each) on a model with 64 positions: the planted answer sits at word 120,
    two windows past the first. Truncation could not find it; the windows of the QA pipeline do."""
    model_dir = planted_qa(tmp_path / "qa", "river")
    ctx = _long_contexts(3, 150, seed=5, avoid="river")
    planted = []
    for c, at in zip(ctx, (120, 140, 10)):  # late, last window, first window
        w = c.split()
        w[at] = "river"
        planted.append(" ".join(w))
    rows = [
        {"id": str(i), "question": "where is it", "context": c, "answers": {"text": ["river"], "answer_start": [0]}}
        for i, c in enumerate(planted)
    ]
    data = write_jsonl(tmp_path / "q.jsonl", rows)
    res = mt.evaluation.evaluate_model(model_dir, "qa", data, str(tmp_path / "o"), progress=False)
    preds = [json.loads(x)["prediction"] for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert preds == ["river"] * 3
    assert res["metrics"]["squad"]["exact_match"] == 100.0 and res["metrics"]["squad"]["f1"] == 100.0
    tok = mt.AutoTokenizer.from_pretrained(model_dir)
    assert len(tok("where is it", planted[0])["input_ids"]) > 2 * 64  # longer than the model's positions, twice


def test_qa_windows_equal_the_pipeline_by_hand(ckpts, tmp_path):
    """A random model on long contexts with --max-length/--stride from the CLI: every prediction equals the
    question-answering pipeline run by hand with the same window options."""
    ctx = _long_contexts(5, 90, seed=6)
    qs = texts(5, seed=7)
    rows = [
        {"id": str(i), "question": q, "context": c, "answers": {"text": [c.split()[3]], "answer_start": [0]}}
        for i, (q, c) in enumerate(zip(qs, ctx))
    ]
    data = write_jsonl(tmp_path / "q.jsonl", rows)
    out = tmp_path / "o"
    p = cli(
        "--model", ckpts["qa"], "--task", "qa", "--data", data, "--max-length", "48", "--stride", "16", "-o", str(out)
    )
    assert p.returncode == 0, p.stderr
    preds = [json.loads(x)["prediction"] for x in (out / "predictions.jsonl").read_text().splitlines()]
    qa = mt.pipeline("question-answering", model=ckpts["qa"])
    by_hand = [
        qa(question=q, context=c, max_seq_len=48, doc_stride=16, max_answer_len=30)["answer"] for q, c in zip(qs, ctx)
    ]
    assert preds == by_hand and all(preds)
    expected = mt.load_metric("squad").compute(predictions=by_hand, references=[r["answers"]["text"] for r in rows])
    assert read(out)["metrics"]["squad"]["f1"] == pytest.approx(expected["f1"])


def test_perplexity_equals_sliding_window_by_hand(ckpts, tmp_path):
    tx = texts(6, seed=11)
    data = write_jsonl(tmp_path / "v.jsonl", [{"text": t} for t in tx], extra_lines=['{"txt": "wrong field"}'])
    out = tmp_path / "o"
    assert (
        main(
            [
                "evaluate",
                "--model",
                ckpts["gpt"],
                "--task",
                "perplexity",
                "--data",
                data,
                "--max-length",
                "8",
                "--stride",
                "4",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = read(out)
    model = mt.AutoModelForCausalLM.from_pretrained(ckpts["gpt"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["gpt"])
    by_hand = mt.evaluation.perplexity.sliding_window_perplexity(model, tx, tokenizer=tok, max_length=8, stride=4)
    assert res["headline"]["score"] == pytest.approx(by_hand["perplexity"], rel=1e-6)
    assert res["bad_records"] == 1 and "v.jsonl:7" in res["bad"][0] and res["dtype"] == "float32"


def test_perplexity_bfloat16_is_recorded_and_equals_the_api(ckpts, tmp_path):
    tx = texts(4, seed=12)
    data = write_jsonl(tmp_path / "v.jsonl", [{"text": t} for t in tx])
    argv = ["evaluate", "--model", ckpts["gpt"], "--task", "perplexity", "--data", data, "--max-length", "8"]
    assert main([*argv, "--dtype", "bfloat16", "-o", str(tmp_path / "o"), "--no-progress"]) == 0
    res = read(tmp_path / "o")
    model = mt.AutoModelForCausalLM.from_pretrained(ckpts["gpt"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["gpt"])
    ppl = mt.evaluation.perplexity.sliding_window_perplexity
    low = ppl(model, tx, tokenizer=tok, max_length=8, dtype="bfloat16")["perplexity"]
    assert res["dtype"] == "bfloat16" and res["headline"]["score"] == pytest.approx(low, rel=1e-6)
    assert low != ppl(model, tx, tokenizer=tok, max_length=8)["perplexity"]


def test_contamination_finds_planted_overlaps_and_no_others(ckpts, tmp_path):
    rng = np.random.default_rng(0)
    evals = [" ".join(rng.choice(WORDS, 20)) for _ in range(8)]
    data = write_jsonl(tmp_path / "e.jsonl", [{"text": t} for t in evals])
    corpus = tmp_path / "curated"
    corpus.mkdir()
    train = [" ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"], 40)) for _ in range(30)]
    train[3] = "prefix words here " + " ".join(evals[2].split()[3:17]) + " suffix"  # 14 words of example 2
    train[17] = evals[5]  # example 5 whole
    train[20] = " ".join(evals[6].split()[:12])  # only 12 words of example 6: below the 13-gram rule
    write_jsonl(corpus / "shard-0.jsonl", [{"text": t} for t in train[:15]])
    write_jsonl(corpus / "shard-1.jsonl", [{"text": t} for t in train[15:]])
    out = tmp_path / "o"
    assert (
        main(
            [
                "evaluate",
                "--model",
                ckpts["gpt"],
                "--task",
                "perplexity",
                "--data",
                data,
                "--max-length",
                "16",
                "--train-corpus",
                str(corpus),
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    res = read(out)
    con = res["contamination"]
    assert con["contaminated"] == 2 and con["examples"] == 8
    assert con["contaminated_examples"] == [f"{data}:3", f"{data}:6"]
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["train_overlaps"] for r in rows] == [0, 0, 1, 0, 0, 1, 0, 0]
    model = mt.AutoModelForCausalLM.from_pretrained(ckpts["gpt"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["gpt"])
    clean = [t for i, t in enumerate(evals) if i not in (2, 5)]
    by_hand = mt.evaluation.perplexity.sliding_window_perplexity(model, clean, tokenizer=tok, max_length=16)
    assert con["clean"]["perplexity"] == pytest.approx(by_hand["perplexity"], rel=1e-6)
    assert con["clean"]["examples"] == 6
    assert "Contamination" in (out / "eval.html").read_text()


def test_perplexity_on_token_shards(ckpts, tmp_path):
    from massivetext.tokenization.shard_format import open_shard
    from massivetext.tokenization.shards import read_index

    tok = mt.AutoTokenizer.from_pretrained(ckpts["gpt"])
    src = write_jsonl(tmp_path / "docs.jsonl", [{"text": t} for t in texts(40, seed=13)])
    mt.encode_corpus(tok, src, tmp_path / "shards", val_fraction=0.5, processes=1, progress=False)
    out = tmp_path / "o"
    assert (
        main(
            [
                "evaluate",
                "--model",
                ckpts["gpt"],
                "--task",
                "perplexity",
                "--data",
                str(tmp_path / "shards"),
                "--max-length",
                "16",
                "--stride",
                "8",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    index = read_index(tmp_path / "shards")
    stream = np.concatenate(
        [np.asarray(open_shard(tmp_path / "shards" / s["file"])) for s in index["splits"]["val"]["shards"]]
    )
    model = mt.AutoModelForCausalLM.from_pretrained(ckpts["gpt"]).eval()
    by_hand = mt.evaluation.perplexity.sliding_window_perplexity(model, stream, max_length=16, stride=8)
    res = read(out)
    assert res["headline"]["score"] == pytest.approx(by_hand["perplexity"], rel=1e-6)
    assert by_hand["tokens"] == len(stream) - 1
    lo, hi = res["headline"]["ci"]
    assert lo <= res["headline"]["score"] <= hi


def test_translation_with_a_causal_lm_continues_the_prompt(ckpts, tmp_path):
    src, tgt = texts(5, seed=21), texts(5, seed=22)
    data = write_jsonl(tmp_path / "p.jsonl", [{"source": s, "target": t} for s, t in zip(src, tgt)])
    res = mt.evaluation.evaluate_model(
        ckpts["gpt"],
        "translation",
        data,
        str(tmp_path / "o"),
        max_new_tokens=5,
        batch_size=5,
        prefix="translate: ",
        progress=False,
    )
    model = mt.AutoModelForCausalLM.from_pretrained(ckpts["gpt"]).eval()
    tok = mt.AutoTokenizer.from_pretrained(ckpts["gpt"])
    hyps = []
    for s in src:  # alone, unpadded: left padding in the batch must not change the continuation
        ids = torch.tensor([tok.encode("translate: " + s)])
        hyps.append(
            tok.decode(
                model.generate(ids, max_new_tokens=5)[0, ids.shape[1] :].tolist(), skip_special_tokens=True
            ).strip()
        )
    assert res["metrics"]["sacrebleu"]["score"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [tgt]).score)
    preds = [json.loads(x)["prediction"] for x in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert preds == hyps


def test_data_without_the_field_is_one_line_error(ckpts, tmp_path):
    data = write_jsonl(tmp_path / "x.jsonl", [{"en": "a b c"}, {"en": "d e"}])
    p = cli("--model", ckpts["clf"], "--task", "classification", "--data", data, "--no-progress")
    assert p.returncode == 2 and "x.jsonl:1: missing field 'text'" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
