"""MinHash LSH near-dedup over shards on disk, against brute-force all-pairs Jaccard."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _dedup_data import planted_corpus, write_shards

from massivetext.curate.dedup.minhash import MinHashConfig, find_near_duplicates
from massivetext.curate.dedup.shingles import jaccard_sets, shingle_set
from massivetext.curate.dedup.store import load_removals
from massivetext.curate.dedup.text import words


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    records, truth = planted_corpus(seed=3, n_base=100)
    d = tmp_path_factory.mktemp("mh")
    shards = write_shards(records, str(d / "in"), 5)
    sets = [shingle_set(r["text"]) for r in records]
    short = [len(words(r["text"])) < 13 for r in records]
    return records, truth, shards, sets, short


def _removed(records, n_shards, wd):
    per = -(-len(records) // n_shards)
    return {s * per + int(p) for s in range(n_shards) for p in load_removals(wd, s)}


def _true_pairs(records, sets, short, threshold):
    pairs = set()
    for i, j in itertools.combinations(range(len(records)), 2):
        if short[i] or short[j]:
            same = short[i] and short[j] and words(records[i]["text"]) == words(records[j]["text"])
            if same:
                pairs.add((i, j))
        elif jaccard_sets(sets[i], sets[j]) >= threshold:
            pairs.add((i, j))
    return pairs


def test_minhash_finds_planted_near_copies_and_nothing_else(corpus, tmp_path):
    records, truth, shards, sets, short = corpus
    wd = str(tmp_path / "wd")
    stats = find_near_duplicates(shards, wd)
    removed = _removed(records, len(shards), wd)
    ids = {r["id"]: i for i, r in enumerate(records)}
    true = _true_pairs(records, sets, short, 0.8)
    # recall: of every true pair, the later document is gone (its cluster keeps one document)
    missed = [(i, j) for i, j in true if j not in removed and i not in removed]
    assert not missed
    # precision: every removed document has a kept-or-earlier partner at Jaccard >= 0.8 (verification is exact)
    partners = {j for _, j in true} | {i for i, _ in true}
    assert removed <= partners
    for orig, copy in truth["near"] + truth["exact"]:
        assert ids[copy] in removed and ids[orig] not in removed
    assert not {ids[b] for b in truth["boiler"]} & removed  # shared header+footer only: kept
    assert len({ids["cjk0"], ids["cjk1"]} & removed) == 1  # no-space script, one character added: one kept
    assert ids["long0"] not in removed
    assert stats["docs_removed"] == len(removed)
    assert stats["verified_pairs"] <= stats["candidate_pairs"]
    assert sum(int(k) * v for k, v in stats["cluster_size_histogram"].items()) == stats["docs_in_clusters"]


def test_without_verification_candidates_are_kept_and_banding_is_configurable(corpus, tmp_path):
    records, truth, shards, _, _ = corpus
    cfg = MinHashConfig(verify=False, bands=20, rows=5, partitions=2)
    stats = find_near_duplicates(shards, str(tmp_path / "wd"), config=cfg)
    assert (stats["bands"], stats["rows"]) == (20, 5)
    assert stats["verified_pairs"] == stats["candidate_pairs"]
    removed = _removed(records, len(shards), str(tmp_path / "wd"))
    ids = {r["id"]: i for i, r in enumerate(records)}
    assert {ids[c] for _, c in truth["near"]} <= removed


def test_partitions_and_shard_count_do_not_change_the_decision(corpus, tmp_path):
    records, _, _, _, _ = corpus
    ids_removed = []
    for n_shards, parts in [(1, 1), (5, 3), (7, None)]:
        shards = write_shards(records, str(tmp_path / f"in{n_shards}"), n_shards)
        wd = str(tmp_path / f"wd{n_shards}")
        find_near_duplicates(shards, wd, config=MinHashConfig(partitions=parts))
        ids_removed.append({records[i]["id"] for i in _removed(records, n_shards, wd)})
    assert ids_removed[0] == ids_removed[1] == ids_removed[2]


def test_degenerate_inputs_do_not_crash(tmp_path):
    recs = [
        {"id": "a", "text": ""},
        {"id": "b", "text": ""},
        {"id": "c", "text": "!!! ??? ..."},
        {"id": "d", "text": "ไทย" * 50},
        {"id": "e", "text": "ไทย" * 50},
        {"id": "f", "text": "x " * 100000},
    ]
    shards = write_shards(recs, str(tmp_path / "in"), 2)
    find_near_duplicates(shards, str(tmp_path / "wd"), config=MinHashConfig(ngram=5))
    removed = {recs[s * 3 + int(p)]["id"] for s in range(2) for p in load_removals(str(tmp_path / "wd"), s)}
    # empty and punctuation-only texts have no words: identical by exact hash; the Thai copy is found
    assert removed == {"b", "c", "e"}
    np.testing.assert_array_equal(load_removals(str(tmp_path / "wd"), 9), [])
