"""Token shards: exact contents, the validation split, dtype choice, bad input, kill -9 and resume."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xxhash
import zstandard

import massivetext as mt
from massivetext.tokenization.encode import encode_corpus
from massivetext.tokenization.shard_format import TokenShardWriter, open_shard, read_header
from tokenization_helpers import TEXTS, corpus, write_jsonl


def _docs(n, prefix="d"):
    texts = corpus(n)
    return [{"id": f"{prefix}{i}", "text": t} for i, t in enumerate(texts)]


def _expected(tok, docs, val_fraction):
    """The reference: each document encoded on its own, EOS after it, split by the hash rule."""
    out = {"train": [], "val": []}
    for doc in docs:
        val = xxhash.xxh64_intdigest(str(doc["id"]).encode()) < int(val_fraction * 2**64)
        out["val" if val else "train"] += tok.encode(doc["text"], add_special_tokens=False) + [tok.eos_token_id]
    return out


def _split_tokens(out, split):
    index = json.loads((out / "index.json").read_text())
    return np.concatenate([open_shard(out / s["file"]) for s in index["splits"][split]["shards"]]).tolist()


def test_shards_hold_exactly_the_documents_in_order(bpe, tmp_path):
    tok, tok_dir = bpe
    docs_a, docs_b = _docs(60, "a"), _docs(50, "b")
    a = write_jsonl(tmp_path / "a.jsonl", docs_a)
    with open(tmp_path / "b.jsonl.zst", "wb") as f:  # compressed input, as curation writes it
        f.write(zstandard.ZstdCompressor().compress("".join(json.dumps(d) + "\n" for d in docs_b).encode()))
    index = encode_corpus(tok_dir, [a, tmp_path / "b.jsonl.zst"], tmp_path / "out", val_fraction=0.2, progress=False)
    expected = _expected(tok, docs_a + docs_b, 0.2)
    for split in ("train", "val"):
        assert _split_tokens(tmp_path / "out", split) == expected[split]
        assert index["splits"][split]["tokens"] == len(expected[split])
    n_val = index["splits"]["val"]["documents"]
    assert 0 < n_val < 110 and index["splits"]["train"]["documents"] + n_val == 110
    assert index["dtype"] == "uint16" and index["eos_id"] == tok.eos_token_id
    sha = __import__("hashlib").sha256((tmp_path / "out" / "tokenizer.json").read_bytes()).hexdigest()
    assert index["tokenizer_sha256"] == sha
    assert mt.AutoTokenizer.from_pretrained(tmp_path / "out").encode("hello") == tok.encode("hello")
    dtype, n, n_docs = read_header(tmp_path / "out" / index["splits"]["train"]["shards"][0]["file"])
    assert dtype == np.uint16 and n_docs == index["splits"]["train"]["shards"][0]["documents"]


def test_parallel_and_sequential_runs_write_identical_shards(bpe, tmp_path):
    _, tok_dir = bpe
    files = [write_jsonl(tmp_path / f"in{i}.jsonl", _docs(30, f"f{i}-")) for i in range(3)]
    one = encode_corpus(tok_dir, files, tmp_path / "one", processes=1, progress=False)
    two = encode_corpus(tok_dir, files, tmp_path / "two", processes=2, progress=False)
    assert one == two
    for shard in one["splits"]["train"]["shards"]:
        assert (tmp_path / "one" / shard["file"]).read_bytes() == (tmp_path / "two" / shard["file"]).read_bytes()


def test_byte_ranges_of_one_big_file_equal_one_task(bpe, tmp_path):
    tok, tok_dir = bpe
    docs = _docs(80)
    path = write_jsonl(tmp_path / "big.jsonl", docs)
    index = encode_corpus(tok_dir, path, tmp_path / "out", part_bytes=1500, val_fraction=0.1, progress=False)
    assert len(index["splits"]["train"]["shards"]) > 3
    assert _split_tokens(tmp_path / "out", "train") == _expected(tok, docs, 0.1)["train"]


KILL_SCRIPT = """
import os, signal, sys
from massivetext.tokenization import encode
calls = 0
real_write = encode.TokenShardWriter.write
def write(self, ids, n_docs=0):
    global calls
    calls += 1
    real_write(self, ids, n_docs)
    if calls == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of a shard
