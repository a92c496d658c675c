"""The dedup building blocks against plain-Python references: words, shingles, Jaccard, MinHash, banding,
union-find."""

from __future__ import annotations

import random

import numpy as np
import pytest

from massivetext.curate.dedup.lsh import MinHasher, band_hashes, candidate_probability, optimal_bands
from massivetext.curate.dedup.minhash import shard_shingles
from massivetext.curate.dedup.shingles import jaccard, shingle_hashes, shingle_set
from massivetext.curate.dedup.text import Normalization, normalize, word_bytes, words
from massivetext.curate.dedup.unionfind import connected_components
from massivetext.errors import ConfigError
from peers import require


def test_words_latin_cjk_thai_and_ascii_fast_path_agree_with_regex():
    assert words("Hello, World! it's 3.14") == ["hello", "world", "it", "s", "3", "14"]
    assert words("Ünïcode—dash café") == ["ünïcode", "dash", "café"]
    assert words("中文测试abc ไทย") == ["中", "文", "测", "试", "abc", "ไ", "ท", "ย"]
    assert words("a1 b22", digits=True) == ["a0", "b0"]
    assert words("") == [] and word_bytes("   ") == []
    # the ASCII fast path (bytes.translate) gives the regex's words
    import re

    text = "Foo_bar, BAZ-qux;   x9 !? (y) " * 3
    assert words(text) == re.findall(r"\w+", text.lower())


def test_normalization_options():
    t = "  Hello,   WORLD 2024!\n"
    assert normalize(t, Normalization()) == "hello, world 2024!"
    assert normalize(t, Normalization.parse("none")) == t
    assert normalize(t, Normalization.parse("all")) == "hello world 0"
    assert normalize(t, Normalization.parse("whitespace,digits")) == "Hello, WORLD 0!"
    with pytest.raises(ConfigError):
        Normalization.parse("whitespace,vowels")


def _ref_shingles(text: str, n: int) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


@pytest.mark.parametrize("n", [1, 3, 13])
def test_shingle_hashes_match_python_ngrams(n):
    rng = random.Random(n)
    vocab = [f"v{i}" for i in range(40)]
    for _ in range(20):
        a = " ".join(rng.choices(vocab, k=rng.randint(0, 80)))
        b = " ".join(rng.choices(vocab, k=rng.randint(0, 80)))
        assert len(shingle_hashes(a, n)) == max(len(words(a)) - n + 1, 0)
        assert len(shingle_set(a, n)) == len(_ref_shingles(a, n))  # distinct n-grams <-> distinct hashes
        sa, sb = _ref_shingles(a, n), _ref_shingles(b, n)
        ref = len(sa & sb) / len(sa | sb) if sa | sb else 1.0
        assert jaccard(a, b, n) == pytest.approx(ref)


def test_shard_shingles_equals_per_document_shingles():
    texts = ["a b c d e f", "", "x y", "one two three four five six seven", "中文文本测试"] * 3
    sh, off, exact = shard_shingles(texts, 3)
    for i, t in enumerate(texts):
        assert np.array_equal(sh[off[i] : off[i + 1]], shingle_hashes(t, 3))
    assert exact[1] != exact[2] and exact[2] == exact[7]  # same words -> same exact hash


def test_minhash_estimates_jaccard():
    rng = np.random.default_rng(0)
    hasher = MinHasher(256, seed=3)
    errors = []
    for j_target in (0.2, 0.5, 0.8, 0.95):
        base = rng.integers(0, 2**63, 2000, dtype=np.uint64)
        k = int(2000 * 2 * j_target / (1 + j_target))  # |A & B| for |A| = |B| = 2000 at Jaccard j_target
        other = np.concatenate([base[:k], rng.integers(0, 2**63, 2000 - k, dtype=np.uint64)])
        true = k / (4000 - k)
        sig = hasher.signatures([base, other])
        errors.append(abs(np.mean(sig[0] == sig[1]) - true))
    assert max(errors) < 0.08 and np.mean(errors) < 0.04  # std of the estimate at 256 perms is <= 0.031


def test_long_and_batched_signatures_agree():
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 2**63, n, dtype=np.uint64) for n in (5, 3000, 17, 1, 1500, 40)]
    hasher = MinHasher(64)
    together = hasher.signatures(docs)
    alone = np.stack([hasher.signatures([d])[0] for d in docs])
    assert np.array_equal(together, alone)
    assert np.array_equal(together[1], hasher.signatures([docs[1][::-1]])[0])  # order of shingles is irrelevant


def test_band_hashes_equal_only_for_equal_bands():
    sig = np.array([[1, 2, 3, 4], [1, 2, 9, 4], [1, 2, 3, 4]], dtype=np.uint32)
    bh = band_hashes(sig, 2, 2)
    assert bh[0, 0] == bh[1, 0] == bh[2, 0] and bh[0, 1] != bh[1, 1] and bh[0, 1] == bh[2, 1]


def test_optimal_bands_match_datasketch():
    lsh = require("datasketch.lsh")
    for threshold, num_perm in [(0.8, 128), (0.5, 64), (0.9, 256)]:
        ref = lsh._optimal_param(threshold, num_perm, 0.5, 0.5)
        assert optimal_bands(threshold, num_perm) == ref
    b, r = optimal_bands(0.8, 128, 0.05, 0.95)  # the default when candidates are verified: recall first
    assert candidate_probability(0.8, b, r) > 0.9 and candidate_probability(0.3, b, r) < 0.01


def _ref_components(edges: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def test_union_find_matches_reference():
    rng = random.Random(0)
    for _ in range(20):
        edges = [(rng.randrange(1 << 45), rng.randrange(1 << 45)) for _ in range(rng.randint(0, 5))]
        nodes = sorted({x for e in edges for x in e})
        edges += [(rng.choice(nodes), rng.choice(nodes)) for _ in range(rng.randint(0, 60))] if nodes else []
        u = np.array([a for a, _ in edges], dtype=np.uint64)
        v = np.array([b for _, b in edges], dtype=np.uint64)
        got_nodes, labels = connected_components(u, v)
        ref = _ref_components(edges)
        assert dict(zip(got_nodes.tolist(), labels.tolist())) == ref
    # a long chain needs many rounds of hooking
    chain = np.arange(1000, dtype=np.uint64)
    n, lab = connected_components(chain[1:], chain[:-1])
    assert np.all(lab == 0)


@pytest.mark.parametrize("digits", [False, True])
def test_fast_paths_equal_the_regex_definition(digits):
    import re

    from massivetext.curate.dedup import text as T

    samples = [
        "Café crème, naïve façade — “quoted” 42 ½ x²",
        "MOUNTPOİNT İstanbul straße ǅ",  # lowercasing adds a combining mark to İ
        "日本語のテキスト and English 123",
        "emoji 😀 here, arabic ٣٤ digits, thai ภาษาไทย",
        "plain ascii: a_b c-d 12.5",
        "surrogate \udcff inside",
    ]
    for t in samples:
        low = t.lower()
        if digits:
            low = re.sub(r"\d+", "0", low)
        expected = T._WORD_RE.findall(low)
        assert words(t, digits) == expected, t
