"""GPT: GPT-2 exactly (learned positions, pre-LN, tanh GELU, tied head), plus modern switches for training from
scratch: rotary positions (``mt_rotary``), RMSNorm (``mt_rmsnorm``), SwiGLU (``mt_swiglu``), no biases
(``mt_bias=False``). Attention is ``F.scaled_dot_product_attention`` with a fused QKV projection.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from massivetext.errors import ConfigError
from massivetext.models.base import PreTrainedModel, RMSNorm, activation, check_positions, embedding, init_weights
from massivetext.models.cache import StaticKVCache
from massivetext.models.config import GPTConfig
from massivetext.models.dropout import attention, dropout, dropout_add
from massivetext.models.generation import GenerationMixin
from massivetext.models.losses import causal_lm_loss, causal_lm_loss_from_hidden
from massivetext.models.modeling_outputs import CausalLMOutput


class Rotary(nn.Module):
    """cos/sin tables for rotary position embeddings (rotate-half form), rebuilt rather than stored."""

    def __init__(self, head_dim: int, max_len: int, theta: float):
        super().__init__()
        self.head_dim, self.max_len, self.theta = head_dim, max_len, theta
        self.register_buffer("cos", torch.empty(max_len, head_dim), persistent=False)
        self.register_buffer("sin", torch.empty(max_len, head_dim), persistent=False)
        self.reset_buffers()

    def reset_buffers(self) -> None:
        if torch.empty(0).is_meta:  # built under a meta device: filled in after loading
            return
        device = self.cos.device if self.cos.device.type != "meta" else "cpu"
        inv = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, device=device).float() / self.head_dim))
        freqs = torch.outer(torch.arange(self.max_len, device=device).float(), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def forward(self, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos[position_ids].unsqueeze(1), self.sin[position_ids].unsqueeze(1)  # (B, 1, T, D)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return (x * cos + torch.cat([-x2, x1], dim=-1) * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        d, self.n_head = config.n_embd, config.n_head
        self.head_dim = d // config.n_head
        self.c_attn = nn.Linear(d, 3 * d, bias=config.mt_bias)
        self.c_proj = nn.Linear(d, d, bias=config.mt_bias)
        self.dropout = config.attn_pdrop
        self.resid_dropout = config.resid_pdrop
        self.layer_idx = layer_idx
        scale = 1.0 / math.sqrt(self.head_dim) if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            scale /= layer_idx + 1
        self.scale = scale

    def forward(self, x, rope, mask, cache: StaticKVCache | None, start: int) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v, start)
        # no padding (mask None): causal within the new tokens (a single new token sees everything)
        y = attention(q, k, v, attn_mask=mask, is_causal=mask is None and T > 1, dropout_p=self.dropout,
                      scale=self.scale, training=self.training)  # fmt: skip
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))  # residual dropout: Block, fused with the add


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        d, inner = config.n_embd, config.inner_size
        self.swiglu = config.mt_swiglu
        # SwiGLU fuses gate and up projections in one matmul: c_fc gives 2*inner
        self.c_fc = nn.Linear(d, 2 * inner if self.swiglu else inner, bias=config.mt_bias)
        self.c_proj = nn.Linear(inner, d, bias=config.mt_bias)
        self.act = activation(config.activation_function)
        self.dropout = config.resid_pdrop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)
        if self.swiglu:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = self.act(h)
        return self.c_proj(h)  # residual dropout: Block, fused with the add


def _norm(config: GPTConfig) -> nn.Module:
    if config.mt_rmsnorm:
        return RMSNorm(config.n_embd, config.layer_norm_epsilon)
    return nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.mt_bias)


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = _norm(config)
        self.attn = Attention(config, layer_idx)
        self.ln_2 = _norm(config)
        self.mlp = MLP(config)

    def forward(self, x, rope=None, mask=None, cache=None, start: int = 0) -> torch.Tensor:
        x = dropout_add(x, self.attn(self.ln_1(x), rope, mask, cache, start), self.attn.resid_dropout, self.training)
        return dropout_add(x, self.mlp(self.ln_2(x)), self.mlp.dropout, self.training)


class GPTModel(nn.Module):
    """The transformer trunk, named like HF's ``transformer`` so checkpoint keys map one to one."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.wte = embedding(config.padded_vocab_size, config.n_embd)
        self.wpe = None if config.mt_rotary else embedding(config.n_positions, config.n_embd)
        self.rotary = (
            Rotary(config.n_embd // config.n_head, config.n_positions, config.mt_rope_theta)
            if config.mt_rotary
            else None
        )
        self.drop = config.embd_pdrop
        self.h = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = _norm(config)


class GPTForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = GPTConfig
    hf_architecture = "GPT2LMHeadModel"
    hf_renames = []
    hf_transposed = [r"\.(c_attn|c_proj|c_fc)\.weight$"]
    hf_ignored = [r"\.attn\.(bias|masked_bias)$"]
    can_generate = True

    def __init__(self, config: GPTConfig):
        super().__init__(config)
        self.transformer = GPTModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        init_weights(self, config.initializer_range)
        # GPT-2's scaled init of the residual projections: std / sqrt(2 * layers)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") and not p.is_meta:  # meta (from_pretrained): the checkpoint fills it
                nn.init.normal_(p, 0.0, config.initializer_range / math.sqrt(2 * config.n_layer))
        self.tie_weights()

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    def tied(self) -> dict[str, str]:
        return {"lm_head.weight": "transformer.wte.weight"} if self.config.tie_word_embeddings else {}

    def hf_to_mt(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        state = dict(state)
        if not any(k.startswith("transformer.") for k in state):  # bare GPT2Model checkpoints (e.g. "gpt2")
            state = {f"transformer.{k}": v for k, v in state.items()}
        out = super().hf_to_mt(state)
        extra = self.config.padded_vocab_size - self.config.vocab_size
        for key in ("transformer.wte.weight", "lm_head.weight"):
            if extra and key in out:  # vocab padding is ours: pad on load, slice on save
                out[key] = F.pad(out[key], (0, 0, 0, extra))
        return out

    def mt_to_hf(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = super().mt_to_hf(state)
        for key in ("transformer.wte.weight", "lm_head.weight"):
            if key in out:
                out[key] = out[key][: self.config.vocab_size]
        return out

    def get_input_embeddings(self) -> nn.Embedding:
        return self.transformer.wte

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (forward + backward): 6N + 12 * layers * width * seq_len (PaLM appendix B)."""
        n = self.num_parameters()
        if self.transformer.wpe is not None:
            n -= self.transformer.wpe.weight.numel()
        c = self.config
        return 6.0 * n + 12.0 * c.n_layer * c.n_embd * seq_len

    def trunk(self, input_ids, position_ids=None, mask=None, cache=None, start: int = 0) -> torch.Tensor:
        t = self.transformer
        B, T = input_ids.shape
        check_positions(start + T, self.config.n_positions, "GPT")  # learned and rotary tables alike
        x = t.wte(input_ids)
        if position_ids is None:
            position_ids = torch.arange(start, start + T, device=input_ids.device).unsqueeze(0)
        rope = None
        if t.rotary is not None:
            rope = t.rotary(position_ids)
        else:
            x = x + t.wpe(position_ids)
        x = dropout(x, t.drop, self.training)
        for block in t.h:
            if cache is None:
                x = self._checkpointed(block, x, rope, mask)
            else:
                x = block(x, rope, mask, cache, start)
        return t.ln_f(x)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        shift_labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        label_smoothing: float | None = None,
        logits_to_keep: int = 0,
        return_logits: bool = True,
        **_: Any,
    ) -> CausalLMOutput:
        """``return_logits=False`` with labels: the loss is computed chunk by chunk from the hidden states (the
        (B, T, V) logits are never built) and ``logits`` is None; the Trainer asks for this while training. The
        default, as transformers, returns the logits and computes the loss from them."""
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            # positions stay 0..T-1 as in transformers' forward (generate derives them from the mask)
            mask = padding_causal_mask(attention_mask, input_ids.shape[1], 0)
        h = self.trunk(input_ids, position_ids, mask)
        if logits_to_keep:
            h = h[:, -logits_to_keep:]
        has_labels = labels is not None or shift_labels is not None
        ls = self.config.mt_label_smoothing if label_smoothing is None else label_smoothing
        if has_labels and not return_logits and not logits_to_keep:
            weight = self.lm_head.weight[: self.config.vocab_size]  # the real vocabulary's rows only
            loss = causal_lm_loss_from_hidden(h, weight, labels, shift_labels, num_items_in_batch, ls)
            return CausalLMOutput(loss=loss, logits=None)
        logits = self._true_vocab(self.lm_head(h))
        loss = None
        if has_labels:
            loss = causal_lm_loss(logits, labels, shift_labels, num_items_in_batch, ls)
        return CausalLMOutput(loss=loss, logits=logits)

    # ---- generation hooks (see generation.py) ----------------------------------------------------------------
    def _gen_start(self, input_ids, attention_mask, max_len: int, expand: int = 1) -> dict[str, Any]:
        c = self.config
        if max_len > c.n_positions:  # the rotary table has n_positions rows too
            raise ConfigError(f"prompt + new tokens = {max_len} exceeds the model's context of {c.n_positions}")
        B = input_ids.shape[0]
        cache = StaticKVCache(
            c.n_layer, B, c.n_head, max_len, c.n_embd // c.n_head, self.transformer.ln_f.weight.dtype, input_ids.device
        )
        return {"cache": cache, "lean": self._lean_weights()}

    def _lean_weights(self) -> list[tuple] | None:
        """Per-layer tensors for the one-token decode step of a plain GPT-2 (else None: the general path).
        Matmul weights are kept as (in, out) views, the operand ``addmm`` takes, so no transpose is dispatched."""
        c = self.config
        if c.mt_rotary or c.mt_rmsnorm or c.mt_swiglu or not c.mt_bias or self.training:
            return None
        if c.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
            return None
        out = []
        for b in self.transformer.h:
            a, m = b.attn, b.mlp
            out.append(
                (
                    b.ln_1.weight,
                    b.ln_1.bias,
                    a.c_attn.weight.t(),
                    a.c_attn.bias,
                    a.c_proj.weight.t(),
                    a.c_proj.bias,
                    b.ln_2.weight,
                    b.ln_2.bias,
                    m.c_fc.weight.t(),
                    m.c_fc.bias,
                    m.c_proj.weight.t(),
                    m.c_proj.bias,
                    a.scale,
                )
            )
        return out

    def _lean_step(self, tokens, state, start: int, position_ids) -> torch.Tensor:
        """One new token per row, no padding: the same math as ``trunk`` written as bare (B, C) tensor ops.

        At batch 1 a step streams every weight from L3 (about 21 MB for the benchmark model), which evicts the
        interpreter's own working set, so each small op after a matmul costs several microseconds: module calls,
        masks, 3-D reshapes and layout copies are skipped, the new key and value go into the cache with one copy,
        and residual adds are in place (a single query's (B, H, 1, D) output already has (B, C) layout).
        """
        t, c = self.transformer, self.config
        B, C, H = tokens.shape[0], c.n_embd, c.n_head
        eps, shape = c.layer_norm_epsilon, (c.n_embd,)
        pos = t.wpe.weight[start] if position_ids is None else F.embedding(position_ids.view(B), t.wpe.weight)
        x = F.embedding(tokens.view(B), t.wte.weight).add_(pos)
        cache = state["cache"]
        end = start + 1
        for i, (w1, b1, wa, ba, wp, bp, w2, b2, wf, bf, wo, bo, scale) in enumerate(state["lean"]):
            qkv = torch.addmm(ba, F.layer_norm(x, shape, w1, b1, eps), wa).view(B, 3, H, 1, C // H)
            cache.kv_layers[i].narrow(3, start, 1).copy_(qkv[:, 1:])  # (B, 2, H, 1, D): key and value at once
            k, v = cache.k_layers[i].narrow(2, 0, end), cache.v_layers[i].narrow(2, 0, end)
            y = F.scaled_dot_product_attention(qkv[:, 0], k, v, scale=scale)
            x = torch.addmm(bp, y.view(B, C), wp).add_(x)
            h = F.gelu(torch.addmm(bf, F.layer_norm(x, shape, w2, b2, eps), wf), approximate="tanh")
            x = torch.addmm(bo, h, wo).add_(x)
        x = F.layer_norm(x, shape, t.ln_f.weight, t.ln_f.bias, eps)
        return self._true_vocab(torch.mm(x, self.lm_head.weight.t()))

    def _gen_step(self, tokens, state, start: int, position_ids, key_mask) -> torch.Tensor:
        """Logits (B, V) for the last of ``tokens`` (B, t) placed at [start, start+t); key_mask covers [0, start+t)."""
        lean = state.get("lean") is not None and tokens.shape[0] == state["cache"].kv.shape[1]
        if tokens.shape[1] == 1 and key_mask is None and lean:
            return self._lean_step(tokens, state, start, position_ids)
        mask = None
        if key_mask is not None:
            mask = padding_causal_mask(key_mask, tokens.shape[1], start)
        h = self.trunk(tokens, position_ids, mask, state["cache"], start)
        return self._true_vocab(self.lm_head(h[:, -1]))

    def _gen_reorder(self, state, index: torch.Tensor) -> None:
        state["cache"].reorder(index)

    # beam search may pass _gen_reorder a shorter index (inputs whose beams are done leave the batch: the cache
    # keeps the rows it is given), and may run the first step (the prompt) once per input: StaticKVCache writes
    # each row to all of its input's beams
    _gen_drops_rows = True
    _gen_first_step_once = True

    def _true_vocab(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of the real vocabulary: the rows added to pad it to a multiple (for fast matmuls) are cut off."""
        c = self.config
        return logits[..., : c.vocab_size] if c.padded_vocab_size != c.vocab_size else logits


def padding_causal_mask(key_mask: torch.Tensor, q_len: int, start: int) -> torch.Tensor:
    """Boolean (B, 1, q_len, k_len) mask: causal over positions and no padded keys; a row with nothing to see
    (a pad query) sees itself, so SDPA returns numbers rather than NaN for it."""
    k_len = key_mask.shape[1]
    device = key_mask.device
    q_pos = torch.arange(start, start + q_len, device=device).unsqueeze(1)
    k_pos = torch.arange(k_len, device=device).unsqueeze(0)
    allowed = (k_pos <= q_pos).unsqueeze(0) & key_mask.bool()[:, None, :]
    allowed = allowed | (k_pos == q_pos).unsqueeze(0)
    return allowed.unsqueeze(1)
