"""Test-set decontamination: both rules, eval sets from files, lists and datasets, hit reports."""

from __future__ import annotations

import json
import random

import pytest
from _dedup_data import near_copy, random_doc, write_shards

from massivetext.curate.dedup.decontaminate import DecontamConfig, Decontaminator, find_contaminated, load_eval_docs
from massivetext.curate.dedup.shingles import jaccard
from massivetext.curate.dedup.store import load_removals
from massivetext.errors import ConfigError
from peers import require


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = random.Random(7)
    d = tmp_path_factory.mktemp("decon")
    evals = [random_doc(rng, 200) for _ in range(6)] + ["What is the capital of France?"]
    evals.append("Name the largest planet of the solar system, please.")  # 10 words: a whole 10-gram
    train = [{"id": f"t{i}", "text": random_doc(rng, rng.randint(100, 250))} for i in range(60)]
    train[5]["text"] = near_copy(rng, evals[0])  # Jaccard ~0.88 with eval 0
    train[17]["text"] = evals[1]  # verbatim
    # quotes 20 words of eval 2 inside a long unrelated document: n-gram overlap, low Jaccard
    quote = " ".join(evals[2].split(" ")[50:70])
    train[30]["text"] = random_doc(rng, 150) + " " + quote + " " + random_doc(rng, 150)
    train[41]["text"] = "what is the CAPITAL of france"  # short: exact normalized words
    train[42]["text"] = evals[3] + " " + random_doc(rng, 400)  # contains the whole eval doc but is 3x longer
    train[50]["text"] = (
        random_doc(rng, 80) + " NAME the largest planet of the solar system: please " + random_doc(rng, 9)
    )
    eval_path = d / "eval.jsonl"
    eval_path.write_text("".join(json.dumps({"id": f"e{i}", "text": t}) + "\n" for i, t in enumerate(evals)))
    shards = write_shards(train, str(d / "train"), 3)
    return train, evals, str(eval_path), shards


def _removed(train, shards, wd):
    per = -(-len(train) // len(shards))
    return {train[s * per + int(p)]["id"] for s in range(len(shards)) for p in load_removals(wd, s)}


def test_jaccard_rule_removes_near_copies_only(data, tmp_path):
    train, evals, eval_path, shards = data
    wd = str(tmp_path / "wd")
    stats = find_contaminated(shards, load_eval_docs({"qa": eval_path}), wd)
    # reference: brute-force Jaccard against every eval doc
    ref = {t["id"] for t in train if max(jaccard(t["text"], e) for e in evals[:6]) >= 0.8}
    assert ref == {"t5", "t17"}
    assert _removed(train, shards, wd) == ref | {"t41"}
    assert stats["docs_removed"] == 3
    assert stats["eval_sets"]["qa"] == {"eval_docs": 8, "eval_docs_hit": 3, "train_docs_hitting": 3}
    hits = json.loads((tmp_path / "wd" / "eval_hits.json").read_text())
    assert {h["id"] for h in hits} == {"e0", "e1", "e6"}


def test_ngram_rule_catches_quotes_and_respects_min_overlap(data, tmp_path):
    train, evals, eval_path, shards = data
    docs = load_eval_docs([eval_path])
    find_contaminated(shards, docs, str(tmp_path / "a"), config=DecontamConfig(mode="ngram"))
    # t50 contains the 10-word eval question: a whole 10-gram of its own
    assert _removed(train, shards, str(tmp_path / "a")) == {"t5", "t17", "t30", "t41", "t42", "t50"}
    # the 20-word quote holds 8 13-grams: a minimum of 9 spares it; 11 words minimum: the question only by equality
    cfg = DecontamConfig(mode="ngram", min_overlap=9, min_short_words=11)
    stats = find_contaminated(shards, docs, str(tmp_path / "b"), config=cfg)
    assert _removed(train, shards, str(tmp_path / "b")) == {"t5", "t17", "t41", "t42"}
    assert stats["eval_sets"][eval_path]["eval_docs_hit"] == 4


def test_eval_sets_from_lists_and_datasets(data):
    datasets = require("datasets")
    _, evals, eval_path, _ = data
    ds = datasets.Dataset.from_dict({"text": evals[:2], "id": ["x", "y"]})
    docs = load_eval_docs({"file": eval_path, "texts": evals[:3], "hf": ds})
    assert [d.set for d in docs].count("texts") == 3 and [d.id for d in docs if d.set == "hf"] == ["x", "y"]
    with pytest.raises(ConfigError):
        load_eval_docs({"bad": [1, 2]})
    with pytest.raises(ConfigError):
        Decontaminator(eval_sets={"a": ["x"]}, mode="fuzzy")
    with pytest.raises(ConfigError):
        Decontaminator()
