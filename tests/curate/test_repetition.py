"""Gopher repetition rules: each on both sides of its threshold, exact character counting against a brute force."""

from __future__ import annotations

import random

import numpy as np
import pytest

from massivetext.curate.repetition import DUP_NGRAMS, TOP_NGRAMS, GopherRepetitionFilter, ngram_fractions

OFF = dict(
    dup_para_frac=None,
    dup_para_char_frac=None,
    dup_line_frac=None,
    dup_line_char_frac=None,
    top_ngrams=(),
    dup_ngrams=(),
)


def only(**kw) -> GopherRepetitionFilter:
    return GopherRepetitionFilter(**{**OFF, **kw})


def unique_words(n: int, start: int = 0) -> list[str]:
    """n distinct 5-letter words (no n-gram repeats)."""
    out = []
    for i in range(start, start + n):
        w, k = "", i
        for _ in range(5):
            w += chr(97 + k % 26)
            k //= 26
        out.append(w)
    return out


def unique_lines(n: int, words: int = 6, start: int = 0) -> list[str]:
    ws = unique_words(n * words, start)
    return [" ".join(ws[i * words : (i + 1) * words]) for i in range(n)]


def test_duplicate_lines_by_count_both_sides():
    f = only(dup_line_frac=0.3)
    ls = unique_lines(7)
    ok = "\n".join(ls + ls[:3])  # 3 duplicates of 10 lines: 0.3, not above
    assert f.check(ok) == (True, None)
    bad = "\n".join(ls[:6] + ls[:4])  # 4 of 10
    assert f.check(bad) == (False, "dup_line_frac")
    # blank and whitespace-only lines are not lines; lines are compared stripped
    assert f.check("\n \n".join(ls + ["  " + x for x in ls[:3]])) == (True, None)


def test_duplicate_lines_by_chars_both_sides():
    f = only(dup_line_char_frac=0.2)
    long_lines = unique_lines(4, words=10)  # 59 chars each
    short = "abc def"  # 7 chars
    # duplicate chars: the repeated long line = 59 of 4*59 + 59 = 295 -> exactly 0.2: not above
    assert f.check("\n".join(long_lines + long_lines[:1])) == (True, None)
    # add a duplicate short line: (59 + 7) / (295 + 14) > 0.2
    assert f.check("\n".join(long_lines + long_lines[:1] + [short, short])) == (False, "dup_line_char_frac")


def test_duplicate_paragraphs_both_sides():
    paras = ["\n".join(unique_lines(2, start=100 * i)) for i in range(7)]
    f = only(dup_para_frac=0.3)
    assert f.check("\n\n".join(paras + paras[:3])) == (True, None)
    assert f.check("\n\n".join(paras[:6] + paras[:4])) == (False, "dup_para_frac")
    # a whitespace-only line separates paragraphs too
    assert f.check("\n  \n".join(paras[:6] + paras[:4])) == (False, "dup_para_frac")
    g = only(dup_para_char_frac=0.2)
    assert g.check("\n\n".join(paras[:4] + paras[:1])) == (True, None)  # 1/5 of the characters
    assert g.check("\n\n".join(paras[:4] + paras[:1] + ["x y"] * 2)) == (False, "dup_para_char_frac")


def brute_force(words: list[str], n: int, top: bool) -> float:
    """The module's definitions, written the slow, obvious way."""
    total = sum(map(len, words))
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    covered = [False] * len(words)
    if top:
        counts: dict = {}
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
        if not counts or max(counts.values()) < 2:
            return 0.0
        c = max(counts.values())
        best = max((g for g in counts if counts[g] == c), key=lambda g: sum(map(len, g)))
        hits = [i for i, g in enumerate(grams) if g == best]
    else:
        seen: set = set()
        hits = []
        for i, g in enumerate(grams):
            if g in seen:
                hits.append(i)
            seen.add(g)
    for i in hits:
        for j in range(i, i + n):
            covered[j] = True
    return sum(len(w) for w, c in zip(words, covered) if c) / total if total else 0.0


def test_ngram_fractions_match_brute_force():
    rng = random.Random(1)
    for _ in range(300):
        vocab = ["a", "bb", "ccc", "dddd", "e", "ff"][: rng.randint(1, 6)]
        words = rng.choices(vocab, k=rng.randint(1, 40))
        got = ngram_fractions(words, (2, 3, 4), (5, 6, 7, 8, 9, 10))
        for n in (2, 3, 4):
            bf = brute_force(words, n, top=True)
            # ties between n-grams of equal span can pick different n-grams with different overlaps
            assert got[f"top_{n}gram"] == pytest.approx(bf) or _tie(words, n), (words, n)
        for n in range(5, 11):
            assert got[f"dup_{n}gram"] == pytest.approx(brute_force(words, n, top=False)), (words, n)
        assert all(0.0 <= v <= 1.0 for v in got.values())


