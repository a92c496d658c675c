"""The tiny corpus, tokenizer and random T5 shape shared by the evaluation tests that generate with a T5."""

import massivetext as mt
from peers import require

WORDS = "a small red house by the river and a big blue tree on the hill".split()


def tiny_corpus() -> list[str]:
    return [" ".join(WORDS[i % 9 : i % 9 + 3 + i % 4]) for i in range(40)]


def tiny_tokenizer(corpus: list[str]):
    return mt.train_tokenizer(corpus, vocab_size=280)


def tiny_t5_config(tok):
    """1 layer, d_model 32; pad = decoder start; the end token is the last id (rare: outputs run to max_length)."""
    transformers = require("transformers")
    return transformers.T5Config(
        d_model=32,
        d_kv=8,
        num_heads=2,
        num_layers=1,
        d_ff=48,
        vocab_size=len(tok),
        relative_attention_num_buckets=8,
        pad_token_id=tok.pad_token_id,
        eos_token_id=len(tok) - 1,
        decoder_start_token_id=tok.pad_token_id,
    )
