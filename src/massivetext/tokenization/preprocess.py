"""Text and sequence preprocessing the way the field does it.

- ``normalize``: Unicode normalization (NFC keeps the text as written; NFKC also folds compatibility forms such as
  full-width letters and ligatures, as SentencePiece/T5 do).
- ``remove_stop_words``: for classic bag-of-words pipelines; a default English list (NLTK's), or your own.
  Subword language models do not want this: their tokenizers handle any vocabulary size with subwords.
- ``truncate``, ``pad_sequences``, ``sliding_windows``: fixed-length batches out of variable-length id sequences,
  vectorized with numpy; ``sliding_windows`` follows transformers' ``stride`` (the overlap between windows).
- ``split_long_text``: a long text cut into pieces of at most ``max_length`` tokens (with overlap) *as text*, on
  token boundaries, for tasks that must see all of a long document (summarization, QA).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from massivetext.errors import ConfigError

# NLTK's English stop-word list (179 words)
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    """i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he him his
    himself she she's her hers herself it it's its itself they them their theirs themselves what which who whom this
    that that'll these those am is are was were be been being have has had having do does did doing a an the and but
    if or because as until while of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just don don't should
    should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't
    haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't
    weren weren't won won't wouldn wouldn't""".split()
)
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]+")


def normalize(text: str | Iterable[str], form: str = "NFC") -> str | list[str]:
    """Unicode-normalize a text (or each of a list of texts): ``form`` is NFC, NFKC, NFD or NFKD."""
    if form not in ("NFC", "NFKC", "NFD", "NFKD"):
        raise ConfigError(f"form must be NFC, NFKC, NFD or NFKD, not {form!r}")
    if isinstance(text, str):
        return unicodedata.normalize(form, text)
    return [unicodedata.normalize(form, t) for t in text]


def remove_stop_words(
    text: str | Sequence[str], stop_words: Iterable[str] | None = None, case_sensitive: bool = False
) -> str | list[str]:
    """Drop stop words. A string is split into words and punctuation and re-joined with single spaces; a list of
    tokens is filtered as is. ``stop_words`` defaults to ``ENGLISH_STOP_WORDS``; matching ignores case unless
    ``case_sensitive``."""
    words = ENGLISH_STOP_WORDS if stop_words is None else frozenset(stop_words)
    if not case_sensitive:
        words = frozenset(w.lower() for w in words)
    tokens = _WORD.findall(text) if isinstance(text, str) else list(text)
    kept = [t for t in tokens if (t if case_sensitive else t.lower()) not in words]
    return " ".join(kept) if isinstance(text, str) else kept


def truncate(ids: Sequence[int], max_length: int, side: str = "right") -> list[int]:
    """At most ``max_length`` ids, dropping from the right (the end) or the left (the start)."""
    ids = list(ids)
    if len(ids) <= max_length:
        return ids
    return ids[:max_length] if side == "right" else ids[len(ids) - max_length :]


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    max_length: int | None = None,
    side: str = "right",
    truncation_side: str = "right",
    pad_to_multiple_of: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, attention_mask) as int64 arrays of shape (n, length): padded to the longest (or ``max_length``,
    truncating longer ones), on the ``side`` given."""
    if side not in ("left", "right") or truncation_side not in ("left", "right"):
        raise ConfigError("side and truncation_side must be 'left' or 'right'")
    seqs = [
        np.asarray(truncate(s, max_length, truncation_side) if max_length else s, dtype=np.int64) for s in sequences
    ]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    length = max_length if max_length is not None else int(lengths.max(initial=0))
    if pad_to_multiple_of and length % pad_to_multiple_of:
        length += pad_to_multiple_of - length % pad_to_multiple_of
    cols = np.arange(length)
    # where each row's real tokens go: a boolean mask, filled in one vectorized assignment
    mask = cols[None, :] < lengths[:, None] if side == "right" else cols[None, :] >= (length - lengths)[:, None]
    ids = np.full((len(seqs), length), pad_id, dtype=np.int64)
    if seqs:
        ids[mask] = np.concatenate(seqs) if lengths.sum() else np.zeros(0, dtype=np.int64)
    return ids, mask.astype(np.int64)


def sliding_windows(
    ids: Sequence[int] | np.ndarray, max_length: int, stride: int = 0, pad_id: int | None = None
) -> np.ndarray | list[np.ndarray]:
    """Windows of ``max_length`` ids covering the whole sequence, consecutive windows overlapping by ``stride``
    (transformers' meaning). The last window is shorter unless ``pad_id`` is given; returns an array of shape
    (n_windows, max_length) when padded, else a list of arrays."""
    if not 0 <= stride < max_length:
        raise ConfigError(f"stride must be in [0, max_length={max_length}), got {stride}")
    arr = np.asarray(ids, dtype=np.int64)
    step = max_length - stride
    n = 1 if len(arr) <= max_length else 1 + -(-(len(arr) - max_length) // step)
    if pad_id is not None:
        padded = np.full((n - 1) * step + max_length, pad_id, dtype=np.int64)
        padded[: len(arr)] = arr
        return np.lib.stride_tricks.sliding_window_view(padded, max_length)[::step].copy()
    return [arr[i * step : i * step + max_length] for i in range(n)]


def split_long_text(text: str, tokenizer: Any, max_length: int, stride: int = 0) -> list[str]:
    """Pieces of ``text`` of at most ``max_length`` tokens each (without special tokens), overlapping by
    ``stride`` tokens, cut at token boundaries; for models with a context shorter than the document."""
    enc = tokenizer(
        text,
        add_special_tokens=False,
        truncation=True,
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_attention_mask=False,
    )
    pieces = []
    for offsets in enc["offset_mapping"]:
        if offsets:
            pieces.append(text[offsets[0][0] : offsets[-1][1]])
    return pieces
