"""Gopher quality rules: each on both sides of its threshold, and parity with DataTrove where units coincide."""

from __future__ import annotations

import random

from massivetext.curate.quality import GopherQualityFilter
from peers import require

# content words of 4-6 letters, no stop words, no punctuation
VOCAB = "apple river stone cloud green table music forest bright window garden silver planet ocean yellow".split()


def prose(n: int, extra: str = "") -> str:
    """n words: content words with the stop words 'the' and 'of' among them (mean length ~4.4)."""
    words = [("the" if i % 7 == 0 else "of" if i % 7 == 3 else VOCAB[i % len(VOCAB)]) for i in range(n)]
    return " ".join(words) + extra


def lines_of(n_lines: int, words_per_line: int = 8) -> list[str]:
    return [prose(words_per_line) for _ in range(n_lines)]


Q = GopherQualityFilter()


def test_plain_prose_is_kept():
    assert Q.check(prose(120)) == (True, None)


def test_word_count_both_sides():
    assert Q.check(prose(49)) == (False, "too_few_words")
    assert Q.check(prose(50)) == (True, None)
    # symbol words ("-", "...", "—") are not words
    assert Q.check(prose(49) + " - — ...") == (False, "too_few_words")
    # any whitespace separates words, punctuation never joins them
    assert Q.check(prose(50).replace(" ", "\n", 10).replace(" ", "\t", 10).replace(" ", "\r\n", 10)) == (True, None)
    f = GopherQualityFilter(max_words=60)
    assert f.check(prose(60)) == (True, None)
    assert f.check(prose(61)) == (False, "too_many_words")


def test_mean_word_length_both_sides():
    # 50 words: stop words 'the' and 'of' plus 'ab' (2) and 'abcd' (4) to steer the mean
    def text(n_short: int, short: str, long: str) -> str:
        words = ["the", "of"] + [short] * n_short + [long] * (48 - n_short)
        return " ".join(words)

    # lengths: the=3, of=2 -> 5; mean = (5 + 2*s + 4*(48-s)) / 50 = (197 - 2s) / 50
    assert Q.check(text(23, "ab", "abcd")) == (True, None)  # 3.02
    assert Q.check(text(24, "ab", "abcd")) == (False, "short_words")  # 2.98


def test_mean_word_length_threshold_exact():
    f = GopherQualityFilter(min_stop_words=None)
    assert f.check(" ".join(["abc"] * 50)) == (True, None)  # exactly 3.0: not below
    assert f.check(" ".join(["abc"] * 49 + ["ab"])) == (False, "short_words")
    assert f.check(" ".join(["abcdefghij"] * 50)) == (True, None)  # exactly 10.0
    assert f.check(" ".join(["abcdefghij"] * 49 + ["abcdefghijk"])) == (False, "long_words")
    # punctuation around a word does not count in its length: "abc," and "(abc)" have length 3
    assert f.check(" ".join(["abc,"] * 25 + ["(abc)"] * 25)) == (True, None)


def test_hash_and_ellipsis_ratio_both_sides():
    base = prose(60).split()
    for sym, reason in (("#", "hash_ratio"), ("...", "ellipsis_ratio"), ("…", "ellipsis_ratio")):
        ok = list(base)
        for i in range(6):  # 6 / 60 = 0.1: not above
            ok[i * 9 + 1] = ok[i * 9 + 1] + sym
        assert Q.check(" ".join(ok)) == (True, None), sym
        bad = list(ok)
        bad[58] = bad[58] + sym  # 7 / 60
        assert Q.check(" ".join(bad)) == (False, reason), sym


def test_bullet_lines_both_sides():
    ls = lines_of(10)
    ok = "\n".join(["• " + ln for ln in ls[:9]] + ls[9:])  # 9 of 10 = 0.9: not above
    assert Q.check(ok) == (True, None)
    bad = "\n".join("- " + ln for ln in ls)
    assert Q.check(bad) == (False, "bullet_lines")
    # blank lines are not lines
    assert Q.check("\n\n".join("* " + ln for ln in ls)) == (False, "bullet_lines")


def test_ellipsis_lines_both_sides():
    ls = lines_of(10)
    ok = "\n".join([ln + " ..." for ln in ls[:3]] + ls[3:])  # 3 of 10: not above 0.3
    assert Q.check(ok) == (True, None)
    bad = "\n".join([ln + "…" for ln in ls[:4]] + ls[4:])
    assert Q.check(bad) == (False, "ellipsis_lines")


def test_alpha_words_both_sides():
    words = prose(80).split()
    ok = " ".join(words + ["1999"] * 20)  # 80 of 100 words have a letter: not below 0.8
    assert Q.check(ok) == (True, None)
    bad = " ".join(words + ["1999"] * 20 + ["--"])  # a symbol word counts here: 80 / 101
    assert Q.check(bad) == (False, "alpha_words")
    # punctuation attached to a word does not take its letters away
    assert Q.check(" ".join(w + "," for w in words)) == (True, None)


