import math

import numpy as np

from massivetext.evaluation.baseline import unigram_perplexity


def test_unigram_perplexity_matches_hand_computation():
    train = [np.array([0, 0, 1]), np.array([2])]
    # counts with add-one: [3, 2, 2, 1] over vocab 4 -> probabilities /8
    out = unigram_perplexity(train, [np.array([0, 3])], vocab_size=4)
    expected = -(math.log(3 / 8) + math.log(1 / 8)) / 2
    assert math.isclose(out["loss"], expected) and math.isclose(out["perplexity"], math.exp(expected))


def test_uniform_text_has_vocab_perplexity():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=200_000)
    out = unigram_perplexity([tokens], [tokens[:1000]], vocab_size=50)
    assert abs(out["perplexity"] - 50) < 1.0
