"""T5 v1.0 and v1.1: pre-RMSNorm encoder-decoder with relative position buckets (bias from the first layer, shared
by all), unscaled attention, ReLU or gated-GELU feed-forward, and a tied head rescaled by d_model**-0.5 (v1.0) or
an untied one (v1.1). Module names follow HF (``encoder.block.0.layer.0.SelfAttention.q``)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from massivetext.models.base import RMSNorm, activation, embedding
from massivetext.models.cache import BeamKVCache
from massivetext.models.config import T5Config
from massivetext.models.fast_linear import linear
from massivetext.models.seq2seq import EncoderDecoderLM, attend


def relative_position_bucket(rel: torch.Tensor, bidirectional: bool, num_buckets: int, max_distance: int):
    """T5's bucketing of key - query distances: exact for small ones, logarithmic up to max_distance."""
    buckets = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        buckets += (rel > 0).long() * num_buckets
        rel = rel.abs()
    else:
        rel = -torch.clamp(rel, max=0)
    max_exact = num_buckets // 2
    is_small = rel < max_exact
    large = (
        max_exact
        + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)).long()
    )
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, rel, large)


class Attention(nn.Module):
    def __init__(self, c: T5Config, has_bias: bool, bidirectional: bool):
        super().__init__()
        self.h, self.d = c.num_heads, c.d_kv
        inner = c.num_heads * c.d_kv
        self.q = nn.Linear(c.d_model, inner, bias=False)
        self.k = nn.Linear(c.d_model, inner, bias=False)
        self.v = nn.Linear(c.d_model, inner, bias=False)
        self.o = nn.Linear(inner, c.d_model, bias=False)
        self.bidirectional = bidirectional
        self.buckets, self.max_distance = c.relative_attention_num_buckets, c.relative_attention_max_distance
        if has_bias:
            self.relative_attention_bias = embedding(self.buckets, self.h)
        self.p = c.dropout_rate

    def position_bias(self, q_len: int, k_len: int, q_start: int = 0) -> torch.Tensor:
        """(1, heads, q_len, k_len) additive bias for queries at [q_start, q_start+q_len) and keys [0, k_len)."""
        dev = self.relative_attention_bias.weight.device
        q = torch.arange(q_start, q_start + q_len, device=dev)[:, None]
        k = torch.arange(k_len, device=dev)[None, :]
        b = relative_position_bucket(k - q, self.bidirectional, self.buckets, self.max_distance)
        return self.relative_attention_bias(b).permute(2, 0, 1).unsqueeze(0)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, self.h, self.d).transpose(1, 2)

    def forward(self, x, mask, kv=None, cache=None, layer=0, start=0) -> torch.Tensor:
        """mask: additive float or boolean, broadcast to (B, heads, q, k); kv: precomputed cross-attention (k, v)."""
        B, T, _ = x.shape
        q = self.split(self.q(x))
        if kv is None:
            k, v = self.split(self.k(x)), self.split(self.v(x))
            if cache is not None:
                k, v = cache.update(layer, k, v, start)
        else:
            k, v = kv
        y = attend(q, k, v, mask, dropout=self.p if self.training else 0.0, scale=1.0)
        return self.o(y.transpose(1, 2).reshape(B, T, self.h * self.d))


class DenseReluDense(nn.Module):
    def __init__(self, c: T5Config):
        super().__init__()
        self.gated = c.is_gated
        if self.gated:
            self.wi_0 = nn.Linear(c.d_model, c.d_ff, bias=False)
            self.wi_1 = nn.Linear(c.d_model, c.d_ff, bias=False)
        else:
            self.wi = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)
        self.act = activation(c.act_name)
        self.p = c.dropout_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.wi_0(x)) * self.wi_1(x) if self.gated else self.act(self.wi(x))
        return self.wo(F.dropout(h, self.p, self.training))


