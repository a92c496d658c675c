"""An LSTM language model: the baseline the transformers are measured against, trained by the same Trainer.

Embedding, a multi-layer ``nn.LSTM`` (cuDNN on CUDA), dropout, and a head tied to the embedding when the sizes
match. Generation keeps the LSTM state as its cache.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from massivetext.models.base import PreTrainedModel, embedding
from massivetext.models.config import LSTMConfig
from massivetext.models.generation import GenerationMixin
from massivetext.models.losses import causal_lm_loss
from massivetext.models.modeling_outputs import CausalLMOutput


class LSTMForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = LSTMConfig
    hf_architecture = "MTLSTMForCausalLM"

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        e, h = config.embedding_size, config.hidden_size
        self.embed = embedding(config.vocab_size, e)
        self.lstm = nn.LSTM(
            e,
            h,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.proj = nn.Linear(h, e, bias=False) if e != h else None
        self.lm_head = nn.Linear(e, config.vocab_size, bias=False)
        with torch.no_grad():
            nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight

    def tied(self) -> dict[str, str]:
        return {"lm_head.weight": "embed.weight"} if self.config.tie_word_embeddings else {}

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    def flops_per_token(self, seq_len: int) -> float:
        return 6.0 * self.num_parameters()

    def _run(self, input_ids: torch.Tensor, state=None):
        p = self.config.dropout if self.training else 0.0
        x = F.dropout(self.embed(input_ids), p, self.training)
        y, state = self.lstm(x, state)
        y = F.dropout(y, p, self.training)
        if self.proj is not None:
            y = self.proj(y)
        return y, state

    def forward(
        self,
        input_ids,
        attention_mask=None,
        labels=None,
        shift_labels=None,
        num_items_in_batch=None,
        label_smoothing: float | None = None,
        logits_to_keep: int = 0,
        **_: Any,
    ) -> CausalLMOutput:
        y, _state = self._run(input_ids)
        if logits_to_keep:
            y = y[:, -logits_to_keep:]
        logits = self.lm_head(y)
        loss = None
        if labels is not None or shift_labels is not None:
            ls = self.config.mt_label_smoothing if label_smoothing is None else label_smoothing
            loss = causal_lm_loss(logits, labels, shift_labels, num_items_in_batch, ls)
        return CausalLMOutput(loss=loss, logits=logits)

    # generation hooks: the recurrent state is the cache (left padding is not modelled: pads are read as tokens)
    def _gen_start(self, input_ids, attention_mask, max_len: int, expand: int = 1) -> dict[str, Any]:
        return {"state": None}

    def _gen_step(self, tokens, state, start: int, position_ids=None, key_mask=None) -> torch.Tensor:
        y, state["state"] = self._run(tokens, state["state"])
        return self.lm_head(y[:, -1])

    def _gen_reorder(self, state, index: torch.Tensor) -> None:
        h, c = state["state"]
        state["state"] = (h.index_select(1, index), c.index_select(1, index))
