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
