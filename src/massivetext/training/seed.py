"""`set_seed`: one call that seeds every generator a run draws from (transformers' `set_seed`)."""

from __future__ import annotations

import random

import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed Python's `random`, NumPy and torch (CPU and every CUDA device).

    Call it before the model is built: its random initial weights are the first thing drawn. `Trainer` calls it at
    construction and again at the start of `train()` (before `model_init`, when one is given), as transformers does.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
