"""Word vectors: planted synonyms learned, GloVe/word2vec files round-trip, embeddings initialised with coverage,
the evaluation sets scored (an analogy section built to be solved exactly)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import massivetext as mt
from massivetext.embeddings.word_vectors import embedding_matrix, words

GROUPS = 12


def _planted_corpus(n: int = 6000, seed: int = 0) -> tuple[list[str], list[tuple[str, str]]]:
    """Each group has its own context words and two synonyms that appear, interchangeably, only in that context."""
    rng = random.Random(seed)
    synonyms = [(f"syna{g}", f"synb{g}") for g in range(GROUPS)]
    contexts = [[f"ctx{g}w{i}" for i in range(8)] for g in range(GROUPS)]
    texts = []
    for _ in range(n):
        g = rng.randrange(GROUPS)
        sent = rng.sample(contexts[g], 5)
        sent.insert(rng.randrange(6), rng.choice(synonyms[g]))
        texts.append(" ".join(sent))
    return texts, synonyms


@pytest.mark.parametrize("method", ["word2vec", "fasttext"])
def test_planted_synonyms_are_closer_than_random_pairs(method, tmp_path):
    texts, synonyms = _planted_corpus()
    kv = mt.train_word_vectors(texts, method=method, dim=24, epochs=5, output=tmp_path / "v.txt")
    same = [kv.similarity(a, b) for a, b in synonyms]
    other = [kv.similarity(synonyms[g][0], synonyms[(g + 1) % GROUPS][1]) for g in range(GROUPS)]
    assert min(same) > max(other)
    assert np.mean(same) > np.mean(other) + 0.3
    loaded = mt.load_word_vectors(tmp_path / "v.txt")
    assert loaded.index_to_key == kv.index_to_key
    np.testing.assert_allclose(loaded.vectors, kv.vectors, atol=1e-5)  # text format keeps ~6 significant digits


def test_glove_text_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    vocab = ["the", "movie", "was", "great", "n't", "café"]
    vecs = rng.normal(size=(len(vocab), 5)).astype(np.float32).round(5)
    glove = tmp_path / "glove.6B.5d.txt"  # GloVe: no header
    glove.write_text("".join(f"{w} {' '.join(f'{x:.5f}' for x in v)}\n" for w, v in zip(vocab, vecs, strict=True)))
    kv = mt.load_word_vectors(glove)
    assert kv.index_to_key == vocab and kv.vector_size == 5
    np.testing.assert_array_equal(kv.vectors, vecs)
    for binary in (False, True):  # on to word2vec text and binary, and back
        out = tmp_path / f"w2v.{'bin' if binary else 'txt'}"
        mt.save_word_vectors(kv, out, binary=binary)
        back = mt.load_word_vectors(out)
        assert back.index_to_key == vocab
        np.testing.assert_allclose(back.vectors, vecs, atol=1e-6)
    assert open(tmp_path / "w2v.txt").readline().split() == ["6", "5"]


def test_malformed_vector_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(mt.BadInputError, match=r"bad\.txt:2: expected a word and 3 numbers"):
        mt.load_word_vectors(bad)
    bad.write_text("2 3\na 1 2 3\nb 1 x 3\n")
    with pytest.raises(mt.BadInputError, match=r"bad\.txt:3: a vector value is not a number"):
        mt.load_word_vectors(bad)
    with pytest.raises(mt.MissingFileError):
        mt.load_word_vectors(tmp_path / "nope.txt")
    with pytest.raises(mt.ConfigError, match="method"):
        mt.train_word_vectors(["a b"], method="glove")


def test_embedding_initialised_through_a_tokenizer_vocabulary():
    texts, _ = _planted_corpus(2000)
    kv = mt.train_word_vectors(texts, dim=16, epochs=2, min_count=1)
    tok = mt.train_tokenizer(texts + ["unseenword " * 3], kind="wordpiece", vocab_size=200, min_frequency=1)
    layer = torch.nn.Embedding(len(tok), 16)
    coverage = mt.init_embedding(layer, tok, kv)
    vocab = tok.get_vocab()
    specials = set(tok.all_special_tokens)
    known = [t for t in vocab if t not in specials and t.removeprefix("##") in kv.key_to_index]
    assert coverage.found == len(known) > 20 and coverage.total == len(vocab) - len(specials)
    for t in known[:10]:
        np.testing.assert_allclose(layer.weight[vocab[t]].detach().numpy(), kv[t.removeprefix("##")])
    assert 0 < coverage.ratio < 1 and "have a pretrained vector" in str(coverage)
    matrix, cov = embedding_matrix({"syna1": 0, "zzz": 1}, kv)
    assert cov.found == 1 and cov.missing == ["zzz"] and np.allclose(matrix[0], kv["syna1"])


def test_evaluation_sets_scored_with_a_planted_analogy_section():
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    pairs = set()
    section = None
    for line in open(datapath("questions-words.txt")):
        if line.startswith(":"):
            section = line.strip()
            continue
        if section == ": capital-common-countries":
            a, b, c, d = line.split()
            pairs |= {(a, b), (c, d)}
    capitals = sorted({a for a, _ in pairs})
    dim = len(capitals) + 1
    kv = KeyedVectors(vector_size=dim)
    country_of = dict(pairs)
    eye = np.eye(dim, dtype=np.float32)
    # capital_i = e_i, its country = e_i + t: every "capital : country" analogy is solved exactly
    keys = capitals + [country_of[c] for c in capitals]
    kv.add_vectors(
        keys, np.stack([eye[i] for i in range(len(capitals))] + [eye[i] + eye[-1] for i in range(len(capitals))])
    )
    scores = mt.evaluate_word_vectors(kv)
    # 506 questions of that section, plus capital-world questions among the same words
    assert scores["analogy_accuracy"] == 1.0 and scores["analogy_answered"] >= 506
    assert scores["wordsim353_oov"] > 0.9 and set(scores) >= {"wordsim353_spearman", "simlex999_spearman"}


def test_words_tokenization():
    assert words("It's a GREAT film, isn't it?") == ["it's", "a", "great", "film", "isn't", "it"]
