"""Fixtures for the training tests; the tiny builders live in training_helpers.py."""

from __future__ import annotations

import pytest
import torch
from training_helpers import make_tokenizer


@pytest.fixture(autouse=True)
def _quiet_transformers():
    import transformers

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)


@pytest.fixture
def tokenizer():
    return make_tokenizer()
