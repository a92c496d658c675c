"""Source mixing: encode tags each shard with its source; TokenShards(weights=...) serves windows in those token
proportions (within 1 point over 10,000 windows), deterministically, resumably, reporting passes per source."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import yaml

import massivetext as mt
from massivetext.errors import BadInputError, ConfigError

WEIGHTS = {"web": 0.48, "books": 0.27, "c4": 0.10, "news": 0.10, "github": 0.03, "wiki": 0.02}
BLOCK = 8


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Six sources of different sizes; each source's documents use their own marker word so a window's tokens
    say where it came from."""
    d = tmp_path_factory.mktemp("mix")
    rng = random.Random(0)
    sizes = {"web": 60, "books": 25, "c4": 30, "news": 8, "github": 5, "wiki": 3}  # documents of ~40 words
    globs = {}
    for name, n in sizes.items():
        (d / name).mkdir()
        with open(d / name / "a.jsonl", "w") as f:
            for i in range(n):
                words = " ".join(f"{name}{rng.randrange(3)}" for _ in range(40))
                f.write(json.dumps({"id": f"{name}-{i}", "text": words}) + "\n")
        globs[name] = str(d / name / "*.jsonl")
    tok = mt.train_tokenizer([f"{n}{k} " * 5 for n in sizes for k in range(3)], vocab_size=300)
    out = d / "shards"
    items = [f"{k}={v}" for k, v in globs.items()]  # the CLI form: NAME=GLOB
    index = mt.encode_corpus(tok, items, str(out), val_fraction=0.0, progress=False)
    ids = {name: {tok.convert_tokens_to_ids(t) for t in tok.tokenize(" ".join(f"{name}{k}" for k in range(3)))}
           for name in sizes}  # fmt: skip
    return out, index, ids


def test_index_tags_sources(mixed):
    _, index, _ = mixed
    train = index["splits"]["train"]
    assert {s["source"] for s in train["shards"]} == set(WEIGHTS)
    assert sum(train["sources"].values()) == train["tokens"]


def source_of(window: np.ndarray, ids: dict[str, set[int]]) -> str:
    """The source whose own tokens (its name; digits are shared) the window holds: exactly one, never two."""
    toks = set(window.tolist())
    own = {name: s - set().union(*(o for n, o in ids.items() if n != name)) for name, s in ids.items()}
    found = {name for name, s in own.items() if toks & s}
    assert len(found) == 1, found  # windows never cross sources
    return found.pop()


def test_shares_within_one_point_and_epochs(mixed):
    out, _, ids = mixed
    ds = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=5)
    n = 10_000
    seen = [source_of(ds[(e, i)]["input_ids"].numpy(), ids) for e, i in _positions(ds, n)]
    for name, w in WEIGHTS.items():
        assert abs(seen.count(name) / n - w) <= 0.01, (name, seen.count(name) / n)
    ds.advance(n)
    assert ds.realised_mixture() == pytest.approx(WEIGHTS, abs=0.01)
    epochs = ds.source_epochs()
    sizes = {s.name: s.n_windows for s in ds.mixture.sources}
    for name in WEIGHTS:
        assert epochs[name] == pytest.approx(seen.count(name) / sizes[name])
    assert epochs["news"] > 3 * epochs["c4"] > 1  # same weight, a quarter of the size: repeated four times as often


def _positions(ds, n):
    e, i = 0, 0
    for _ in range(n):
        yield e, i
        i += 1
        if i == len(ds):
            e, i = e + 1, 0


def test_seeded_and_resumable(mixed):
    out, _, _ = mixed
    a = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=1)
    straight = [x["input_ids"] for _, x in zip(range(700), _endless(a))]
    b = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=1)
    first = [x["input_ids"] for _, x in zip(range(300), _endless(b))]
    state = json.loads(json.dumps(b.state_dict()))  # as a checkpoint stores it
    c = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=1)
    c.load_state_dict(state)
    rest = [x["input_ids"] for _, x in zip(range(400), _endless(c))]
    assert all(np.array_equal(p, q) for p, q in zip(straight, first + rest))
    other = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=2)
    assert not all(np.array_equal(p, q) for p, q in zip(straight[:50], [x["input_ids"] for _, x in zip(range(50), _endless(other))]))  # fmt: skip
    with pytest.raises(ConfigError, match="weights"):
        mt.TokenShards(out, block_size=BLOCK, weights={**WEIGHTS, "web": 0.5}, seed=1).load_state_dict(state)
    with pytest.raises(ConfigError, match="no source 'arxiv'"):
        mt.TokenShards(out, block_size=BLOCK, weights={"arxiv": 1.0})


def _endless(ds):
    while True:
        yield from ds


