"""Word n-gram shingles as 64-bit hashes, vectorized: each word is hashed once with xxhash, and the hashes of
its n-grams are combined from the word hashes with n numpy passes over the document (no per-shingle Python)."""

from __future__ import annotations

import numpy as np
import xxhash

from massivetext.curate.dedup.text import word_bytes

_K = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomial combination
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_EMPTY = np.zeros(0, dtype=np.uint64)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place: spreads every input bit over every output bit."""
    h ^= h >> np.uint64(33)
    h *= _M1
    h ^= h >> np.uint64(33)
    h *= _M2
    h ^= h >> np.uint64(33)
    return h


def hash_words(ws: list[bytes]) -> np.ndarray:
    """xxh3-64 of each word's UTF-8 bytes (bytes, so xxhash 3.x and 4.x agree)."""
    if not ws:
        return _EMPTY
    return np.fromiter(map(xxhash.xxh3_64_intdigest, ws), dtype=np.uint64, count=len(ws))


def combine_ngrams(wh: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the ``len(wh) - n + 1`` word n-grams (order-sensitive), from the word hashes."""
    m = len(wh) - n + 1
    if m <= 0:
        return _EMPTY
    h = wh[:m].copy()
    for j in range(1, n):
        h *= _K
        h += wh[j : j + m]
    return fmix64(h)


def shingle_hashes(text: str, n: int = 13, digits: bool = False) -> np.ndarray:
    """Hashes of the word n-grams of ``text`` (repeats included; empty when the text has fewer than n words)."""
    return combine_ngrams(hash_words(word_bytes(text, digits)), n)


def shingle_set(text: str, n: int = 13, digits: bool = False) -> np.ndarray:
    """The sorted distinct shingle hashes: a document's shingle set, for exact Jaccard."""
    return np.unique(shingle_hashes(text, n, digits))


def jaccard_sets(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted distinct hash arrays (two empty sets count as identical)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def jaccard(text_a: str, text_b: str, n: int = 13, digits: bool = False) -> float:
    """True n-gram Jaccard similarity of two texts, with the shingling that the deduplicators use."""
    return jaccard_sets(shingle_set(text_a, n, digits), shingle_set(text_b, n, digits))
