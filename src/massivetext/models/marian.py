"""Marian (the opus-mt translation models): post-LN encoder-decoder, sinusoidal positions (computed, not stored),
embeddings scaled by sqrt(d_model), tied output head plus ``final_logits_bias``. Names follow HF (``model.encoder.
layers.0.self_attn.q_proj``)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from massivetext.errors import ConfigError
from massivetext.models.base import activation, check_positions, embedding, init_weights
from massivetext.models.cache import BeamKVCache
from massivetext.models.config import MarianConfig
from massivetext.models.fast_linear import linear, linear_bias
from massivetext.models.seq2seq import EncoderDecoderLM, attend


def sinusoids(n_pos: int, dim: int) -> torch.Tensor:
    """Marian's table: sines in the first half of the features, cosines in the second (not interleaved)."""
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    j = torch.arange(dim, dtype=torch.float64)[None, :]
    enc = pos / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode="floor") / dim)
    half = dim // 2 + dim % 2
    out = torch.empty(n_pos, dim, dtype=torch.float64)
    out[:, :half] = torch.sin(enc[:, 0::2])
    out[:, half:] = torch.cos(enc[:, 1::2])
    return out.float()


class Positions(nn.Module):
    def __init__(self, n_pos: int, dim: int):
        super().__init__()
        self.n_pos, self.dim = n_pos, dim
        self.register_buffer("weight", torch.empty(n_pos, dim), persistent=False)
        self.reset_buffers()

    def reset_buffers(self) -> None:
        if torch.empty(0).is_meta:  # built under a meta device: filled in after loading
            return
        device = "cpu" if self.weight.is_meta else self.weight.device
        self.weight = sinusoids(self.n_pos, self.dim).to(device)


class Attention(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.h, self.hd = heads, d // heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))
        self.p = dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, self.h, self.hd).transpose(1, 2)

    def forward(self, x, mask=None, causal=False, kv=None, cache=None, layer=0, start=0) -> torch.Tensor:
        B, T, C = x.shape
        q = self.split(linear(x, self.q_proj))
        if kv is None:
            k, v = self.split(linear(x, self.k_proj)), self.split(linear(x, self.v_proj))
            if cache is not None:
                k, v = cache.update(layer, k, v, start)
        else:
            k, v = kv
        p = self.p if self.training else 0.0
        y = attend(q, k, v, mask, causal and mask is None, p)
        return linear(y.transpose(1, 2).reshape(B, T, C), self.out_proj)


class Layer(nn.Module):
    def __init__(self, c: MarianConfig, decoder: bool):
        super().__init__()
        d = c.d_model
        heads = c.decoder_attention_heads if decoder else c.encoder_attention_heads
        ffn = c.decoder_ffn_dim if decoder else c.encoder_ffn_dim
        self.self_attn = Attention(d, heads, c.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        if decoder:
            self.encoder_attn = Attention(d, heads, c.attention_dropout)
            self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = activation(c.activation_function)
        self.p, self.act_p, self.decoder = c.dropout, c.activation_dropout, decoder

    def _drop(self, x: torch.Tensor, p: float) -> torch.Tensor:
        return F.dropout(x, p, True) if p and self.training else x

    def forward(
        self, x, mask=None, causal=False, cross_mask=None, enc=None, cross_kv=None, cache=None, idx=0, start=0
    ) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self._drop(self.self_attn(x, mask, causal, None, cache, idx, start), self.p))
        if self.decoder:
            if cross_kv is None:
                a = self.encoder_attn
                cross_kv = (a.split(linear(enc, a.k_proj)), a.split(linear(enc, a.v_proj)))
            x = self.encoder_attn_layer_norm(x + self._drop(self.encoder_attn(x, cross_mask, kv=cross_kv), self.p))
        h = linear(self._drop(self.act(linear(x, self.fc1)), self.act_p), self.fc2)
        x = self.final_layer_norm(x + self._drop(h, self.p))
        if x.dtype == torch.float16:
            m = torch.finfo(torch.float16).max - 1000
            x = x.clamp(-m, m)
        return x

    def forward_packed(self, x: torch.Tensor, where: torch.Tensor, shape: tuple[int, int], mask: torch.Tensor):
        """An encoder layer at inference on the real tokens only, ``x`` (N, C) packed from a padded (B, T) batch at
        flat positions ``where``: the linears and LayerNorms skip the padding; attention alone runs padded."""
        a, (B, T), C = self.self_attn, shape, x.shape[-1]

        def padded_heads(t: torch.Tensor) -> torch.Tensor:
            return a.split(t.new_zeros(B * T, C).index_copy_(0, where, t).view(B, T, C))

        q, k, v = (padded_heads(linear(x, lin)) for lin in (a.q_proj, a.k_proj, a.v_proj))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = linear(y.transpose(1, 2).reshape(B * T, C).index_select(0, where), a.out_proj)
        x = self.self_attn_layer_norm(x + y)
        x = self.final_layer_norm(x + linear(self.act(linear(x, self.fc1)), self.fc2))
        if x.dtype == torch.float16:
            m = torch.finfo(torch.float16).max - 1000
            x = x.clamp(-m, m)
        return x


