"""Tiny models, tokenizers and data for the training tests (all built here; nothing is downloaded).

A module of its own, not conftest.py: test modules import these by name, and `from training_helpers import` resolves to
whichever conftest was imported first when several test folders run in one pytest call."""

from __future__ import annotations

import torch

WORDS = [f"w{i}" for i in range(16)]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tokenizer(extra_words: list[str] | None = None):
    """A word-level fast tokenizer (transformers' PreTrainedTokenizerFast) over a fixed vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS + list(extra_words or []))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_gpt2(vocab_size: int = 21, n_positions: int = 32, dropout: float = 0.0, seed: int | None = 0):
    """seed=None draws the weights from the global RNG as it stands (what a model_init does)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if seed is not None:
        torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(config)


def counting_sequences(n: int, length: int, vocab: int = 16, offset: int = 5, seed: int = 0) -> list[list[int]]:
    """Rows of (start + i) % vocab (+ offset past the special ids): fully predictable after the first token."""
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, vocab, (n,), generator=g)
    return ((starts[:, None] + torch.arange(length)[None]) % vocab + offset).tolist()
