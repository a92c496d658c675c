import pytest

import massivetext as mt
from tokenization_helpers import corpus


@pytest.fixture(scope="session")
def bpe(tmp_path_factory):
    """A small byte-level BPE tokenizer, trained once, saved to a directory."""
    tok = mt.train_tokenizer(corpus(200), vocab_size=500)
    path = tmp_path_factory.mktemp("bpe")
    tok.save_pretrained(path)
    return tok, path


@pytest.fixture(scope="session")
def wordpiece(tmp_path_factory):
    tok = mt.train_tokenizer(corpus(200), kind="wordpiece", vocab_size=300, model_max_length=32)
    path = tmp_path_factory.mktemp("wordpiece")
    tok.save_pretrained(path)
    return tok, path