def test_ranks_partition_the_mixture(mixed):
    out, _, _ = mixed
    one = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=3)
    r0 = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=3, rank=0, world_size=2)
    r1 = mt.TokenShards(out, block_size=BLOCK, weights=WEIGHTS, seed=3, rank=1, world_size=2)
    for i in range(20):
        assert np.array_equal(r0[i]["input_ids"], one[2 * i]["input_ids"])
        assert np.array_equal(r1[i]["input_ids"], one[2 * i + 1]["input_ids"])


def test_gopher_mixture_recipe_weights():
    from pathlib import Path

    spec = yaml.safe_load((Path(__file__).parents[2] / "recipes" / "gopher-mixture.yaml").read_text())
    assert spec["weights"] == WEIGHTS and sum(spec["weights"].values()) == pytest.approx(1.0)


def test_sources_from_a_metadata_field(tmp_path):
    """``source_field="metadata.source"``: one shard per source inside a task, listed in index.json exactly as the
    glob form lists a file per source, with the same tokens, so the mixture serves the very same windows."""
    rng = random.Random(4)
    names = ["web", "books", "news wire"]  # a name that is not file-safe
    docs = []
    for i in range(90):
        name = rng.choice(names)
        tag = name.split()[0]
        docs.append({"id": f"d{i}", "text": " ".join(f"{tag}{rng.randrange(3)}" for _ in range(rng.randrange(5, 40))),
                     "metadata": {"source": name}})  # fmt: skip
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    for name in names:  # the glob form: a file per source, the same documents in the same order
        (tmp_path / name.replace(" ", "_")).mkdir()
        (tmp_path / name.replace(" ", "_") / "a.jsonl").write_text(
            "".join(json.dumps(d) + "\n" for d in docs if d["metadata"]["source"] == name)
        )
    tok = mt.train_tokenizer([f"{t}{k} " * 5 for t in ("web", "books", "news") for k in range(3)], vocab_size=300)
    by_field = mt.encode_corpus(tok, str(tmp_path / "mixed.jsonl"), str(tmp_path / "f"), val_fraction=0.2,
                                source_field="metadata.source", progress=False, processes=1)  # fmt: skip
    by_glob = mt.encode_corpus(tok, {n: str(tmp_path / n.replace(" ", "_") / "*.jsonl") for n in names},
                               str(tmp_path / "g"), val_fraction=0.2, progress=False, processes=1)  # fmt: skip
    for split in ("train", "val"):
        shards = by_field["splits"][split]["shards"]
        assert sorted(s["source"] for s in shards) == sorted(names)  # one shard per source in the one task
        for s in shards:
            assert (tmp_path / "f" / s["file"]).is_file() and " " not in s["file"]
        assert by_field["splits"][split]["sources"] == by_glob["splits"][split]["sources"]
        glob_docs = {s["source"]: s["documents"] for s in by_glob["splits"][split]["shards"]}
        assert {s["source"]: s["documents"] for s in shards} == glob_docs
    # the reference count: every document's tokens plus its EOS, by source
    for name in names:
        want = sum(len(tok.encode(d["text"], add_special_tokens=False)) + 1 for d in docs if d["metadata"]["source"] == name)  # fmt: skip
        assert by_field["splits"]["train"]["sources"][name] + by_field["splits"]["val"]["sources"][name] == want
    weights = {"web": 0.6, "books": 0.3, "news wire": 0.1}
    f = mt.TokenShards(tmp_path / "f", block_size=4, weights=weights, seed=2)
    g = mt.TokenShards(tmp_path / "g", block_size=4, weights=weights, seed=2)
    assert len(f) == len(g)
    for e, i in list(_positions(f, 3000))[::7]:
        assert np.array_equal(f[(e, i)]["input_ids"], g[(e, i)]["input_ids"])
    f.advance(3000)
    assert f.realised_mixture() == pytest.approx(weights, abs=0.01)


def test_source_field_missing_is_a_bad_record(tmp_path):
    rows = [{"text": "web0 web1", "meta": {"src": "web"}}, {"text": "web2 web0"}, {"text": "x", "meta": {"src": ""}}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    tok = mt.train_tokenizer(["web0 web1 web2 " * 5], vocab_size=120)
    index = mt.encode_corpus(tok, str(tmp_path / "a.jsonl"), str(tmp_path / "o"), val_fraction=0.0,
                             source_field="meta.src", progress=False, processes=1)  # fmt: skip
    assert index["bad_records"] == 2 and index["splits"]["train"]["documents"] == 1
    assert "a.jsonl:2" in index["bad_examples"][0] and "meta.src" in index["bad_examples"][0]
    with pytest.raises(BadInputError, match="a.jsonl"):
        mt.encode_corpus(tok, str(tmp_path / "a.jsonl"), str(tmp_path / "s"), val_fraction=0.0,
                         source_field="meta.src", strict=True, progress=False, processes=1)  # fmt: skip
    with pytest.raises(ConfigError, match="not both"):
        mt.encode_corpus(tok, [f"web={tmp_path / 'a.jsonl'}"], str(tmp_path / "b"), source_field="meta.src")
