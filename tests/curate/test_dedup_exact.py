"""Exact dedup over shards on disk, against a plain dict reference."""

from __future__ import annotations

import numpy as np
import pytest
from _dedup_data import planted_corpus, write_shards

from massivetext.curate.dedup.exact import ExactConfig, find_exact_duplicates
from massivetext.curate.dedup.store import load_removals
from massivetext.curate.dedup.text import Normalization, normalize


def _removed_ids(records, shards, workdir):
    per = -(-len(records) // len(shards))
    out = set()
    for s in range(len(shards)):
        for pos in load_removals(workdir, s):
            out.add(records[s * per + int(pos)]["id"])
    return out


def _reference(records, norm):
    seen, removed = set(), set()
    for r in records:
        k = normalize(r["text"], norm)
        if k in seen:
            removed.add(r["id"])
        seen.add(k)
    return removed


@pytest.mark.parametrize(
    "spec,bits,parts", [("whitespace,case", 128, None), ("none", 64, 3), ("all", 128, 1), ("whitespace", 64, 7)]
)
def test_exact_dedup_matches_dict_reference(tmp_path, spec, bits, parts):
    records, truth = planted_corpus(seed=1, n_base=60)
    shards = write_shards(records, str(tmp_path / "in"), 4)
    norm = Normalization.parse(spec)
    stats = find_exact_duplicates(shards, str(tmp_path / "wd"), config=ExactConfig(norm, bits, parts))
    got = _removed_ids(records, shards, str(tmp_path / "wd"))
    assert got == _reference(records, norm)
    assert stats["docs_removed"] == len(got) and stats["docs"] == len(records)
    if spec == "whitespace,case":  # the planted copies differ in case and whitespace only
        assert {c for _, c in truth["exact"]} <= got
        shorts = [r["id"] for r in records if r["id"].startswith("short")]
        assert set(shorts[1:]) <= got and shorts[0] not in got  # first occurrence kept
        assert not got & {o for o, _ in truth["exact"]}
    if spec == "none":
        # without normalization a copy only meets another copy of the same original
        assert len({c for _, c in truth["exact"]} - got) >= 10


def test_exact_dedup_resumes_from_stage_files(tmp_path):
    records, _ = planted_corpus(seed=2, n_base=40)
    shards = write_shards(records, str(tmp_path / "in"), 3)
    wd = str(tmp_path / "wd")
    find_exact_duplicates(shards, wd)
    first = [load_removals(wd, s) for s in range(3)]
    # lose the group stage's marker and one of its outputs, as a crash in the middle of the stage would
    (tmp_path / "wd" / "group.done.json").unlink()
    (tmp_path / "wd" / "edges" / "00001.npy").unlink()
    find_exact_duplicates(shards, wd)
    assert all(np.array_equal(a, load_removals(wd, s)) for s, a in enumerate(first))


def test_exact_dedup_empty_shards(tmp_path):
    shards = write_shards([], str(tmp_path / "in"), 2)
    stats = find_exact_duplicates(shards, str(tmp_path / "wd"))
    assert stats["docs"] == 0 and stats["docs_removed"] == 0
