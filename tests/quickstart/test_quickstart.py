"""A reduced quickstart end to end: every artifact, a model both libraries load alike, better than unigram."""

import json
import os
import subprocess
import sys

import pytest
import torch

import massivetext as mt
from peers import require

ARGS = ["--minutes", "1", "--max-docs", "900", "--vocab-size", "1024", "--n-layer", "2", "--n-embd", "64",
        "--n-head", "2", "--block-size", "64", "--workers", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    cmd = [sys.executable, "-m", "massivetext.cli.main", "quickstart", "--output", str(out), *ARGS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


def test_every_artifact_exists(run_dir):
    out, stdout = run_dir
    for rel in ["corpus.jsonl", "curated/stats.json", "curated/report.html", "tokenizer/tokenizer.json",
                "shards/index.json", "model/config.json", "model/model.safetensors", "model/tokenizer.json",
                "stats.json", "report.html", "train.yaml"]:  # fmt: skip
        assert (out / rel).exists(), rel
    assert list((out / "curated").glob("part-*.jsonl.zst"))
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 2 and "massivetext curate" in report
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["samples"]) == 3 and all(s["text"].startswith(s["prompt"]) for s in stats["samples"])
    assert "minhash_dedup" in stdout and "perplexity" in stdout


def test_model_loads_in_both_libraries_with_same_logits(run_dir):
    transformers = require("transformers")
    out, _ = run_dir
    ours = mt.AutoModelForCausalLM.from_pretrained(str(out / "model")).eval()
    theirs = transformers.AutoModelForCausalLM.from_pretrained(str(out / "model")).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(out / "model"))
    ids = tok("def parse(self, text):\n    return", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-4, rtol=1e-4)


def test_perplexity_beats_unigram_baseline(run_dir):
    out, _ = run_dir
    ev = json.loads((out / "stats.json").read_text())["evaluation"]
    assert ev["perplexity"] < ev["unigram_perplexity"]


def test_rerun_skips_finished_stages(run_dir):
    out, _ = run_dir
    mtime = os.path.getmtime(out / "model" / "model.safetensors")
    cmd = [sys.executable, "-m", "massivetext.cli.main", "quickstart", "--output", str(out), *ARGS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("already done, skipping") == 5
    assert os.path.getmtime(out / "model" / "model.safetensors") == mtime


def test_bad_argument_exits_2():
    done = subprocess.run([sys.executable, "-m", "massivetext.cli.main", "quickstart", "--minutes", "0"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "--minutes" in done.stderr and "Traceback" not in done.stderr