class Stack(nn.Module):
    def __init__(self, c: MarianConfig, decoder: bool):
        super().__init__()
        n = c.decoder_layers if decoder else c.encoder_layers
        self.embed_positions = Positions(c.max_position_embeddings, c.d_model)
        self.layers = nn.ModuleList(Layer(c, decoder) for _ in range(n))


class MarianModel(nn.Module):
    def __init__(self, c: MarianConfig):
        super().__init__()
        self.shared = embedding(c.vocab_size, c.d_model, padding_idx=c.pad_token_id)
        self.encoder = Stack(c, decoder=False)
        self.decoder = Stack(c, decoder=True)


class MarianMTModel(EncoderDecoderLM):
    config_class = MarianConfig
    hf_architecture = "MarianMTModel"
    hf_ignored = [r"embed_positions\.weight$", r"^model\.(encoder|decoder)\.embed_tokens\.weight$"]

    def __init__(self, config: MarianConfig):
        super().__init__(config)
        if not config.share_encoder_decoder_embeddings or config.decoder_vocab_size != config.vocab_size:
            raise ConfigError("Marian with separate source and target vocabularies is not supported")
        self.model = MarianModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.register_buffer("final_logits_bias", torch.zeros(1, config.vocab_size))
        init_weights(self, config.init_std)
        self.tie_weights()
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.shared.weight

    def tied(self) -> dict[str, str]:
        return {"lm_head.weight": "model.shared.weight"} if self.config.tie_word_embeddings else {}

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.shared

    def _embed(self, ids: torch.Tensor, stack: Stack, start: int = 0) -> torch.Tensor:
        check_positions(start + ids.shape[1], self.config.max_position_embeddings, "Marian")
        x = self.model.shared(ids) * self.embed_scale
        x = x + stack.embed_positions.weight[start : start + ids.shape[1]].to(x.dtype)
        return F.dropout(x, self.config.dropout, True) if self.config.dropout and self.training else x

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        st = self.model.encoder
        x = self._embed(input_ids, st)
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        for layer in st.layers:
            x = self._checkpointed(layer, x, mask)
        return x

    def encode_for_generation(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """``encode`` without computing padded positions (they come out as zeros; cross-attention masks them)."""
        if attention_mask is None or bool(attention_mask.all()) or self.training or torch.is_grad_enabled():
            return self.encode(input_ids, attention_mask)
        st = self.model.encoder
        x = self._embed(input_ids, st)
        B, T, C = x.shape
        where = attention_mask.reshape(-1).nonzero().squeeze(1)
        packed = x.reshape(B * T, C).index_select(0, where)
        mask = attention_mask.bool()[:, None, None, :]
        for layer in st.layers:
            packed = layer.forward_packed(packed, where, (B, T), mask)
        return packed.new_zeros(B * T, C).index_copy_(0, where, packed).view(B, T, C)

    def decode(self, dec_ids, enc, enc_mask=None, dec_mask=None) -> torch.Tensor:
        st = self.model.decoder
        x = self._embed(dec_ids, st)
        mask = None
        if dec_mask is not None:
            T = dec_ids.shape[1]
            mask = (
                torch.ones(T, T, dtype=torch.bool, device=x.device).tril()[None, None]
                & dec_mask.bool()[:, None, None, :]
            )
        cross = None if enc_mask is None else enc_mask.bool()[:, None, None, :]
        for layer in st.layers:
            x = self._checkpointed(layer, x, mask, mask is None, cross, enc)
        return x

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return linear_bias(h, self.lm_head, self.final_logits_bias.to(h.dtype))

    def cross_attention_kv(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        attentions = [layer.encoder_attn for layer in self.model.decoder.layers]
        return [(a.split(linear(enc, a.k_proj)), a.split(linear(enc, a.v_proj))) for a in attentions]

    # ---- generation hooks -----------------------------------------------------------------------------------------
    def _gen_start(self, input_ids, attention_mask, max_len: int, expand: int) -> dict[str, Any]:
        c = self.config
        if max_len > c.max_position_embeddings:
            raise ConfigError(f"{max_len} decoder positions exceed max_position_embeddings={c.max_position_embeddings}")
        state = self._encode_for_generation(input_ids, attention_mask, expand)
        heads, k = c.decoder_attention_heads, state["cross_kv"][0][0]
        state["cache"] = BeamKVCache(
            c.decoder_layers, state["rows"], heads, max_len, c.d_model // heads, k.dtype, k.device
        )
        return state

    def _gen_step(self, tokens, state, start: int, position_ids=None, key_mask=None) -> torch.Tensor:
        st = self.model.decoder
        cache = state["cache"]
        x = cache.to_physical(self._embed(tokens, st, start))  # rows in the cache's order (see BeamKVCache)
        causal = tokens.shape[1] > 1  # the first step may hold several tokens; later steps see the whole cache
        for i, layer in enumerate(st.layers):
            x = layer(x, None, causal, state["cross_mask"], None, state["cross_kv"][i], cache, i, start)
        return self.head(cache.to_beams(x[:, -1]))
