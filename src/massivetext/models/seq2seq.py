"""What the encoder-decoder families (T5, Marian) share: the training forward, the encoder side of generation and
``shift_right``. A family supplies ``encode``, ``decode``, ``head`` and ``cross_attention_kv``; its own
``_gen_start``/``_gen_step`` hold what differs (Marian's absolute positions, T5's relative-position bias)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from massivetext.models.base import PreTrainedModel
from massivetext.models.generation import GenerationMixin
from massivetext.models.losses import token_loss
from massivetext.models.modeling_outputs import Seq2SeqLMOutput


def shift_right(labels: torch.Tensor, start_id: int, pad_id: int) -> torch.Tensor:
    """Decoder inputs from labels: start token, then labels[:-1], -100 replaced by pad."""
    out = labels.new_full(labels.shape, start_id)
    out[:, 1:] = labels[:, :-1]
    return out.masked_fill(out == -100, pad_id)


def attend(q, k, v, mask=None, causal: bool = False, dropout: float = 0.0, scale: float | None = None) -> torch.Tensor:
    """scaled_dot_product_attention, also for generation's cross-attention, where the rows of one input (beams or
    samples, ``rows // inputs`` consecutive ones) share that input's encoder keys/values: k and v then hold one row
    per input (not one per beam), and those rows' queries join one call as that input's queries. Each query is
    still computed on its own, so the result is that of repeated keys, with the keys read once instead of per beam.
    """
    R, B = q.shape[0], k.shape[0]
    if R == B:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal, scale=scale)
    E, (h, T, d) = R // B, q.shape[1:]
    qg = q.view(B, E, h, T, d).transpose(1, 2).reshape(B, h, E * T, d)
    y = F.scaled_dot_product_attention(qg, k, v, attn_mask=mask, dropout_p=dropout, scale=scale)  # mask (B,1,1,S)
    return y.view(B, h, E, T, d).transpose(1, 2).reshape(R, h, T, d)


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

    def encode_for_generation(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The encoder states generation reads (a family may skip padded positions: cross-attention masks them)."""
        return self.encode(input_ids, attention_mask)

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
        """Encode once and project the states to each layer's cross-attention keys/values once, one row per input
        (not repeated for its ``expand`` beams or samples: ``attend`` shares them): the generation state every
        decoder step reads. The family adds its cache for ``rows`` = inputs x expand decoder rows."""
        enc = self.encode_for_generation(input_ids, attention_mask)
        cross = None
        if attention_mask is not None:
            # additive, made once: scaled_dot_product_attention would turn a boolean mask into this on every call
            # (-inf where masked, as it does), which cost a third of a decode step's cross-attention
            cross = torch.zeros(attention_mask.shape, dtype=enc.dtype, device=enc.device)
            cross = cross.masked_fill_(attention_mask == 0, -float("inf"))[:, None, None, :]
        return {"cross_kv": self.cross_attention_kv(enc), "cross_mask": cross, "rows": enc.shape[0] * expand}

    def _gen_reorder(self, state, index: torch.Tensor, tokens: torch.Tensor | None = None) -> None:
        """Beams of one input share encoder keys/values, so they need no reorder, only a cut when beam search
        drops finished inputs (a shorter index: each remaining input's rows point into that input's old rows).
        The keys/values are kept in the cache's physical block order (see BeamKVCache.reorder)."""
        cache = state["cache"]
        per_input = cache.buf.shape[2] // state["cross_kv"][0][0].shape[0]
        blocks = cache.reorder(index, per_input, tokens)
        if blocks is not None:
            state["cross_kv"] = [(k.index_select(0, blocks), v.index_select(0, blocks)) for k, v in state["cross_kv"]]
            if state["cross_mask"] is not None:
                state["cross_mask"] = state["cross_mask"].index_select(0, blocks)

    # beam search may pass _gen_reorder a shorter index: inputs whose beams are done leave the batch
    _gen_drops_rows = True
    # beam search's first step may hold one row per input (its beams are equal then): BeamKVCache writes each row
    # to all of its input's rows, and cross-attention reads the input's keys as it would for one beam
    _gen_first_step_once = True
    # _gen_reorder takes the old beams' token ids (BeamKVCache copies only what follows a shared prefix)
    _gen_reorder_takes_tokens = True