class SubLayer(nn.Module):
    """One of T5's ``layer`` entries: pre-norm, the op, dropout, residual (named as HF names them)."""

    def __init__(self, c: T5Config, kind: str, has_bias: bool = False, bidirectional: bool = True):
        super().__init__()
        if kind == "ff":
            self.DenseReluDense = DenseReluDense(c)
        else:
            setattr(self, kind, Attention(c, has_bias, bidirectional))
        self.kind = kind
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        self.p = c.dropout_rate

    def forward(self, x, *args, **kwargs) -> torch.Tensor:
        op = self.DenseReluDense if self.kind == "ff" else getattr(self, self.kind)
        y = x + F.dropout(op(self.layer_norm(x), *args, **kwargs), self.p, self.training)
        if y.dtype == torch.float16:  # as transformers: keep fp16 activations finite
            m = torch.finfo(torch.float16).max - 1000
            y = y.clamp(-m, m)
        return y


class Block(nn.Module):
    def __init__(self, c: T5Config, decoder: bool, first: bool):
        super().__init__()
        layers = [SubLayer(c, "SelfAttention", has_bias=first, bidirectional=not decoder)]
        if decoder:
            layers.append(SubLayer(c, "EncDecAttention"))
        layers.append(SubLayer(c, "ff"))
        self.layer = nn.ModuleList(layers)
        self.decoder = decoder

    def forward(self, x, self_mask, cross_mask=None, enc=None, cross_kv=None, cache=None, idx=0, start=0):
        x = self.layer[0](x, self_mask, cache=cache, layer=idx, start=start)
        if self.decoder:
            if cross_kv is None:
                att = self.layer[1].EncDecAttention
                cross_kv = (att.split(att.k(enc)), att.split(att.v(enc)))
            x = self.layer[1](x, cross_mask, kv=cross_kv)
        return self.layer[-1](x)


class Stack(nn.Module):
    def __init__(self, c: T5Config, decoder: bool):
        super().__init__()
        n = c.num_decoder_layers if decoder else c.num_layers
        self.block = nn.ModuleList(Block(c, decoder, i == 0) for i in range(n))
        self.final_layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
        self.p = c.dropout_rate

    @property
    def bias_attention(self) -> Attention:
        return self.block[0].layer[0].SelfAttention