def test_stop_words_both_sides():
    words = [VOCAB[i % len(VOCAB)] for i in range(60)]
    assert Q.check(" ".join(words)) == (False, "stop_words")
    assert Q.check(" ".join(["the"] + words)) == (False, "stop_words")  # one distinct stop word
    assert Q.check(" ".join(["the", "the"] + words)) == (False, "stop_words")
    assert Q.check(" ".join(["The", "with,"] + words)) == (True, None)  # case and punctuation ignored
    assert GopherQualityFilter(min_stop_words=1).check(" ".join(["the"] + words)) == (True, None)


def test_disabled_rules_and_sources():
    assert GopherQualityFilter(min_words=None).check(prose(10)) == (True, None)
    f = GopherQualityFilter(sources=["prose/*"])
    assert f.applies_to("prose/docstring") and not f.applies_to("code/stdlib") and f.applies_to(None)


_DT_REASON = {
    "gopher_short_doc": "too_few_words",
    "gopher_long_doc": "too_many_words",
    "gopher_below_avg_threshold": "short_words",
    "gopher_above_avg_threshold": "long_words",
    "gopher_too_many_hashes": "hash_ratio",
    "gopher_too_many_ellipsis": "ellipsis_ratio",
    "gopher_below_alpha_threshold": "alpha_words",
    "gopher_enough_stop_words": "stop_words",
}


def test_same_decisions_as_datatrove_where_words_coincide():
    """On texts of lowercase words and digits separated by single spaces (spaCy's tokens are then the whitespace
    words), MassiveText and DataTrove must agree on every decision and reason."""
    dt = require("datatrove.pipeline.filters")
    from datatrove.data import Document as DTDoc

    dtq = dt.GopherQualityFilter()
    rng = random.Random(0)
    pool = VOCAB + ["the", "of", "and", "to", "a", "in", "x", "y", "ab", "abcdefghijkl", "extraordinarily", "1234"]
    seen = set()
    for _ in range(120):
        n = rng.choice([20, 48, 49, 50, 51, 80, 200])
        weights = [rng.random() ** 3 for _ in pool]
        text = " ".join(rng.choices(pool, weights, k=n))
        r = dtq.filter(DTDoc(text=text, id="x"))
        expected = (True, None) if r is True else (False, _DT_REASON[r[1]])
        assert Q.check(text) == expected, text
        seen.add(expected[1])
    assert {None, "too_few_words", "stop_words"} <= seen  # the sample really exercised several rules


class _NotAscii(str):
    """A str that claims not to be ASCII: sends an ASCII text down the general (non-ASCII) path."""

    def isascii(self) -> bool:
        return False


def test_ascii_path_equals_general_path():
    """ASCII texts are checked on their bytes (translate and count instead of word lists and a regex): the same
    decision and reason as the general path, for every ASCII character (controls, \\x1c-\\x1f which str.split()
    treats as whitespace, punctuation, bullets, ellipses) and for configurations that reach every rule."""
    import random

    rng = random.Random(3)
    pieces = [chr(c) for c in range(128)] + [
        "...",
        "the ",
        "and ",
        "The, ",
        "OF ",
        "#",
        "- ",
        "* ",
        "\n",
        "  ",
        "word ",
    ]
    filters = [
        GopherQualityFilter(),
        GopherQualityFilter(
            min_words=3,
            max_words=40,
            min_mean_word_length=1,
            max_mean_word_length=30,
            max_symbol_word_ratio=0.5,
            min_alpha_words_ratio=0.3,
            min_stop_words=1,
        ),  # fmt: skip
        GopherQualityFilter(
            min_words=None,
            max_words=None,
            min_mean_word_length=None,
            max_mean_word_length=None,
            max_symbol_word_ratio=None,
            max_bullet_lines_ratio=None,
            max_ellipsis_lines_ratio=None,
            min_alpha_words_ratio=0.9,
            stop_words=["THE", "ünï", "and"],
            min_stop_words=2,
        ),  # fmt: skip
    ]
    reasons = set()
    for _ in range(4000):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 120)))
        for f in filters:
            got = f.check(text)
            assert got == f.check(_NotAscii(text)), (text, got)
            reasons.add(got[1])
    assert {None, "too_few_words", "stop_words", "alpha_words", "hash_ratio", "bullet_lines"} <= reasons


def test_punctuation_regex_deletes_what_translate_deletes():
    """The general path deletes punctuation with a regex (faster than str.translate off ASCII): the same text."""
    import random

    from massivetext.curate.quality import _PUNCTUATION_RUN
    from massivetext.curate.text_units import PUNCTUATION

    table = str.maketrans("", "", PUNCTUATION)
    rng = random.Random(5)
    pieces = [*PUNCTUATION, "é", "ß", "\xa0", "\u2003", "日本", "…", "•", "\U0001f600", "]", "\\", "^", "-", " ", "w"]
    for _ in range(3000):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 60)))
        assert _PUNCTUATION_RUN.sub("", text) == text.translate(table), text
