"""Gopher's quality filter (Rae et al. 2021, Appendix A, "Quality filtering"), fast and exact to its definitions.

Words, word lengths, symbol words and lines are defined in ``massivetext.curate.text_units``. Rules, in the order
they are checked (the first that fails names the drop reason):

==================  ===========================================================================  =========
reason              rule (drop when ...)                                                         default
==================  ===========================================================================  =========
too_few_words       fewer than ``min_words`` non-symbol words                                    50
too_many_words      more than ``max_words`` non-symbol words                                     100,000
short_words         mean word length of non-symbol words below ``min_mean_word_length``          3
long_words          mean word length above ``max_mean_word_length``                              10
hash_ratio          occurrences of "#" per non-symbol word above ``max_symbol_word_ratio``       0.1
ellipsis_ratio      occurrences of "..." or "…" per non-symbol word above ``max_symbol_word_ratio`` 0.1
bullet_lines        fraction of lines starting with a bullet above ``max_bullet_lines_ratio``   0.9
ellipsis_lines      fraction of lines ending with "..." or "…" above ``max_ellipsis_lines_ratio``  0.3
alpha_words         fraction of words (symbol words included) with an alphabetic character
                    below ``min_alpha_words_ratio``                                             0.8
stop_words          fewer than ``min_stop_words`` distinct stop words among the words, lowercased
                    and without punctuation (``"The,"`` counts as ``the``)                      2
==================  ===========================================================================  =========

A threshold set to ``None`` disables its rule. DataTrove (``datatrove.pipeline.filters.GopherQualityFilter``)
applies the same rules to spaCy tokens, where every punctuation mark is a word; see the benchmark for the
consequences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from massivetext.curate.step import Filter
from massivetext.curate.text_units import PUNCTUATION, count_words, lines

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = ("•", "‣", "◦", "⁃", "▪", "●", "-", "*")
ELLIPSES = ("...", "…")
# from a word's first alphabetic character to its end: one match per word that has an alphabetic character
_ALPHA_WORD = re.compile(r"[^\W\d_]\S*")
# deletes PUNCTUATION (a regex: ~4x faster than str.translate on a text that is not all ASCII)
_PUNCTUATION_RUN = re.compile("[" + re.escape(PUNCTUATION) + "]+")

# The same units on ASCII bytes. Whitespace is what str.split() splits on (bytes.split() does not split at
# \x1c-\x1f: they become spaces first); "runs" tables turn a text into runs of "a" between spaces, so the number of
# words is the number of " a" in " " + translated text.
_ASCII_WHITESPACE = bytes(c for c in range(128) if chr(c).isspace())
_ASCII_LETTERS = bytes(c for c in range(128) if chr(c).isalpha())  # what [^\W\d_] matches in ASCII


def _ascii_table(whitespace: int, letters: int | None, other: int | None) -> bytes:
    """A bytes.translate table: whitespace -> ``whitespace``, letters -> ``letters`` (None: lowercase), every other
    byte -> ``other`` (None: itself)."""
    out = bytearray(range(256))
    for c in range(256):
        if c in _ASCII_WHITESPACE:
            out[c] = whitespace
        elif c in _ASCII_LETTERS:
            out[c] = ord(chr(c).lower()) if letters is None else letters
        elif other is not None:
            out[c] = other
    return bytes(out)


_ASCII_WORD_RUNS = _ascii_table(ord(" "), ord("a"), ord("a"))
_ASCII_ALPHA_RUNS = _ascii_table(ord(" "), ord("a"), None)
_ASCII_NEITHER = bytes(c for c in range(256) if c not in _ASCII_WHITESPACE and c not in _ASCII_LETTERS)
_ASCII_BARE_LOWER = _ascii_table(ord(" "), None, None)
_ASCII_PUNCTUATION = bytes(ord(c) for c in PUNCTUATION if ord(c) < 128)


@dataclass(kw_only=True)
class GopherQualityFilter(Filter):
    name: str = "gopher_quality"
    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3
    max_mean_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] | list[str] = STOP_WORDS
    bullets: tuple[str, ...] | list[str] = BULLETS

    def __post_init__(self) -> None:
        self._stop = frozenset(w.lower() for w in self.stop_words)
        # for ASCII texts: a non-ASCII stop word can never match there, and bytes.lower() is str.lower() on ASCII
        self._stop_bytes = frozenset(w.encode("utf-8", "surrogatepass") for w in self._stop if w.isascii())
        self._bullets = tuple(self.bullets)

    def check(self, text: str) -> tuple[bool, str | None]:
        # A text of L characters has at most (L + 1) // 2 words. Longer than that for max_words, the word counts
        # come first from a scan that builds no word list (a 30 MB record would need ~0.6 GB for two of them), so
        # a huge record is dropped as too_many_words before anything splits or copies it.
        if self.max_words is not None and (len(text) + 1) // 2 > self.max_words:
            n_words, n = count_words(text)
            if self.min_words is not None and (n_words < self.min_words or n < self.min_words):
                return False, "too_few_words"
            if n > self.max_words:
                return False, "too_many_words"
        if text.isascii():
            return self._check_ascii(text)
        words = text.split()
        if self.min_words is not None and len(words) < self.min_words:  # fewer words, fewer non-symbol words
            return False, "too_few_words"
        bare = _PUNCTUATION_RUN.sub("", text).split()  # words without punctuation; symbol words vanish
        n = len(bare)
        if self.min_words is not None and n < self.min_words:
            return False, "too_few_words"
        if self.max_words is not None and n > self.max_words:
            return False, "too_many_words"
        reason = self._length_symbol_line_rules(text, n, len("".join(bare)))
        if reason is not None:
            return False, reason
        if self.min_alpha_words_ratio is not None and words:
            n_alpha = len(_ALPHA_WORD.findall(text))
            if n_alpha < self.min_alpha_words_ratio * len(words):
                return False, "alpha_words"
        if self.min_stop_words is not None:
            found = self._stop.intersection(map(str.lower, bare))
            if len(found) < self.min_stop_words:
                return False, "stop_words"
        return True, None

    def _check_ascii(self, text: str) -> tuple[bool, str | None]:
        """``check`` of an ASCII text, the same rules in the same order on its bytes: each unit count is a C-level
        translate and count instead of a word list or a regex (~3x faster on prose)."""
        b = text.encode("ascii")
        n_words = (b" " + b.translate(_ASCII_WORD_RUNS)).count(b" a")  # == len(text.split())
        if self.min_words is not None and n_words < self.min_words:
            return False, "too_few_words"
        bare_lower = b.translate(_ASCII_BARE_LOWER, _ASCII_PUNCTUATION).split()  # lowercased, no punctuation
        n = len(bare_lower)
        if self.min_words is not None and n < self.min_words:
            return False, "too_few_words"
        if self.max_words is not None and n > self.max_words:
            return False, "too_many_words"
        reason = self._length_symbol_line_rules(text, n, len(b"".join(bare_lower)))
        if reason is not None:
            return False, reason
        if self.min_alpha_words_ratio is not None and n_words:
            # words with a letter: letters kept (as "a"), whitespace kept, everything else deleted, runs counted
            n_alpha = (b" " + b.translate(_ASCII_ALPHA_RUNS, _ASCII_NEITHER)).count(b" a")
            if n_alpha < self.min_alpha_words_ratio * n_words:
                return False, "alpha_words"
        if self.min_stop_words is not None:
            found = self._stop_bytes.intersection(bare_lower)
            if len(found) < self.min_stop_words:
                return False, "stop_words"
        return True, None

    def _length_symbol_line_rules(self, text: str, n: int, n_chars: int) -> str | None:
        """The rules both paths share once the ``n`` punctuation-free words (``n_chars`` characters) are counted:
        mean word length, symbol-to-word ratios and bullet/ellipsis line ratios, in ``check``'s order."""
        mean = n_chars / n if n else 0.0
        if self.min_mean_word_length is not None and mean < self.min_mean_word_length:
            return "short_words"
        if self.max_mean_word_length is not None and mean > self.max_mean_word_length:
            return "long_words"
        r = self.max_symbol_word_ratio
        if r is not None:
            if text.count("#") > r * n:
                return "hash_ratio"
            if text.count("...") + text.count("…") > r * n:
                return "ellipsis_ratio"
        if self.max_bullet_lines_ratio is not None or self.max_ellipsis_lines_ratio is not None:
            ls = lines(text)
            n_lines = len(ls) or 1
            if self.max_bullet_lines_ratio is not None:
                if sum(1 for s in ls if s.startswith(self._bullets)) > self.max_bullet_lines_ratio * n_lines:
                    return "bullet_lines"
            if self.max_ellipsis_lines_ratio is not None:
                if sum(1 for s in ls if s.endswith(ELLIPSES)) > self.max_ellipsis_lines_ratio * n_lines:
                    return "ellipsis_lines"
        return None

    def config(self) -> dict:
        return {k: v for k, v in super().config().items() if not k.startswith("_")}
