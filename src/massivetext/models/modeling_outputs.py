"""What model forwards return: small dataclasses with ``.loss`` and the head's logits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class ModelOutput:
    loss: torch.Tensor | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None


@dataclass
class CausalLMOutput(ModelOutput):
    logits: torch.Tensor | None = None
    past_key_values: Any = None


@dataclass
class MaskedLMOutput(ModelOutput):
    logits: torch.Tensor | None = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    logits: torch.Tensor | None = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    logits: torch.Tensor | None = None


@dataclass
class QuestionAnsweringOutput(ModelOutput):
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None

    @property
    def logits(self) -> torch.Tensor:
        """(batch, seq, 2): start and end logits stacked, so every head has ``.logits``."""
        return torch.stack([self.start_logits, self.end_logits], dim=-1)


@dataclass
class Seq2SeqLMOutput(ModelOutput):
    logits: torch.Tensor | None = None
    encoder_last_hidden_state: torch.Tensor | None = None
