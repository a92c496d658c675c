"""The tiny corpus, tokenizer and random T5 shape shared by the evaluation tests that generate with a T5."""

import massivetext as mt
from tiny_configs import tiny_t5_config

WORDS = "a small red house by the river and a big blue tree on the hill".split()


def tiny_corpus() -> list[str]:
    return [" ".join(WORDS[i % 9 : i % 9 + 3 + i % 4]) for i in range(40)]


def tiny_tokenizer(corpus: list[str]):
    return mt.train_tokenizer(corpus, vocab_size=280)


def t5_config(tok):
    """The tiny T5 whose end token is the last id (rare: outputs run to max_length)."""
    return tiny_t5_config(tok, eos_token_id=len(tok) - 1)