def _tie(words, n):
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts: dict = {}
    for g in grams:
        counts[g] = counts.get(g, 0) + 1
    c = max(counts.values())
    spans = [sum(map(len, g)) for g in counts if counts[g] == c]
    return spans.count(max(spans)) > 1


def test_overlapping_ngrams_count_each_character_once():
    # "aa aa aa aa": the 2-gram "aa aa" occurs 3 times overlapping; it covers 4 words, 8 of 8 characters
    assert ngram_fractions(["aa"] * 4, (2,), ())["top_2gram"] == 1.0
    # one repeat of a 6-word phrase in 20 distinct words: the copy's characters only, once
    ws = unique_words(14)
    phrase = ws[:6]
    words = ws + phrase
    fr = ngram_fractions(words, (), (5, 6, 7))
    assert fr["dup_5gram"] == pytest.approx(30 / 100) and fr["dup_6gram"] == pytest.approx(30 / 100)
    assert fr["dup_7gram"] == 0.0


def test_top_ngram_both_sides():
    f = only(top_ngrams=((2, 0.20),))
    # "qq rr" twice among distinct 5-letter words: covered chars = 8 of 8 + 5k
    base = unique_words(26)  # 130 chars; 8 / 138 = 0.058
    assert f.check(" ".join(base + ["qq", "rr", "qq", "rr"])) == (True, None)
    # the 2-gram repeated 12 times (non-overlapping): 48 / (48 + 130) = 0.27
    assert f.check(" ".join(base + ["qq", "rr"] * 12)) == (False, "top_2gram")
    # a 2-gram that occurs once is not repeated, whatever the text's length
    assert f.check("hello world") == (True, None)


def test_dup_ngram_both_sides():
    f = only(dup_ngrams=((5, 0.15),))
    phrase = unique_words(5, 1000)  # 25 chars
    # 25 duplicate chars of 25 + 25 + 5k: k=30 -> 25/200 = 0.125 keep; k=20 -> 25/150 = 0.167 drop
    assert f.check(" ".join(phrase + unique_words(30) + phrase)) == (True, None)
    assert f.check(" ".join(phrase + unique_words(20) + phrase)) == (False, "dup_5gram")


def test_defaults_and_empty():
    f = GopherRepetitionFilter()
    assert f.check("") == (False, "empty") and f.check(" \n ") == (False, "empty")
    assert f.check(" ".join(unique_words(200))) == (True, None)
    assert f.check("\n".join(["the same line again"] * 10)) == (False, "dup_line_frac")  # one paragraph
    assert f.check("\n\n".join(["the same line again"] * 10)) == (False, "dup_para_frac")
    assert dict(TOP_NGRAMS) == {2: 0.2, 3: 0.18, 4: 0.16}
    assert dict(DUP_NGRAMS) == {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    assert np.isclose(sum(dict(DUP_NGRAMS).values()), 0.75)


def test_small_document_path_equals_numpy_path():
    """Short documents take a plain-Python path over the positions that can repeat, long ones numpy over all
    positions: the same fractions in the same order, ties (equal counts and spans, overlapping occurrences)
    included, for any choice of n-gram sizes."""
    from massivetext.curate.repetition import _ngram_fractions_numpy, _ngram_fractions_small

    rng = random.Random(7)
    for _ in range(800):
        vocab = ["a", "bb", "ccc", "dddd", "e", "ff", "gg", "h"][: rng.randint(1, 8)]
        words = rng.choices(vocab, k=rng.randint(2, 80))
        if rng.random() < 0.3:  # long repeated runs and periodic texts
            words = (words[: rng.randint(1, 6)] * 30)[: rng.randint(2, 120)]
        sizes = [((2, 3, 4), (5, 6, 7, 8, 9, 10))]
        sizes.append((tuple(sorted(rng.sample(range(2, 12), 2))), tuple(sorted(rng.sample(range(2, 12), 3)))))
        for top, dup in sizes:
            a: dict = {}
            b: dict = {}
            assert list(_ngram_fractions_small(words, top, dup, a)) == list(
                _ngram_fractions_numpy(words, top, dup, b)
            ), (words, top, dup)
            assert a == b
