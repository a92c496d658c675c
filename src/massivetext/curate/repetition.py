"""Gopher's repetition filter (Rae et al. 2021, Appendix A, Table A1), with exact character counting.

Words, lines and paragraphs are defined in ``massivetext.curate.text_units``. A *duplicate* line (paragraph,
n-gram occurrence) is one equal to an earlier one in the same document; the first occurrence is not a duplicate.
Fractions, each compared with its threshold (drop when above), in the order checked:

==================  =======================================================================  =======
reason              fraction                                                                 default
==================  =======================================================================  =======
dup_para_frac       duplicate paragraphs / paragraphs                                        0.30
dup_para_char_frac  characters in duplicate paragraphs / characters in paragraphs            0.20
dup_line_frac       duplicate lines / lines                                                  0.30
dup_line_char_frac  characters in duplicate lines / characters in lines                      0.20
top_{n}gram         characters in the words covered by the most frequent word n-gram
                    (n = 2, 3, 4), if it occurs at least twice / characters in words          0.20, 0.18, 0.16
dup_{n}gram         characters in the words covered by duplicate n-gram occurrences
                    (n = 5 .. 10) / characters in words                                       0.15 .. 0.10
==================  =======================================================================  =======

"Characters in words" counts the characters of the words themselves (no whitespace). Every character is counted
once, however many (overlapping) n-grams cover it, so the fractions never exceed 1. A tie for the most frequent
n-gram goes to the one spanning more characters. The empty document is dropped as ``empty``.

Speed: words get integer ids (first-occurrence index, one C-level pass through a dict), n-gram ids are built from
(n-1)-gram ids with ``numpy.unique`` (exact: no hashing), coverage is marked with ``bincount`` + ``cumsum``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress, islice
from operator import ne

import numpy as np

from massivetext.curate.step import Filter
from massivetext.curate.text_units import lines, paragraphs

TOP_NGRAMS = ((2, 0.20), (3, 0.18), (4, 0.16))
DUP_NGRAMS = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
# up to this many words the n-gram rules run in plain Python over the positions that can repeat, above it in numpy
# over the positions that can repeat (measured: Python is ~3x faster on prose of 100 words, numpy from ~1,000)
_SMALL_DOC_WORDS = 1000


def duplicates(items: list[str]) -> tuple[int, int, int]:
    """(duplicate items, characters in duplicate items, characters in all items)."""
    total = sum(map(len, items))
    uniq = set(items)
    return len(items) - len(uniq), total - sum(map(len, uniq)), total


def _covered_chars(starts: np.ndarray, n: int, lens: np.ndarray) -> int:
    """Characters of the words covered by n-grams starting at ``starts`` (each word counted once)."""
    m = len(lens)
    depth = np.cumsum(np.bincount(starts, minlength=m + 1)[: m + 1] - np.bincount(starts + n, minlength=m + 1)[: m + 1])
    return int(lens[depth[:m] > 0].sum())


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_index=True, return_inverse=True)[1:]`` without its general-purpose overhead (this
    runs up to nine times per document): the first position of each distinct key, and each position's group
    number in sorted key order."""
    order = np.argsort(key, kind="stable")  # stable: the first of equal keys is the first occurrence
    sk = key[order]
    new = np.empty(len(sk), bool)
    new[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=new[1:])
    inverse = np.empty(len(sk), np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse


def ngram_fractions(words: list[str], top: tuple[int, ...], dup: tuple[int, ...]) -> dict[str, float]:
    """All n-gram fractions of a word list (see the module docstring): ``{"top_2gram": ..., "dup_5gram": ...}``."""
    out: dict[str, float] = {f"top_{n}gram": 0.0 for n in top} | {f"dup_{n}gram": 0.0 for n in dup}
    for _ in _ngram_fractions(words, top, dup, out):
        pass
    return out


def _ngram_fractions(words, top, dup, out):
    """Yield (name, fraction) in order n = 2, 3, ... so a caller can stop at the first one too high."""
    m = len(words)
    if m < 2 or not (top or dup):
        return
    if m <= _SMALL_DOC_WORDS:
        yield from _ngram_fractions_small(words, top, dup, out)
        return
    yield from _ngram_fractions_numpy(words, top, dup, out)


def _ngram_fractions_numpy(words, top, dup, out):
    """``_ngram_fractions`` with numpy arrays: for long documents. Level n sorts only the positions whose
    (n-1)-gram repeats (an n-gram can only repeat there), so the later levels cost little on prose."""
    m = len(words)
    lens = np.fromiter(map(len, words), np.int64, m)
    total = int(lens.sum())
    first_seen: dict[str, int] = {}
    ids = np.fromiter(map(first_seen.setdefault, words, range(m)), np.int64, m)
    if len(first_seen) == m:
        return  # no word repeats, so no n-gram does
    want_top, want_dup = set(top), set(dup)
    top_done = not want_top
    dup_done = not want_dup
    cs = np.concatenate(([0], np.cumsum(lens)))
    pos = np.arange(m)  # positions whose (n-1)-gram repeats, ascending
    cur = ids  # their (n-1)-gram's rank in sorted order of word-id tuples (all < m)
    for n in range(2, max((*top, *dup)) + 1):
        if n > m or (top_done and dup_done):
            return
        ok = pos + (n - 1) < m  # the n-gram fits in the document
        pos, cur = pos[ok], cur[ok]
        first, cur = _groups(cur * m + ids[pos + (n - 1)])  # first: index in pos of each n-gram's first occurrence
        if len(first) == len(cur):
            return  # no n-gram repeats, so no longer one does: every later fraction is 0
        counts = np.bincount(cur)
        if n in want_top and not top_done:
            c = int(counts.max())
            cand = np.flatnonzero(counts == c)  # ranks, ascending: the tie order of a sort over all positions
            at = pos[first[cand]]
            best = cand[int(np.argmax(cs[at + n] - cs[at]))]
            frac = _covered_chars(pos[cur == best], n, lens) / total if total else 0.0
            out[f"top_{n}gram"] = frac
            yield f"top_{n}gram", frac
        if n in want_dup and not dup_done:
            is_dup = np.ones(len(cur), bool)
            is_dup[first] = False
            frac = _covered_chars(pos[is_dup], n, lens) / total if total else 0.0
            out[f"dup_{n}gram"] = frac
            yield f"dup_{n}gram", frac
        repeats = counts[cur] > 1
        pos, cur = pos[repeats], cur[repeats]


def _ngram_fractions_small(words, top, dup, out):
    """``_ngram_fractions`` in plain Python over the positions that can still repeat: for short documents, where
    numpy's per-call overhead (nine sorts) costs more than the work. An n-gram can only repeat where its
    (n-1)-gram does, so each level splits the previous level's groups of equal (n-1)-grams (positions ascending)
    by their n-th word and keeps the groups of two or more; on prose these shrink to a handful within a few levels.
    Same results as ``_ngram_fractions_numpy``, ties included: a tie for the most frequent n-gram goes to the one
    spanning most characters, then to the smallest tuple of word ids (ids are first-occurrence positions), which
    is the numpy version's sorted group order."""
    m = len(words)
    first_seen: dict[str, int] = {}
    ids = list(map(first_seen.setdefault, words, range(m)))
    if len(first_seen) == m:
        return  # no word repeats, so no n-gram does
    lens = list(map(len, words))
    total = sum(lens)
    # the 2-grams directly: each position's first occurrence of its 2-gram (one C-level pass), then the
    # positions that repeat an earlier one, grouped under that first occurrence
    first2: dict[tuple[int, int], int] = {}
    at = list(map(first2.setdefault, zip(ids, islice(ids, 1, None)), range(m - 1)))
    by_first: dict[int, list[int]] = {}
    for i in compress(range(m - 1), map(ne, at, range(m - 1))):
        f = at[i]
        g = by_first.get(f)
        if g is None:
            by_first[f] = [f, i]
        else:
            g.append(i)
    groups = list(by_first.values())  # positions of each repeated 2-gram, ascending
    want_top, want_dup = set(top), set(dup)
    top_done = not want_top
    dup_done = not want_dup
    for n in range(2, max((*top, *dup)) + 1):
        if n > m or (top_done and dup_done):
            return
        last = n - 1  # offset of the n-th word
        nxt: list[list[int]] = [] if n > 2 else groups
        for g in groups if n > 2 else ():
            if len(g) == 2:  # the common case: a pair of equal (n-1)-grams
                a, b = g
                if b + last < m and ids[a + last] == ids[b + last]:
                    nxt.append(g)
                continue
            split: dict[int, list[int]] = {}
            for i in g:
                if i + last < m:
                    split.setdefault(ids[i + last], []).append(i)
            nxt.extend(s for s in split.values() if len(s) > 1)
        groups = nxt
        if not groups:
            return  # no n-gram repeats, so no longer one does: every later fraction is 0
        if n in want_top and not top_done:
            c = max(map(len, groups))
            cand = [g for g in groups if len(g) == c]
            if len(cand) > 1:
                best = min(cand, key=lambda g: (-sum(lens[g[0] : g[0] + n]), ids[g[0] : g[0] + n]))
            else:
                best = cand[0]
            frac = _covered_chars_small(best, n, lens) / total if total else 0.0
            out[f"top_{n}gram"] = frac
            yield f"top_{n}gram", frac
        if n in want_dup and not dup_done:
            starts = [i for g in groups for i in g[1:]]  # every occurrence after the first
            frac = _covered_chars_small(starts, n, lens) / total if total else 0.0
            out[f"dup_{n}gram"] = frac
            yield f"dup_{n}gram", frac


def _covered_chars_small(starts: list[int], n: int, lens: list[int]) -> int:
    """``_covered_chars`` for a few starts: each covered word's characters once."""
    covered: set[int] = set()
    for s in starts:
        covered.update(range(s, s + n))
    return sum(lens[k] for k in covered)


@dataclass(kw_only=True)
class GopherRepetitionFilter(Filter):
    name: str = "gopher_repetition"
    dup_para_frac: float | None = 0.30
    dup_para_char_frac: float | None = 0.20
    dup_line_frac: float | None = 0.30
    dup_line_char_frac: float | None = 0.20
    top_ngrams: list[tuple[int, float]] | tuple = field(default=TOP_NGRAMS)
    dup_ngrams: list[tuple[int, float]] | tuple = field(default=DUP_NGRAMS)

    def __post_init__(self) -> None:
        self._limits = {f"top_{n}gram": float(t) for n, t in self.top_ngrams} | {
            f"dup_{n}gram": float(t) for n, t in self.dup_ngrams
        }
        self._top = tuple(int(n) for n, _ in self.top_ngrams)
        self._dup = tuple(int(n) for n, _ in self.dup_ngrams)

    def check(self, text: str) -> tuple[bool, str | None]:
        if not text.strip():
            return False, "empty"
        for units, (count_max, char_max), what in (
            (paragraphs(text), (self.dup_para_frac, self.dup_para_char_frac), "para"),
            (lines(text), (self.dup_line_frac, self.dup_line_char_frac), "line"),
        ):
            n_dup, dup_chars, total = duplicates(units)
            if count_max is not None and n_dup > count_max * len(units):
                return False, f"dup_{what}_frac"
            if char_max is not None and dup_chars > char_max * total:
                return False, f"dup_{what}_char_frac"
        limits = self._limits
        for name, frac in _ngram_fractions(text.split(), self._top, self._dup, {}):
            if frac > limits[name]:
                return False, name
        return True, None

    def config(self) -> dict:
        return {k: v for k, v in super().config().items() if not k.startswith("_")}