encode.TokenShardWriter.write = write
encode.encode_corpus(sys.argv[1], sys.argv[2].split(","), sys.argv[4], processes=1, batch_chars=300, progress=False)
"""


def test_kill_9_and_resume_gives_identical_shards(bpe, tmp_path):
    _, tok_dir = bpe
    files = [write_jsonl(tmp_path / f"in{i}.jsonl", _docs(40, f"k{i}-")) for i in range(3)]
    clean = encode_corpus(tok_dir, files, tmp_path / "clean", processes=1, progress=False)  # other batching
    out = tmp_path / "resumed"
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    proc = subprocess.run([sys.executable, str(script), str(tok_dir), ",".join(files), "15", str(out)])
    assert proc.returncode == -9
    done = sorted(os.listdir(out / ".done"))
    assert 1 <= len(done) < 3, done  # killed after the first input, inside a later one
    assert list(out.glob("*/*.tmp-*")) and not (out / "index.json").exists()
    finished = {p: (out / ".done" / p).stat().st_mtime_ns for p in done}
    resumed = encode_corpus(tok_dir, files, out, processes=1, batch_chars=300, progress=False)
    assert resumed == clean
    assert {p: (out / ".done" / p).stat().st_mtime_ns for p in done} == finished  # finished inputs were skipped
    assert not list(out.glob("*/*.tmp-*"))
    for split in ("train", "val"):
        for shard in clean["splits"][split]["shards"]:
            assert (out / shard["file"]).read_bytes() == (tmp_path / "clean" / shard["file"]).read_bytes()


def test_large_vocabulary_switches_to_uint32(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<eos>": 0, "[UNK]": 1, **{f"w{i}": i + 2 for i in range(70_000)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = mt.tokenization.tokenizer.FastTokenizer.from_backend(backend, {"eos_token": "<eos>", "unk_token": "[UNK]"})
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "w1 w69999 w65535 w70000"}])
    with pytest.warns(UserWarning, match="does not fit uint16: writing uint32"):
        index = encode_corpus(tok, path, tmp_path / "out", val_fraction=0.0, progress=False)
    assert index["dtype"] == "uint32"
    assert _split_tokens(tmp_path / "out", "train") == [3, 70001, 65537, 1, 0]


def test_bad_records_are_counted_and_good_ones_kept(bpe, tmp_path):
    tok, tok_dir = bpe
    path = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": 1, "text": "good one"}), "{broken json", json.dumps({"id": 2, "txt": "no text"}),
             json.dumps({"id": 3, "text": "lone \ud800 surrogate and NUL \x00 kept"}), json.dumps({"id": 4, "text": ""})]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    index = encode_corpus(tok_dir, path, tmp_path / "out", val_fraction=0.0, progress=False)
    assert index["bad_records"] == 2 and any(":2:" in e for e in index["bad_examples"])
    assert index["surrogate_documents"] == 1 and index["splits"]["train"]["documents"] == 3
    eos = tok.eos_token_id
    want = tok.encode("good one") + [eos] + tok.encode("lone \ufffd surrogate and NUL \x00 kept") + [eos, eos]
    assert _split_tokens(tmp_path / "out", "train") == want
    with pytest.raises(mt.BadInputError, match=r"in.jsonl:2"):
        encode_corpus(tok_dir, path, tmp_path / "strict", strict=True, progress=False)


def test_empty_corpus_and_missing_inputs_are_clear_errors(bpe, tmp_path):
    _, tok_dir = bpe
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(mt.BadInputError, match="empty corpus"):
        encode_corpus(tok_dir, tmp_path / "empty.jsonl", tmp_path / "out", progress=False)
    with pytest.raises(mt.MissingFileError):
        encode_corpus(tok_dir, tmp_path / "nothing-*.jsonl", tmp_path / "out", progress=False)
    with pytest.raises(mt.BadInputError, match="empty corpus"):
        mt.train_tokenizer(iter([]), vocab_size=300)


def test_shard_writer_header_and_truncation_check(tmp_path):
    with TokenShardWriter(tmp_path / "s.bin", np.uint16) as w:
        w.write(np.array([1, 2, 3]), 1)
        w.write(np.array([65535]), 1)
    assert read_header(tmp_path / "s.bin")[1:] == (4, 2)
    assert open_shard(tmp_path / "s.bin").tolist() == [1, 2, 3, 65535]
    with open(tmp_path / "s.bin", "r+b") as f:
        f.truncate(64 + 4)
    with pytest.raises(mt.BadInputError, match="truncated shard"):
        read_header(tmp_path / "s.bin")


def test_texts_module_constant_is_mixed():
    assert any(ord(c) > 0xFFFF for t in TEXTS for c in t)  # the fixtures really hold astral characters
