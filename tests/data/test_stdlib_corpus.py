"""The embedded corpus: real, deterministic, both kinds of documents, cached."""

import hashlib
import os

import massivetext as mt
from massivetext.data.corpora.stdlib import _documents, build_stdlib_corpus, default_path


def test_stdlib_corpus_is_real_and_deterministic(tmp_path):
    first = build_stdlib_corpus(str(tmp_path / "a.jsonl"))
    _documents.cache_clear()  # a second build from scratch
    second = build_stdlib_corpus(str(tmp_path / "b.jsonl"))
    digest = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (first, second)]
    assert digest[0] == digest[1]
    ds = mt.load_dataset("json", data_files=first, split="train")
    assert ds.num_rows >= 10_000
    kinds = {s.split("/")[0] for s in ds.unique("source")}
    assert kinds == {"prose", "code"}
    assert len(set(ds["id"])) == ds.num_rows  # ids are unique
    row = ds.filter(lambda r: r["id"] == "py:json/__init__.py")[0]
    assert "def dumps(" in row["text"] and row["source"] == "code/stdlib"


def test_load_dataset_stdlib_is_cached():
    ds = mt.load_dataset("stdlib", split="train", max_docs=200)
    assert ds.num_rows == 200 and set(ds.column_names) == {"id", "text", "source"}
    assert os.path.exists(default_path().replace(".jsonl", "-200.jsonl"))
