"""Text normalization and the word definition shared by exact dedup, MinHash and decontamination.

Words are runs of Unicode word characters (``\\w``), lowercased; punctuation separates words. Scripts written
without spaces (Han, Hiragana/Katakana, Thai, Lao, Khmer, Myanmar) have no word boundaries to find, so each of
their characters is a word of its own: a 13-gram of Chinese is then 13 characters, which is what near-dedup of
such text usually uses. Mixed text mixes both rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# scripts without spaces between words: one character = one word
_NOSPACE = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u30ff\u31f0-\u31ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0003ffff"  # CJK extensions
)
_WORD_RE = re.compile(f"[{_NOSPACE}]|[^\\W{_NOSPACE}]+")
_DIGITS_RE = re.compile(r"\d+")
_PUNCT_RE = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class Normalization:
    """What two texts may differ in and still count as the same text (exact dedup, short documents)."""

    whitespace: bool = True  # collapse runs of whitespace to one space, strip the ends
    case: bool = True  # lowercase
    punctuation: bool = False  # drop punctuation and symbols
    digits: bool = False  # every run of digits becomes "0"

    @classmethod
    def parse(cls, spec: str | Normalization | dict | None) -> Normalization:
        """``"whitespace,case"`` / ``"none"`` / ``"all"`` / a dict of the fields / an instance."""
        if spec is None:
            return cls()
        if isinstance(spec, Normalization):
            return spec
        if isinstance(spec, dict):
            return cls(**spec)
        parts = {p.strip() for p in spec.split(",") if p.strip()}
        if parts == {"all"}:
            parts = {"whitespace", "case", "punctuation", "digits"}
        parts.discard("none")
        unknown = parts - {"whitespace", "case", "punctuation", "digits"}
        if unknown:
            from massivetext.errors import ConfigError

            raise ConfigError(f"unknown normalization {sorted(unknown)}; use whitespace, case, punctuation, digits")
        return cls(**{k: k in parts for k in ("whitespace", "case", "punctuation", "digits")})


def normalize(text: str, norm: Normalization) -> str:
    if norm.case:
        text = text.lower()
    if norm.punctuation:
        text = _PUNCT_RE.sub("", text)
    if norm.digits:
        text = _DIGITS_RE.sub("0", text)
    if norm.whitespace:
        text = " ".join(text.split())
    return text


def words(text: str, digits: bool = False) -> list[str]:
    """The word sequence of a text (lowercased; see the module docstring for scripts without spaces)."""
    return [w.decode("utf-8", "surrogatepass") for w in word_bytes(text, digits)]


# ASCII fast path: one bytes.translate maps letters to lowercase and every non-word byte to a space
_ASCII_TABLE = bytes(
    (c + 32 if 65 <= c <= 90 else c) if (chr(c).isalnum() or c == 95) and c < 128 else 32 for c in range(256)
)
_DIGITS_BRE = re.compile(rb"\d+")
# UTF-8 bytes >= 0x80 belong to non-ASCII characters, kept whole when _SPECIAL_RE finds no separator among them
_UTF8_TABLE = _ASCII_TABLE[:128] + bytes(range(128, 256))
_SPECIAL_RE = re.compile(f"[^\\x00-\\x7f\\w]|[{_NOSPACE}]")
_NONASCII_DIGIT_RE = re.compile(r"(?![0-9])\d")


def word_bytes(text: str, digits: bool = False) -> list[bytes]:
    """``words(text)`` as UTF-8 bytes, the form that is hashed (10x faster than the regex on ASCII text)."""
    if text.isascii():
        b = text.encode("ascii").translate(_ASCII_TABLE)
        if digits:
            b = _DIGITS_BRE.sub(b"0", b)
        return b.split()
    text = text.lower()
    # only ASCII and non-ASCII word characters: the bytes split gives the regex's words, faster
    if not _SPECIAL_RE.search(text) and not (digits and _NONASCII_DIGIT_RE.search(text)):
        b = text.encode("utf-8", "surrogatepass").translate(_UTF8_TABLE)
        return (_DIGITS_BRE.sub(b"0", b) if digits else b).split()
    if digits:
        text = _DIGITS_RE.sub("0", text)
    ws = _WORD_RE.findall(text)
    return "\x00".join(ws).encode("utf-8", "surrogatepass").split(b"\x00") if ws else []
