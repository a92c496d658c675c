"""Preprocessing helpers against references: unicodedata, transformers' overflow windows and padding."""

import numpy as np
import pytest
from transformers import PreTrainedTokenizerFast

import massivetext as mt
from massivetext.tokenization.preprocess import (
    ENGLISH_STOP_WORDS,
    normalize,
    pad_sequences,
    remove_stop_words,
    sliding_windows,
    split_long_text,
    truncate,
)


def test_normalization_forms():
    text = "ﬁne café Ｆｕｌｌ ①"  # ligature, decomposed accent, full-width letters, circled digit
    assert normalize(text, "NFC") == "ﬁne café Ｆｕｌｌ ①"
    assert normalize(text, "NFKC") == "fine café Full 1"
    assert normalize([text], "NFD")[0].count("\u0301") == 1
    with pytest.raises(mt.ConfigError):
        normalize(text, "NFX")


def test_stop_words_default_and_custom():
    assert len(ENGLISH_STOP_WORDS) == 179
    assert remove_stop_words("The cat is on the mat, and it isn't happy.") == "cat mat , happy ."
    assert remove_stop_words(["The", "cat", "sat"]) == ["cat", "sat"]
    assert remove_stop_words("the cat sat", stop_words={"cat"}) == "the sat"
    assert remove_stop_words("The the", stop_words={"the"}, case_sensitive=True) == "The"


def test_sliding_windows_match_transformers_overflow(bpe):
    tok, path = bpe
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    text = " ".join(f"word{i} and more text" for i in range(40))
    ids = tok.encode(text)
    for max_length, stride in [(16, 0), (16, 4), (10, 9), (len(ids) + 5, 2)]:
        ref = hf(text, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True)
        got = sliding_windows(ids, max_length, stride)
        assert [w.tolist() for w in got] == ref["input_ids"], (max_length, stride)
        padded = sliding_windows(ids, max_length, stride, pad_id=-1)
        assert padded.shape == (len(got), max_length) and padded[-1][len(got[-1]) :].tolist() == [-1] * (
            max_length - len(got[-1])
        )
    with pytest.raises(mt.ConfigError):
        sliding_windows(ids, 8, 8)


def test_pad_sequences_matches_tokenizer_pad(bpe):
    tok, _ = bpe
    rows = [tok.encode(t) for t in ["hello", "the quick brown fox", "", "日本語 🙂"]]
    for side in ("right", "left"):
        tok.padding_side = side
        ref = tok.pad([{"input_ids": r} for r in rows], return_tensors="np")
        ids, mask = pad_sequences(rows, tok.pad_token_id, side=side)
        assert np.array_equal(ids, ref["input_ids"]) and np.array_equal(mask, ref["attention_mask"])
    tok.padding_side = "right"
    ids, mask = pad_sequences(rows, 0, max_length=3, truncation_side="left", pad_to_multiple_of=4)
    assert (
        ids.shape == (4, 4) and ids[1, :3].tolist() == rows[1][-3:] and mask.sum() == sum(min(len(r), 3) for r in rows)
    )
    assert truncate([1, 2, 3, 4], 2) == [1, 2] and truncate([1, 2, 3, 4], 2, side="left") == [3, 4]


def test_split_long_text_covers_the_text(bpe):
    tok, _ = bpe
    text = " ".join(f"sentence {i} is here." for i in range(30))
    pieces = split_long_text(text, tok, max_length=12, stride=3)
    assert len(pieces) > 3 and pieces[0] == text[: len(pieces[0])] and text.endswith(pieces[-1])
    assert all(len(tok.encode(p)) <= 12 for p in pieces)
    assert "".join(pieces).replace(" ", "").count("sentence") >= 30


def test_preprocessing_is_public():
    assert (mt.normalize, mt.remove_stop_words, mt.truncate, mt.pad_sequences, mt.sliding_windows,
            mt.split_long_text, mt.ENGLISH_STOP_WORDS) == (normalize, remove_stop_words, truncate, pad_sequences,
                                                          sliding_windows, split_long_text, ENGLISH_STOP_WORDS)  # fmt: skip
