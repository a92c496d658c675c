"""Word vectors, the classic input representation: train (gensim), save, load, evaluate, and initialise an embedding.

* ``train_word_vectors(texts, method="word2vec"|"fasttext", dim=...)``: gensim's ``Word2Vec`` / ``FastText`` on
  lower-cased word tokens (``words()``); returns gensim ``KeyedVectors`` and, with ``output=``, saves them in the
  word2vec text format (a ``count dim`` header, then ``word v1 ... vd`` lines), the format GloVe files use minus
  the header.
* ``load_word_vectors(path)``: word2vec text (header), GloVe text (no header) or word2vec binary, detected from the
  file; a malformed text line raises ``BadInputError`` naming the file and line.
* ``embedding_matrix(vocab, vectors)`` / ``init_embedding(layer, vocab, vectors)``: rows of an embedding for a
  tokenizer's vocabulary (or a word→id dict), copied from the vectors where the word is known (WordPiece ``##``,
  byte-level ``Ġ`` and SentencePiece ``▁`` markers stripped), with a ``Coverage`` report of what was found.
* ``evaluate_word_vectors(vectors)``: Spearman correlation on WordSim-353 and SimLex-999 and accuracy on the
  Google analogy questions, the copies that ship with gensim's test data (``gensim.test.utils.datapath``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from massivetext.errors import BadInputError, ConfigError, MissingFileError

_WORD = re.compile(r"\w+(?:'\w+)?")
METHODS = ("word2vec", "fasttext")
_SUBWORD_MARKS = ("##", "Ġ", "▁")


def words(text: str) -> list[str]:
    """The word tokens word vectors are trained on and looked up with: lower-cased ``\\w+('\\w+)?`` runs."""
    return _WORD.findall(text.lower())


class _Sentences:
    """A re-iterable corpus (gensim reads it once to build the vocabulary, then once per epoch)."""

    def __init__(self, texts: Iterable[str]):
        self.texts = texts if isinstance(texts, list | tuple) else list(texts)

    def __iter__(self) -> Iterator[list[str]]:
        for t in self.texts:
            toks = words(t)
            if toks:
                yield toks


def train_word_vectors(
    texts: Iterable[str],
    method: str = "word2vec",
    dim: int = 100,
    window: int = 5,
    min_count: int = 3,
    epochs: int = 10,
    sg: bool = True,
    negative: int = 5,
    workers: int = 1,
    seed: int = 0,
    output: str | os.PathLike | None = None,
    **gensim_options: Any,
):
    """Train word vectors on ``texts`` and return gensim ``KeyedVectors`` (saved as word2vec text to ``output``).

    Defaults differ from gensim's on purpose for small corpora: skip-gram (``sg=True``; gensim: CBOW), ``min_count=3``
    (gensim: 5) and 10 epochs (gensim: 5); ``gensim_options`` are passed through. ``workers=1`` with a fixed ``seed``
    is reproducible run to run (gensim's threads are not)."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if dim < 1:
        raise ConfigError(f"dim must be positive, got {dim}")
    from gensim.models import FastText, Word2Vec

    sentences = _Sentences(texts)
    if not any(True for _ in sentences):
        raise BadInputError("no words to train word vectors on (empty texts)")
    cls = Word2Vec if method == "word2vec" else FastText
    model = cls(
        sentences=sentences,
        vector_size=dim,
        window=window,
        min_count=min_count,
        epochs=epochs,
        sg=int(sg),
        negative=negative,
        workers=workers,
        seed=seed,
        **gensim_options,
    )
    if len(model.wv) == 0:
        raise BadInputError(f"no word occurs min_count={min_count} times; lower min_count or give more text")
    if output is not None:
        save_word_vectors(model.wv, output)
    return model.wv


def save_word_vectors(vectors, path: str | os.PathLike, binary: bool = False) -> str:
    """word2vec format (text by default; ``binary=True`` for the C tool's binary); written atomically."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    vectors.save_word2vec_format(tmp, binary=binary)
    os.replace(tmp, path)
    return path


def _is_binary(path: str) -> bool:
    with open(path, "rb") as f:
        f.readline()  # the header (or a GloVe line)
        chunk = f.read(4096)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(chunk) - 4  # not just a multi-byte character cut at the chunk's end
    return b"\x00" in chunk


def load_word_vectors(path: str | os.PathLike, binary: bool | None = None):
    """gensim ``KeyedVectors`` from a word2vec text file (with its ``count dim`` header), a GloVe text file (no
    header) or a word2vec binary file; ``binary=None`` detects which."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such word-vector file")
    if binary is None:
        binary = _is_binary(path)
    if binary:
        from gensim.models import KeyedVectors

        try:
            return KeyedVectors.load_word2vec_format(path, binary=True)
        except (ValueError, EOFError, UnicodeDecodeError) as e:
            raise BadInputError(f"not a word2vec binary file ({e})", path) from e
    return _load_text(path)


def _load_text(path: str):
    from gensim.models import KeyedVectors

    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise BadInputError(f"not UTF-8 text at byte {e.start}", path) from e
    start, dim, expected = 0, None, None
    head = lines[0].split() if lines else []
    if len(head) == 2 and all(h.isdigit() for h in head):  # word2vec text header
        expected, dim, start = int(head[0]), int(head[1]), 1
    keys, rows = [], []
    for n, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        parts = line.rstrip().split(" ")
        if dim is None:
            dim = len(parts) - 1
        if len(parts) != dim + 1:
            raise BadInputError(f"expected a word and {dim} numbers, found {len(parts) - 1} values", path, n)
        try:
            rows.append(np.asarray(parts[1:], dtype=np.float32))
        except ValueError as e:
            raise BadInputError(f"a vector value is not a number ({e})", path, n) from e
        keys.append(parts[0])
    if not keys:
        raise BadInputError("no vectors in the file", path)
    if expected is not None and expected != len(keys):
        raise BadInputError(f"the header announces {expected} vectors, the file holds {len(keys)}", path)
    kv = KeyedVectors(vector_size=dim)
    kv.add_vectors(keys, np.stack(rows))
    return kv


@dataclass
class Coverage:
    """How much of a vocabulary the word vectors cover (special tokens excluded)."""

    found: int
    total: int
    missing: list[str] = field(default_factory=list)  # a sample of the tokens without a vector

    @property
    def ratio(self) -> float:
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.found}/{self.total} vocabulary entries ({self.ratio:.1%}) have a pretrained vector"


def _vocab(vocab: Any) -> tuple[dict[str, int], set[str]]:
    if isinstance(vocab, Mapping):
        return dict(vocab), set()
    get = getattr(vocab, "get_vocab", None)
    if get is None:
        raise ConfigError("vocab must be a {word: id} mapping or a tokenizer with get_vocab()")
    specials = set(getattr(vocab, "all_special_tokens", []) or [])
    return dict(get()), specials


def embedding_matrix(vocab: Any, vectors, std: float | None = None, seed: int = 0) -> tuple[np.ndarray, Coverage]:
    """(matrix of shape (len(vocab), dim), coverage): pretrained rows where the word is known, the rest drawn from a
    normal with the pretrained rows' standard deviation (or ``std``), so both kinds of row have the same scale."""
    ids, specials = _vocab(vocab)
    size = max(ids.values()) + 1 if ids else 0
    rng = np.random.default_rng(seed)
    scale = float(np.std(vectors.vectors)) if std is None else std
    matrix = rng.normal(0.0, scale, size=(size, vectors.vector_size)).astype(np.float32)
    found, missing, total = [], [], 0
    for token, i in ids.items():
        if token in specials:
            continue
        total += 1
        word = token
        for mark in _SUBWORD_MARKS:
            word = word.removeprefix(mark)
        key = next((k for k in (word, word.lower()) if k in vectors.key_to_index), None)
        if key is None:
            missing.append(token)
        else:
            found.append((i, vectors.key_to_index[key]))
    if found:
        rows, src = np.array(found).T
        matrix[rows] = vectors.vectors[src]
    return matrix, Coverage(len(found), total, missing[:20])


def init_embedding(layer, vocab: Any, vectors, freeze: bool = False, **kwargs: Any) -> Coverage:
    """Copy pretrained rows into a ``torch.nn.Embedding`` (its size must match the vectors') and return coverage."""
    import torch

    matrix, coverage = embedding_matrix(vocab, vectors, **kwargs)
    if layer.weight.shape[1] != matrix.shape[1] or layer.weight.shape[0] < matrix.shape[0]:
        raise ConfigError(
            f"embedding of shape {tuple(layer.weight.shape)} cannot take {matrix.shape[0]} rows of {matrix.shape[1]}"
        )
    with torch.no_grad():
        layer.weight[: matrix.shape[0]] = torch.from_numpy(matrix)
    layer.weight.requires_grad_(not freeze)
    return coverage


def evaluate_word_vectors(vectors) -> dict[str, float]:
    """WordSim-353 and SimLex-999 Spearman, Google-analogy accuracy (gensim's copies), with out-of-vocabulary rates.

    Pairs and questions with an unknown word are left out (gensim's ``dummy4unknown=False``), so read each score
    beside its OOV rate."""
    from gensim.test.utils import datapath

    out: dict[str, float] = {}
    for name, file in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        try:
            _pearson, spearman, oov = vectors.evaluate_word_pairs(datapath(file))
        except ValueError:  # gensim raises when every pair has an unknown word
            out[f"{name}_spearman"], out[f"{name}_oov"] = float("nan"), 1.0
            continue
        out[f"{name}_spearman"] = float(spearman.statistic if hasattr(spearman, "statistic") else spearman[0])
        out[f"{name}_oov"] = float(oov) / 100
    score, sections = vectors.evaluate_word_analogies(datapath("questions-words.txt"))
    total = next(s for s in sections if s["section"] == "Total accuracy")
    out["analogy_accuracy"] = float(score)
    out["analogy_answered"] = float(len(total["correct"]) + len(total["incorrect"]))
    return out