def _additive(mask_bool: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(mask_bool.shape, dtype=dtype, device=mask_bool.device).masked_fill(
        ~mask_bool, torch.finfo(dtype).min
    )


class T5ForConditionalGeneration(EncoderDecoderLM):
    config_class = T5Config
    hf_architecture = "T5ForConditionalGeneration"
    # the original checkpoints carry copies of the shared embedding and an unused cross-attention bias table
    hf_ignored = [r"^(encoder|decoder)\.embed_tokens\.weight$", r"EncDecAttention\.relative_attention_bias"]

    def __init__(self, config: T5Config):
        super().__init__(config)
        self.shared = embedding(config.vocab_size, config.d_model)
        self.encoder = Stack(config, decoder=False)
        self.decoder = Stack(config, decoder=True)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self._init(config)
        self.tie_weights()

    def _init(self, c: T5Config) -> None:
        """T5's init (transformers' T5PreTrainedModel._init_weights with initializer_factor)."""
        if self.shared.weight.is_meta:  # from_pretrained: the checkpoint fills every weight (and meta normal_ imports
            return  # torch._dynamo, ~70 MB resident)
        f = c.initializer_factor
        with torch.no_grad():
            self.shared.weight.normal_(0.0, f * 1.0)
            self.lm_head.weight.normal_(0.0, f * 1.0)
            for m in self.modules():
                if isinstance(m, Attention):
                    for lin, fan in (
                        (m.q, c.d_model * c.d_kv),
                        (m.k, c.d_model),
                        (m.v, c.d_model),
                        (m.o, c.num_heads * c.d_kv),
                    ):
                        lin.weight.normal_(0.0, f * fan**-0.5)
                    if hasattr(m, "relative_attention_bias"):
                        m.relative_attention_bias.weight.normal_(0.0, f * c.d_model**-0.5)
                elif isinstance(m, DenseReluDense):
                    for name in ("wi", "wi_0", "wi_1"):
                        if hasattr(m, name):
                            getattr(m, name).weight.normal_(0.0, f * c.d_model**-0.5)
                    m.wo.weight.normal_(0.0, f * c.d_ff**-0.5)

    @property
    def rescale(self) -> bool:
        s = self.config.extra.get("scale_decoder_outputs")
        return bool(self.config.tie_word_embeddings if s is None else s)

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.shared.weight

    def tied(self) -> dict[str, str]:
        return {"lm_head.weight": "shared.weight"} if self.config.tie_word_embeddings else {}

    def get_input_embeddings(self) -> nn.Embedding:
        return self.shared

    # ---- encoder / decoder --------------------------------------------------------------------------------------
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        st = self.encoder
        x = F.dropout(self.shared(input_ids), st.p, self.training)
        T = input_ids.shape[1]
        bias = st.bias_attention.position_bias(T, T).to(x.dtype)
        if attention_mask is not None:
            bias = bias + _additive(attention_mask.bool()[:, None, None, :], x.dtype)
        for blk in st.block:
            x = self._checkpointed(blk, x, bias)
        return F.dropout(st.final_layer_norm(x), st.p, self.training)

    def decode(self, dec_ids, enc, enc_mask=None, dec_mask=None) -> torch.Tensor:
        st = self.decoder
        x = F.dropout(self.shared(dec_ids), st.p, self.training)
        T = dec_ids.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()[None, None]
        if dec_mask is not None:
            causal = causal & dec_mask.bool()[:, None, None, :]
        self_mask = st.bias_attention.position_bias(T, T).to(x.dtype) + _additive(causal, x.dtype)
        cross = None if enc_mask is None else enc_mask.bool()[:, None, None, :]
        for blk in st.block:
            x = self._checkpointed(blk, x, self_mask, cross, enc)
        return F.dropout(st.final_layer_norm(x), st.p, self.training)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        if self.rescale:
            h = h * (self.config.d_model**-0.5)
        return linear(h, self.lm_head)

    def cross_attention_kv(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        attentions = [blk.layer[1].EncDecAttention for blk in self.decoder.block]
        return [(a.split(a.k(enc)), a.split(a.v(enc))) for a in attentions]

    # ---- generation hooks -----------------------------------------------------------------------------------------
    def _gen_start(self, input_ids, attention_mask, max_len: int, expand: int) -> dict[str, Any]:
        c = self.config
        state = self._encode_for_generation(input_ids, attention_mask, expand)
        enc = state["cross_kv"][0][0]  # (inputs, heads, S, d_kv): its dtype and device
        state["cache"] = BeamKVCache(
            c.num_decoder_layers, state["rows"], c.num_heads, max_len, c.d_kv, enc.dtype, enc.device
        )
        # relative-position bias for every (query, key) pair of the decoder, made once; causal part added
        bias = self.decoder.bias_attention.position_bias(max_len, max_len).to(enc.dtype)
        causal = torch.ones(max_len, max_len, dtype=torch.bool, device=enc.device).tril()[None, None]
        state["bias"] = bias + _additive(causal, enc.dtype)
        return state

    def _gen_step(self, tokens, state, start: int, position_ids=None, key_mask=None) -> torch.Tensor:
        st = self.decoder
        cache = state["cache"]
        x = cache.to_physical(self.shared(tokens))  # rows in the cache's order (see BeamKVCache)
        end = start + tokens.shape[1]
        mask = state["bias"][:, :, start:end, :end]
        for i, blk in enumerate(st.block):
            x = blk(x, mask, state["cross_mask"], None, state["cross_kv"][i], cache, i, start)
        return self.head(st.final_layer_norm(cache.to_beams(x[:, -1])))
