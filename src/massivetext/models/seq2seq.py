"""What the encoder-decoder families (T5, Marian) share: the training forward, the encoder side of generation and
``shift_right``. A family supplies ``encode``, ``decode``, ``head`` and ``cross_attention_kv``; its own
``_gen_start``/``_gen_step`` hold what differs (Marian's absolute positions, T5's relative-position bias)."""

from __future__ import annotations

from typing import Any

import torch

from massivetext.models.base import PreTrainedModel
from massivetext.models.generation import GenerationMixin
from massivetext.models.losses import token_loss
from massivetext.models.modeling_outputs import Seq2SeqLMOutput


def shift_right(labels: torch.Tensor, start_id: int, pad_id: int) -> torch.Tensor:
    """Decoder inputs from labels: start token, then labels[:-1], -100 replaced by pad."""
    out = labels.new_full(labels.shape, start_id)
    out[:, 1:] = labels[:, :-1]
    return out.masked_fill(out == -100, pad_id)


class EncoderDecoderLM(PreTrainedModel, GenerationMixin):
    """An encoder-decoder with a language-model head (transformers' ``*ForConditionalGeneration``)."""

    is_encoder_decoder = True

    # ---- supplied by each family ----------------------------------------------------------------------------
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, dec_ids, enc, enc_mask=None, dec_mask=None) -> torch.Tensor:
        raise NotImplementedError

    def head(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cross_attention_kv(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each decoder layer's cross-attention keys and values (B, heads, S, head_dim) of the encoder states."""
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        decoder_input_ids=None,
        decoder_attention_mask=None,
        labels=None,
        encoder_outputs=None,
        num_items_in_batch=None,
        label_smoothing: float | None = None,
        **_: Any,
    ) -> Seq2SeqLMOutput:
        enc = encoder_outputs if encoder_outputs is not None else self.encode(input_ids, attention_mask)
        if decoder_input_ids is None:
            decoder_input_ids = shift_right(labels, self.config.decoder_start_token_id, self.config.pad_token_id)
        logits = self.head(self.decode(decoder_input_ids, enc, attention_mask, decoder_attention_mask))
        loss = None
        if labels is not None:
            ls = self.config.mt_label_smoothing if label_smoothing is None else label_smoothing
            loss = token_loss(logits, labels, num_items_in_batch, ls)
        return Seq2SeqLMOutput(loss=loss, logits=logits, encoder_last_hidden_state=enc)

    def _encode_for_generation(self, input_ids, attention_mask, expand: int) -> dict[str, Any]:
        """Encode once, repeat the states for ``expand`` rows per input (beams or samples), project them to each
        layer's cross-attention keys/values once: the generation state every decoder step reads (the family adds
        its cache and pops ``encoder_states`` once it has what it needs from them)."""
        enc = self.encode(input_ids, attention_mask)
        if expand > 1:
            enc = enc.repeat_interleave(expand, 0)
            attention_mask = None if attention_mask is None else attention_mask.repeat_interleave(expand, 0)
        cross = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        return {"encoder_states": enc, "cross_kv": self.cross_attention_kv(enc), "cross_mask": cross}

    def _gen_reorder(self, state, index: torch.Tensor) -> None:
        """Beams of one input share encoder states, so cross K/V need no reorder, only a cut when beam search
        drops finished inputs (a shorter index: any of an input's rows carries its encoder states)."""
        cache = state["cache"]
        dropped = index.numel() != cache.buf.shape[2]
        cache.reorder(index)
        if dropped:
            state["cross_kv"] = [(k.index_select(0, index), v.index_select(0, index)) for k, v in state["cross_kv"]]
            if state["cross_mask"] is not None:
                state["cross_mask"] = state["cross_mask"].index_select(0, index)

    # beam search may pass _gen_reorder a shorter index: inputs whose beams are done leave the batch
    _gen_drops_rows = True
