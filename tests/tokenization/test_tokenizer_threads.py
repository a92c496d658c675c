"""One FastTokenizer called from many threads with different settings gives each call its own result, and every
setting still matches transformers' PreTrainedTokenizerFast over the same tokenizer.json."""

import threading

import pytest
from transformers import PreTrainedTokenizerFast

import massivetext as mt
from tokenization_helpers import TEXTS

BATCH = [*TEXTS[:5], "short", ""]
SETTINGS = [
    {},
    {"padding": True},
    {"padding": True, "truncation": True, "max_length": 7},
    {"padding": "max_length", "max_length": 45},
    {"padding": "max_length", "truncation": True, "max_length": 12, "padding_side": "left"},
    {"truncation": True, "max_length": 5},
    {"padding": True, "pad_to_multiple_of": 8, "return_offsets_mapping": True},
    {"truncation": True, "max_length": 10, "stride": 3, "return_overflowing_tokens": True, "padding": True},
]
KEYS = ("input_ids", "attention_mask", "offset_mapping", "overflow_to_sample_mapping")


def _call(tok, kwargs) -> dict:
    enc = tok(BATCH, **kwargs)
    out = {k: enc[k] for k in KEYS if k in enc}
    out["word_ids"] = [enc.word_ids(i) for i in range(len(enc["input_ids"]))]  # the encodings are padded too
    return out


def test_eight_threads_with_different_settings_get_the_sequential_results(bpe):
    tok, _ = bpe
    expected = [_call(tok, kwargs) for kwargs in SETTINGS]
    assert len({str(e["input_ids"]) for e in expected}) == len(SETTINGS)  # the settings really differ
    start = threading.Barrier(len(SETTINGS))
    wrong: list[tuple[int, int]] = []

    def work(i: int) -> None:
        start.wait()
        for round_ in range(100):
            if _call(tok, SETTINGS[i]) != expected[i]:
                wrong.append((i, round_))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(SETTINGS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


# without max_length and with no model_max_length there is nothing to pad or truncate to
NO_LIMIT = [{"padding": "max_length"}, {"padding": "max_length", "truncation": True}, {"truncation": True}]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kwargs", SETTINGS + NO_LIMIT, ids=[str(i) for i in range(len(SETTINGS) + len(NO_LIMIT))])
def test_settings_match_transformers(bpe, side, kwargs):
    tok, path = bpe
    tok = mt.AutoTokenizer.from_pretrained(path, padding_side=side, truncation_side=side)
    hf = PreTrainedTokenizerFast.from_pretrained(str(path), padding_side=side, truncation_side=side)
    assert _call(tok, kwargs) == _call(hf, kwargs)


def test_pairs_with_stride_and_left_padding_match_transformers(wordpiece):
    tok, path = wordpiece
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    firsts = ["hello world number one", "the quick brown fox jumps over the lazy dog and more words here"]
    seconds = ["second segment", "another one that is quite long too, with words and words"]
    for kwargs in [
        {"truncation": "only_second", "max_length": 48, "stride": 4, "return_overflowing_tokens": True,
         "padding": True, "padding_side": "left"},
        {"truncation": "longest_first", "max_length": 16, "padding": "max_length", "pad_to_multiple_of": 8},
        {"truncation": "only_first", "max_length": 56, "padding": True, "return_special_tokens_mask": True},
    ]:  # fmt: skip
        ours, theirs = tok(firsts, seconds, **kwargs), hf(firsts, seconds, **kwargs)
        assert set(ours) == set(theirs)
        for key in theirs:
            assert ours[key] == theirs[key], (kwargs, key)
        assert [ours.word_ids(i) for i in range(len(ours["input_ids"]))] == [
            theirs.word_ids(i) for i in range(len(theirs["input_ids"]))
        ]


def test_changing_the_backend_is_seen_by_later_truncating_calls(bpe):
    tok, path = bpe
    tok = mt.AutoTokenizer.from_pretrained(path)
    before = tok("hello world <tag>", truncation=True, max_length=20)["input_ids"]
    tok.backend_tokenizer.add_special_tokens(["<tag>"])  # straight on the backend, as transformers users do
    after = tok("hello world <tag>", truncation=True, max_length=20)["input_ids"]
    assert after != before and after[-1] == tok.convert_tokens_to_ids("<tag>")
    assert tok.add_tokens(["zzqq"]) == 1
    assert tok("zzqq", truncation=True, max_length=20)["input_ids"] == [tok.convert_tokens_to_ids("zzqq")]


def test_max_length_not_a_multiple_is_refused_like_transformers(bpe):
    tok, path = bpe
    hf = PreTrainedTokenizerFast.from_pretrained(str(path))
    kwargs = {"truncation": True, "padding": True, "max_length": 11, "pad_to_multiple_of": 4}
    with pytest.raises(ValueError, match="multiple"):
        hf(BATCH, **kwargs)
    with pytest.raises(mt.ConfigError, match="multiple"):
        tok(BATCH, **kwargs)


def test_stride_not_below_max_length_is_a_clear_error(bpe):
    tok, _ = bpe
    with pytest.raises(mt.ConfigError, match="stride"):
        tok(BATCH, truncation=True, max_length=4, stride=4, return_overflowing_tokens=True)


def test_pickles_and_copies_after_configured_calls(bpe):
    """DataLoader workers and datasets.map pickle the tokenizer: the per-setting copies must not get in the way."""
    import copy
    import pickle

    tok, _ = bpe
    expected = [_call(tok, kwargs) for kwargs in SETTINGS]
    for other in (pickle.loads(pickle.dumps(tok)), copy.deepcopy(tok)):
        assert [_call(other, kwargs) for kwargs in SETTINGS] == expected
