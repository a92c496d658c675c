"""``massivetext run``: a pipeline over a file keeps every field and adds the result, sets bad lines aside with
file:line, and resumes after a crash without recomputing finished chunks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from peers import require

sys.path.insert(0, str(Path(__file__).parents[1] / "pipelines"))
transformers = require("transformers")
from pipeline_helpers import _peaked, bert_config, save, sentences, wordpiece_tokenizer  # noqa: E402

import massivetext as mt  # noqa: E402
from massivetext.pipelines.files import run_file  # noqa: E402


@pytest.fixture(scope="module")
def cls_dir(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    tok = wordpiece_tokenizer()
    labels = {0: "negative", 1: "positive"}
    cfg = bert_config(tok, id2label=labels, label2id={v: k for k, v in labels.items()})
    return save(_peaked(transformers.BertForSequenceClassification(cfg)), tok, tmp_path_factory.mktemp("cls"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "massivetext.cli.main", *args], capture_output=True, text=True)


def test_run_jsonl_keeps_fields_and_sets_bad_lines_aside(cls_dir, tmp_path):
    texts = sentences(9, seed=4, lo=1, hi=10)
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": i, "text": t, "lang": "en"}) for i, t in enumerate(texts)]
    lines.insert(3, "{broken json")
    lines.insert(6, json.dumps({"id": 99, "body": "no text field"}))
    lines.insert(8, json.dumps({"id": 98, "text": ""}))
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "preds.jsonl"
    done = _cli(
        "run",
        "sentiment-analysis",
        "--model",
        cls_dir,
        "--input",
        str(src),
        "--output",
        str(out),
        "--arg",
        "top_k=2",
        "--chunk-size",
        "4",
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(9))
    want = mt.pipeline("sentiment-analysis", model=cls_dir)(texts, top_k=2)
    for row, text, ref in zip(rows, texts, want):
        assert row["text"] == text and row["lang"] == "en"
        assert [x["label"] for x in row["result"]] == [x["label"] for x in ref]
        assert abs(row["result"][0]["score"] - ref[0]["score"]) < 1e-5
    errors = [json.loads(x) for x in (tmp_path / "preds.jsonl.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [4, 7, 9]
    assert all(e["file"] == str(src) for e in errors)
    assert f"{src}:4" in done.stderr and f"{src}:9" in done.stderr
    assert not (tmp_path / "preds.jsonl.parts").exists()


def test_run_csv_question_answering(tmp_path, cls_dir):
    import torch

    torch.manual_seed(0)
    tok = wordpiece_tokenizer(model_max_length=512)
    cfg = bert_config(tok)
    qa_dir = save(transformers.BertForQuestionAnswering(cfg), tok, tmp_path / "qa")
    src = tmp_path / "qa.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "context"])
        for t in sentences(4, seed=8, lo=5, hi=10):
            w.writerow(["who walked?", t])
    out = tmp_path / "qa.jsonl"
    done = _cli(
        "run", "question-answering", "--model", qa_dir, "--input", str(src), "--output", str(out), "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    qa = mt.pipeline("question-answering", model=qa_dir)
    for r in rows:
        ref = qa(question=r["question"], context=r["context"])
        assert r["result"]["answer"] == ref["answer"] and r["result"]["start"] == ref["start"]


def test_run_errors_are_one_line(cls_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a castle"}\n')
    bad = _cli("run", "sentiment-analisys", "--model", cls_dir, "--input", str(src), "--output", str(tmp_path / "o"))
    assert bad.returncode == 2 and "did you mean 'sentiment-analysis'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = _cli("run", "ner", "--model", str(tmp_path / "nope"), "--input", str(src), "--output", "o")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


class Crashing:
    """Wraps a pipeline: counts what it computes, and fails on the call given (a crash mid-run)."""

    def __init__(self, pipe, crash_on: int | None = None):
        self.pipe, self.crash_on, self.calls, self.items = pipe, crash_on, 0, 0
        self.task, self.task_name, self.model = pipe.task, pipe.task_name, pipe.model

    def iter_results(self, items, **kw):
        self.calls += 1
        if self.crash_on is not None and self.calls == self.crash_on:
            raise RuntimeError("killed")
        self.items += len(items)
        return self.pipe.iter_results(items, **kw)


def test_resume_after_crash_recomputes_nothing_done(cls_dir, tmp_path):
    texts = sentences(10, seed=6, lo=1, hi=8)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(texts)))
    pipe = mt.pipeline("text-classification", model=cls_dir)
    whole = tmp_path / "whole.jsonl"
    run_file(pipe, str(src), str(whole), chunk_size=3, progress=False, model_id="m")
    out = tmp_path / "out.jsonl"
    first = Crashing(pipe, crash_on=3)
    with pytest.raises(RuntimeError, match="killed"):
        run_file(first, str(src), str(out), chunk_size=3, progress=False, model_id="m")
    assert not out.exists() and (tmp_path / "out.jsonl.parts").exists()
    again = Crashing(pipe)
    report = run_file(again, str(src), str(out), chunk_size=3, progress=False, model_id="m")
    assert report.n_skipped_chunks == 2 and again.items == 4  # only chunks 3 and 4 (3 + 1 records) computed
    assert out.read_text() == whole.read_text()
    # parts left by a run with other options are not mixed in
    with pytest.raises(RuntimeError):
        run_file(Crashing(pipe, crash_on=1), str(src), str(out), chunk_size=3, progress=False, model_id="m")
    with pytest.raises(mt.MassiveTextError, match="different run"):
        run_file(pipe, str(src), str(out), chunk_size=5, progress=False, model_id="m")
