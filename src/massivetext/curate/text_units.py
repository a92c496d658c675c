"""The units every curation rule counts in, defined once.

- **word**: a maximal run of non-whitespace characters (``str.split()``). Punctuation stays attached
  (``"world."`` is one word).
- **word length**: the number of characters of a word that are not punctuation (``PUNCTUATION``):
  ``"world."`` has length 5, ``"don't"`` 4.
- **symbol word**: a word made only of punctuation (``"-"``, ``"..."``, ``"#"``); its length is 0. Words are
  compared (stop words) without their punctuation, lowercased.
- **line**: the text between two ``"\\n"`` (a ``"\\r"`` before it is whitespace), stripped of surrounding
  whitespace; a blank line (empty or whitespace only) is not a line.
- **paragraph**: a maximal run of lines not interrupted by a blank line, stripped of surrounding whitespace.
"""

from __future__ import annotations

import re
import string

import numpy as np

# ASCII punctuation and symbols, the common Unicode punctuation, and control characters (never whitespace: deleting
# these from a text must not join two words)
PUNCTUATION = (
    string.punctuation
    + "‘’“”„‚«»‹›–—―‐‑…•·‣◦⁃′″§¶†‡°¿¡、。，．：；！？（）［］｛｝【】《》〈〉「」『』～・％＃＆＊＠￥€£¥©®™"
    + "".join(c for c in map(chr, [*range(0, 32), *range(127, 160)]) if not c.isspace())  # controls, not whitespace
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def words(text: str) -> list[str]:
    return text.split()


def lines(text: str) -> list[str]:
    return [s for s in (ln.strip() for ln in text.split("\n")) if s]


def paragraphs(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _PARAGRAPH_BREAK.split(text)) if s]


# character classes for ``count_words``: what ``str.split()`` splits on (every such code point is below U+3001) and
# what ``PUNCTUATION`` holds (all in the Basic Multilingual Plane); anything else, astral planes included, is "other"
_WHITESPACE, _PUNCT, _OTHER = 0, 1, 2
_CLASS = np.full(0x10000, _OTHER, dtype=np.uint8)
_CLASS[[ord(c) for c in PUNCTUATION]] = _PUNCT
_CLASS[[c for c in range(0x3001) if chr(c).isspace()]] = _WHITESPACE
_SCAN_CHARS = 1 << 18  # characters classified at a time: arrays of at most 2 MB whatever the text's size


def count_words(text: str, chunk: int = _SCAN_CHARS) -> tuple[int, int]:
    """``(words, non-symbol words)`` of ``text``, equal to ``len(text.split())`` and
    ``len(text.translate(<delete PUNCTUATION>).split())``, without building either list.

    A scan over the code points in chunks, so a 30 MB record costs a few MB, not the ~20x its size of a word list.
    Deleting punctuation never joins two words (whitespace is not punctuation), so a non-symbol word is a word with
    at least one character that is neither whitespace nor punctuation.
    """
    words = non_symbol = 0
    prev_space = True  # the text starts after a space
    last_word = -1  # the id of the word that last counted as non-symbol
    for at in range(0, len(text), chunk):
        part = text[at : at + chunk]
        if part.isascii():
            cls = _CLASS[np.frombuffer(part.encode("ascii"), dtype=np.uint8)]
        else:
            cp = np.frombuffer(part.encode("utf-32-le", "surrogatepass"), dtype="<u4")
            cls = np.where(cp < 0x10000, _CLASS[np.minimum(cp, 0xFFFF)], _OTHER)
        space = cls == _WHITESPACE
        starts = ~space
        starts[1:] &= space[:-1]
        starts[0] &= prev_space
        seen = np.cumsum(starts, dtype=np.int64)
        word_id = seen + (words - 1)  # the word each character belongs to (-1 or the last one before: whitespace)
        words += int(seen[-1])
        ids = word_id[cls == _OTHER]
        if len(ids):
            non_symbol += int(ids[0] != last_word) + int(np.count_nonzero(ids[1:] != ids[:-1]))
            last_word = int(ids[-1])
        prev_space = bool(space[-1])
    return words, non_symbol
