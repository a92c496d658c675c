"""Intermediate shards (written compactly by orjson where it can) read back as exactly what was written."""

from __future__ import annotations

import math

from massivetext.curate.document import Document
from massivetext.curate.io import ShardWriter, read_shard, write_intermediate


def test_intermediate_shards_round_trip(tmp_path):
    records = [
        {"id": "a", "text": "plain text", "meta": {"n": 3, "f": 0.1}},
        {"id": "b", "text": "caf\u00e9 \u2028 \U0001f600", "none": None},  # null: written by json
        {"id": "c", "text": "not a number", "score": float("nan"), "inf": float("inf")},  # orjson would write null
        {"id": "d", "text": "huge int", "n": 2**70},  # beyond orjson's 64 bits
        {"id": "e", "text": "lone \ud800 surrogate"},  # orjson refuses it
    ]
    docs = [Document(r["id"], r["text"], src, r, "in.jsonl", i + 1) for i, (r, src) in
            enumerate(zip(records, ["web/x", None, "web/y", None, "code/z"]))]  # fmt: skip
    path = str(tmp_path / "part-00000.jsonl.zst")
    with ShardWriter(path, "jsonl", compact=True) as w:
        for d in docs:
            write_intermediate(w, d, "text")
    back = list(read_shard(path, 7))
    assert [d.order for d in back] == [(7, i) for i in range(5)]
    for d, b in zip(docs, back):
        assert (b.id, b.text, b.source, b.file, b.line) == (d.id, d.text, d.source, d.file, d.line)
        assert repr(b.record) == repr(d.record)  # NaN and inf included (repr: nan, inf)
    assert math.isnan(back[2].record["score"]) and back[2].record["inf"] == float("inf")
    assert back[3].record["n"] == 2**70 and back[1].record["none"] is None
