"""TokenShards: windows, seeded order, ranks without overlap, exact resume, DataLoader use."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import massivetext as mt
from massivetext.tokenization.encode import encode_corpus
from massivetext.tokenization.shard_format import open_shard
from tokenization_helpers import corpus, write_jsonl

BLOCK = 16


@pytest.fixture(scope="module")
def shards(bpe, tmp_path_factory):
    _, tok_dir = bpe
    tmp = tmp_path_factory.mktemp("shards")
    files = [write_jsonl(tmp / f"in{i}.jsonl", [{"id": f"{i}-{j}", "text": t} for j, t in enumerate(corpus(40))])
             for i in range(3)]  # fmt: skip
    encode_corpus(tok_dir, files, tmp / "out", val_fraction=0.1, progress=False)
    return tmp / "out"


def _all_tokens(directory, split="train"):
    index = mt.tokenization.shards.read_index(directory)
    return np.concatenate([open_shard(directory / s["file"]) for s in index["splits"][split]["shards"]])


def test_windows_cover_the_stream_across_shard_boundaries(shards):
    ds = mt.TokenShards(shards, BLOCK, shuffle=False)
    tokens = _all_tokens(shards)
    assert len(ds.files) == 3 and len(ds) == (len(tokens) - 1) // BLOCK
    for i in range(len(ds)):
        item = ds[i]
        window = tokens[i * BLOCK : i * BLOCK + BLOCK + 1]
        assert item["input_ids"].dtype == torch.long and item["input_ids"].shape == (BLOCK,)
        assert item["input_ids"].tolist() == window[:-1].tolist()
        assert item["shift_labels"].tolist() == window[1:].tolist()
    assert any(ds.offsets[1] < (i + 1) * BLOCK + 1 and ds.offsets[1] > i * BLOCK for i in range(len(ds)))


def test_seeded_shuffle_is_a_permutation_per_epoch(shards):
    a, b, c = (mt.TokenShards(shards, BLOCK, seed=s) for s in (7, 7, 8))
    order = a.order(0)
    assert sorted(order.tolist()) == list(range(len(a)))
    assert np.array_equal(order, b.order(0)) and not np.array_equal(order, c.order(0))
    assert not np.array_equal(order, a.order(1))
    assert torch.equal(a[0]["input_ids"], torch.from_numpy(a.window(int(order[0])).astype(np.int64))[:-1])


@pytest.mark.parametrize("shuffle", [True, False])
def test_ranks_partition_the_windows_without_overlap(shards, shuffle):
    world = 3
    ranks = [mt.TokenShards(shards, BLOCK, shuffle=shuffle, seed=1, rank=r, world_size=world) for r in range(world)]
    n = ranks[0].n_windows
    assert all(len(r) == n // world for r in ranks)
    seen = [set(r.order(0).tolist()) for r in ranks]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert len(set().union(*seen)) == n - n % world


def test_resume_at_the_same_window_across_epochs(shards):
    ds = mt.TokenShards(shards, BLOCK, seed=3)
    reference = [item["input_ids"] for _, item in zip(range(len(ds) + 5), _forever(ds))]
    ds2 = mt.TokenShards(shards, BLOCK, seed=3)
    stream = _forever(ds2)
    for _ in range(len(ds) - 2):
        next(stream)
    state = ds2.state_dict()
    assert state["epoch"] == 0 and state["index"] == len(ds) - 2
    fresh = mt.TokenShards(shards, BLOCK, seed=3)
    fresh.load_state_dict(state)
    rest = [item["input_ids"] for _, item in zip(range(7), _forever(fresh))]
    for got, want in zip(rest, reference[len(ds) - 2 :]):
        assert torch.equal(got, want)
    assert fresh.state_dict()["epoch"] == 1  # rolled into the next epoch
    with pytest.raises(mt.ConfigError, match="seed"):
        mt.TokenShards(shards, BLOCK, seed=4).load_state_dict(state)


def _forever(ds):
    while True:
        yield from ds


def test_dataloader_with_workers_resumes_exactly(shards):
    ds = mt.TokenShards(shards, BLOCK, seed=5)
    plain = [b["input_ids"] for b in DataLoader(ds, batch_size=4)]  # plain DataLoader over the map-style dataset
    assert torch.equal(torch.cat(plain), torch.stack([ds[i]["input_ids"] for i in range(len(ds))]))
    loader = ds.dataloader(batch_size=4, num_workers=2)
    first = [next(loader)["input_ids"] for _ in range(3)]
    state = ds.state_dict()  # workers have prefetched more, but the position counts what was consumed
    assert state["index"] == 12
    del loader
    again = mt.TokenShards(shards, BLOCK, seed=5)
    again.load_state_dict(state)
    nxt = next(again.dataloader(batch_size=4))["input_ids"]
    assert torch.equal(torch.cat(first), torch.cat(plain)[:12]) and torch.equal(nxt, plain[3])
    resumed = DataLoader(again, batch_size=4, sampler=again.sampler())
    assert len(resumed.sampler) == len(again) - 16  # the batch taken above moved the position on


def test_val_split_and_bad_arguments(shards, tmp_path):
    val = mt.TokenShards(shards, BLOCK, split="val", shuffle=False)
    assert val[0]["input_ids"].tolist() == _all_tokens(shards, "val")[:BLOCK].tolist()
    with pytest.raises(mt.ConfigError, match="no split"):
        mt.TokenShards(shards, BLOCK, split="test")
    with pytest.raises(mt.ConfigError, match="too few"):
        mt.TokenShards(shards, 10**7)
    with pytest.raises(mt.ConfigError, match="rank"):
        mt.TokenShards(shards, BLOCK, rank=2, world_size=2)
    with pytest.raises(mt.MissingFileError, match="index.json"):
        mt.TokenShards(tmp_path, BLOCK)
