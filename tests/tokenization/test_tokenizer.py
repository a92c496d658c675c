"""FastTokenizer against transformers: ids, masks, padding, truncation, pairs, files in both directions."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer as HFAutoTokenizer
from transformers import PreTrainedTokenizerFast

import massivetext as mt
from massivetext.tokenization.tokenizer import FastTokenizer
from tokenization_helpers import TEXTS

BATCH = ["hello world", "the quick brown fox jumps over the lazy dog", "日本語 🙂", ""]


def test_byte_level_round_trip_mixed_scripts_emoji_nul(bpe):
    tok, _ = bpe
    for text in [*TEXTS, "NUL \x00 inside", "\x00", "  leading and trailing  ", "\r\n\t"]:
        assert tok.decode(tok.encode(text)) == text
    # characters never seen in training still round-trip (bytes, never unk)
    unseen = "ქართული ენა 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🦜"
    ids = tok.encode(unseen)
    assert tok.unk_token_id not in ids and tok.decode(ids) == unseen


def test_gpt2_style_special_tokens(bpe):
    tok, _ = bpe
    assert tok.bos_token == tok.eos_token == tok.unk_token == tok.pad_token == "<|endoftext|>"
    assert tok.eos_token_id == 0 and tok.convert_ids_to_tokens(0) == "<|endoftext|>"
    assert tok.encode("<|endoftext|>") == [0]  # a special token is never split
    assert len(tok) == tok.vocab_size == 500


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": True},
        {"padding": "max_length", "max_length": 12},
        {"padding": True, "truncation": True, "max_length": 5},
        {"truncation": True, "max_length": 3},
        {"padding": True, "pad_to_multiple_of": 8},
    ],
)
def test_call_matches_transformers_both_directions(bpe, tmp_path, side, kwargs):
    tok, path = bpe
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))  # MassiveText -> transformers
    hf.padding_side = tok.padding_side = side
    hf.truncation_side = tok.truncation_side = side
    ours, theirs = tok(BATCH, **kwargs), hf(BATCH, **kwargs)
    assert set(ours) == set(theirs) == {"input_ids", "attention_mask"}
    for key in theirs:
        assert ours[key] == theirs[key], key
    hf.save_pretrained(tmp_path)  # transformers -> MassiveText
    back = mt.AutoTokenizer.from_pretrained(tmp_path)
    assert back.padding_side == side
    again = back(BATCH, **kwargs)
    for key in theirs:
        assert again[key] == theirs[key], key
    tok.padding_side = tok.truncation_side = "right"


def test_tensors_and_single_text(bpe):
    tok, path = bpe
    hf = HFAutoTokenizer.from_pretrained(str(path))
    enc = tok(BATCH, padding=True, return_tensors="pt")
    ref = hf(BATCH, padding=True, return_tensors="pt")
    assert enc["input_ids"].dtype == torch.long and torch.equal(enc["input_ids"], ref["input_ids"])
    assert torch.equal(enc.attention_mask, ref["attention_mask"])
    assert enc.to("cpu") is enc
    assert isinstance(tok(BATCH, padding=True, return_tensors="np")["input_ids"], np.ndarray)
    single = tok("hello world")
    assert single["input_ids"] == hf("hello world")["input_ids"] and isinstance(single["input_ids"][0], int)
    assert tok("hello world", return_tensors="pt")["input_ids"].shape == (1, len(single["input_ids"]))
    with pytest.raises(mt.MassiveTextError, match="padding=True"):
        tok(BATCH, return_tensors="pt")  # ragged


def test_wordpiece_pairs_token_types_and_truncation(wordpiece, tmp_path):
    tok, path = wordpiece
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    firsts = ["hello world number one", "the quick brown fox jumps over the lazy dog and more words"]
    seconds = ["second segment", "another one that is quite long too, with words"]
    for kwargs in [{}, {"padding": True}, {"truncation": True, "max_length": 10, "padding": "max_length"},
                   {"truncation": "only_second", "max_length": 48, "padding": True}]:  # fmt: skip
        ours, theirs = tok(firsts, seconds, **kwargs), hf(firsts, seconds, **kwargs)
        assert set(theirs) >= {"input_ids", "token_type_ids", "attention_mask"}
        for key in theirs:
            assert ours[key] == theirs[key], (kwargs, key)
    # a pair that cannot be truncated as asked: transformers raises, so do we (with a clear error type)
    with pytest.raises(Exception, match="Truncation error"):
        hf(firsts, seconds, truncation="only_second", max_length=12)
    with pytest.raises(mt.ConfigError, match="Truncation error"):
        tok(firsts, seconds, truncation="only_second", max_length=12)
    # truncation=True uses model_max_length (32) like transformers
    long = " ".join(["word"] * 100)
    assert len(tok(long, truncation=True)["input_ids"]) == 32 == len(hf(long, truncation=True)["input_ids"])
    assert tok.cls_token_id == hf.cls_token_id and tok.mask_token_id == hf.mask_token_id
    ids = tok("hello world")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.decode(ids, skip_special_tokens=True) == hf.decode(ids, skip_special_tokens=True) == "hello world"


def test_decode_convert_and_pad_match_transformers(bpe):
    tok, path = bpe
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    rows = [tok.encode(t) for t in BATCH]
    assert tok.batch_decode(rows) == hf.batch_decode(rows) == BATCH
    with_special = [[0, *rows[0], 0]]
    assert tok.batch_decode(with_special, skip_special_tokens=True) == ["hello world"]
    assert tok.decode(torch.tensor(rows[1])) == BATCH[1]
    tokens = tok.convert_ids_to_tokens(rows[1])
    assert tokens == hf.convert_ids_to_tokens(rows[1])
    assert tok.convert_tokens_to_ids(tokens) == rows[1] == hf.convert_tokens_to_ids(tokens)
    assert tok.tokenize("hello world") == hf.tokenize("hello world")
    features = [{"input_ids": r, "labels": 1} for r in rows]
    for side in ("right", "left"):
        tok.padding_side = hf.padding_side = side
        ours = tok.pad(features, return_tensors="pt")
        theirs = hf.pad(features, return_tensors="pt")
        for key in ("input_ids", "attention_mask", "labels"):
            assert torch.equal(ours[key], theirs[key]), (side, key)
    tok.padding_side = "right"
    lengths = tok.pad(features, padding="max_length", max_length=24)["attention_mask"]
    assert [sum(m) for m in lengths] == [len(r) for r in rows] and all(len(m) == 24 for m in lengths)


def test_files_written_and_config_roundtrip(bpe, tmp_path):
    tok, _ = bpe
    tok.model_max_length = 128
    written = tok.save_pretrained(tmp_path)
    tok.model_max_length = int(1e30)
    assert sorted(p.rsplit("/", 1)[1] for p in written) == [
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|endoftext|>" and config["model_max_length"] == 128
    back = mt.AutoTokenizer.from_pretrained(tmp_path, padding_side="left")
    assert back.model_max_length == 128 and back.padding_side == "left" and back.pad_token_id == 0
    assert HFAutoTokenizer.from_pretrained(str(tmp_path)).model_max_length == 128


def test_add_special_tokens_and_offsets(bpe, tmp_path):
    tok, path = bpe
    tok = mt.AutoTokenizer.from_pretrained(path)
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    assert tok.add_special_tokens({"mask_token": "<mask>"}) == 1 == hf.add_special_tokens({"mask_token": "<mask>"})
    assert tok.mask_token_id == hf.mask_token_id == 500 and len(tok) == 501
    text = "fill <mask> here"
    assert tok(text)["input_ids"] == hf(text)["input_ids"]
    enc = tok(text, return_offsets_mapping=True)
    assert enc["offset_mapping"] == hf(text, return_offsets_mapping=True)["offset_mapping"]
    assert enc.word_ids() == hf(text).word_ids()
    tok.save_pretrained(tmp_path)
    assert HFAutoTokenizer.from_pretrained(str(tmp_path)).mask_token_id == 500


def test_overflow_with_stride_matches_transformers(bpe):
    tok, path = bpe
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    texts = [" ".join(TEXTS), "short"]
    kw = {"truncation": True, "max_length": 16, "stride": 4, "return_overflowing_tokens": True}
    ours, theirs = tok(texts, **kw), hf(texts, **kw)
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["overflow_to_sample_mapping"] == theirs["overflow_to_sample_mapping"]


def test_missing_tokenizer_json_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(mt.MissingFileError, match=f"{tmp_path}: no tokenizer.json"):
        mt.AutoTokenizer.from_pretrained(tmp_path)
    with pytest.raises(mt.MissingFileError, match="no such tokenizer directory"):
        mt.AutoTokenizer.from_pretrained(tmp_path / "nope" / "deeper")
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(mt.MassiveTextError, match="not a valid tokenizer"):
        mt.AutoTokenizer.from_pretrained(tmp_path)


def test_no_pad_token_is_a_clear_error(bpe):
    tok, path = bpe
    tok = FastTokenizer.from_file(path / "tokenizer.json", {"eos_token": "<|endoftext|>"})
    assert tok.pad_token is None
    with pytest.raises(mt.ConfigError, match="no pad token"):
        tok(BATCH, padding=True)
    tok.pad_token = tok.eos_token
    assert tok(BATCH, padding=True)["input_ids"][3] == [0] * len(tok(BATCH, padding=True)["input_ids"][0])


def test_lone_surrogates_are_replaced_in_training_and_encoding(bpe):
    tok = mt.train_tokenizer(["ok \ud800 text", "more text here"] * 5, vocab_size=270)
    assert tok.decode(tok.encode("abc")) == "abc"
    ids = tok.encode("a\udc80b")  # a lone low surrogate: replaced by U+FFFD, the rest kept
    assert tok.decode(ids) == "a\ufffdb"
    assert tok(["x\ud800", "fine"])["input_ids"][1] == tok.encode("fine")


def test_text_target_gives_labels_like_transformers(bpe):
    tok, path = bpe
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    src, tgt = ["hello world", "the fox"], ["bonjour le monde", "le renard brun"]
    ours = tok(src, text_target=tgt, padding=True, truncation=True, max_length=8)
    theirs = hf(src, text_target=tgt, padding=True, truncation=True, max_length=8)
    assert set(ours) == set(theirs) and ours["labels"] == theirs["labels"]
    assert ours["input_ids"] == theirs["input_ids"]
    assert tok(text_target=tgt)["input_ids"] == hf(text_target=tgt)["input_ids"]


def test_hub_name_offline_is_a_clear_error():
    with pytest.raises(mt.MissingFileError, match="Hugging Face hub"):
        mt.AutoTokenizer.from_pretrained("surely-not-a-local-tokenizer-dir")


def test_hub_names_resolve_through_the_models_hub_helper(bpe, monkeypatch):
    """One hub resolution for models and tokenizers: a name goes to snapshot_download with the tokenizer's files
    and the caller's hub options; a local path never does."""
    import huggingface_hub

    tok, path = bpe
    calls = []

    def fake_snapshot_download(repo_id, allow_patterns=None, **options):
        calls.append((repo_id, allow_patterns, options))
        return str(path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = mt.AutoTokenizer.from_pretrained("some-org/some-tokenizer", revision="v2", padding_side="left")
    assert loaded("hello world")["input_ids"] == tok("hello world")["input_ids"] and loaded.padding_side == "left"
    [(repo, patterns, options)] = calls
    assert repo == "some-org/some-tokenizer" and options == {"revision": "v2"}
    assert "*.json" in patterns and "*.jinja" in patterns and not any("safetensors" in p for p in patterns)
    mt.AutoTokenizer.from_pretrained(path)
    assert len(calls) == 1
