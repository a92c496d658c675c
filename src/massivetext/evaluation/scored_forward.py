"""The forward pass of a causal LM cut down to what scoring some positions needs, for sliding-window perplexity.

A window of the perplexity guide scores only its last ``stride`` positions; the first ``max_length - stride`` are
context. Exactly (not approximately) the context positions need:

- every layer but the last: all of it (later positions attend to their keys and values at every layer);
- the last layer: only their keys and values (``2 C^2`` of the block's ``12 C^2`` multiply-adds per token); the
  query, attention output, MLP, final norm and output layer are needed only at the scored positions;
- the output layer and its log-softmax: nothing (a position's logits only score its own next token);
- the window's very last token is only a target: no position needs its hidden state at all.

``split_lm_head`` returns the model as a ``body(input_ids, first)`` giving the final hidden states of positions
``[first, T)`` plus the output layer's weight and bias, so that ``token_nll`` applies the output layer (in blocks of
rows, with ``cross_entropy``'s fused log-softmax) to the scored rows only. For MassiveText's GPT the last block is
run here from the model's own modules (``models/`` is not changed): keys and values of every position, queries
and everything after them for positions ``[first, T)`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# transformers causal LMs whose logits are exactly ``get_output_embeddings()(base model's last_hidden_state)``
# (no soft-capping, logit scale or extra projection): their body and head can be run apart.
_HF_PLAIN_HEAD = {"GPT2LMHeadModel", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "GPTNeoXForCausalLM"}


@dataclass
class LMHead:
    """A causal LM cut in two: ``body(input_ids, first)`` gives the final hidden states (B, T - first, C) of
    positions ``[first, T)``, which the output layer (``weight`` (V, C), ``bias``) turns into the logits of the
    real vocabulary."""

    body: Callable[[torch.Tensor, int], torch.Tensor]
    weight: torch.Tensor
    bias: torch.Tensor | None


def split_lm_head(model: torch.nn.Module, *, last_block_scored_only: bool = True) -> LMHead | None:
    """Body and output layer of a MassiveText causal LM with a ``trunk`` (GPT) or a known transformers one;
    None for any other model (its full logits are used instead). ``last_block_scored_only`` (MassiveText GPT):
    the last block computes queries and everything after them only for the asked positions."""
    head = getattr(model, "lm_head", None)
    trunk = getattr(model, "trunk", None)
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if type(model).__module__.startswith("massivetext.") and callable(trunk) and isinstance(head, torch.nn.Linear):
        # rows past vocab_size pad the matrix to a fast multiple: the model's own logits drop them too
        bias = head.bias[:vocab] if head.bias is not None else None
        from massivetext.models.gpt import GPTForCausalLM

        if last_block_scored_only and isinstance(model, GPTForCausalLM):
            return LMHead(lambda x, first: gpt_scored_hidden(model, x, first), head.weight[:vocab], bias)
        return LMHead(lambda x, first: trunk(x)[:, first:], head.weight[:vocab], bias)
    if type(model).__name__ in _HF_PLAIN_HEAD:
        out = model.get_output_embeddings()
        base = getattr(model, model.base_model_prefix, None)
        if isinstance(out, torch.nn.Linear) and base is not None:
            return LMHead(
                lambda x, first: base(input_ids=x, use_cache=False).last_hidden_state[:, first:], out.weight, out.bias
            )
    return None


def gpt_scored_hidden(model: torch.nn.Module, input_ids: torch.Tensor, first: int) -> torch.Tensor:
    """MassiveText GPT's final hidden states (B, T - first, C) of positions ``[first, T)``, equal to
    ``model.trunk(input_ids)[:, first:]``: all blocks but the last run as the model runs them; the last computes
    keys and values for every position and the rest only for positions ``[first, T)`` (no padding mask: windows
    are right-padded, which a causal model never sees)."""
    from massivetext.models.base import check_positions
    from massivetext.models.gpt import apply_rotary

    t, config = model.transformer, model.config
    B, T = input_ids.shape
    check_positions(T, config.n_positions, "GPT")
    x = t.wte(input_ids)
    positions = torch.arange(T, device=input_ids.device).unsqueeze(0)
    rope = t.rotary(positions) if t.rotary is not None else None
    if rope is None:
        x = x + t.wpe(positions)
    for block in t.h[:-1]:
        x = block(x, rope)
    last = t.h[-1]
    attn = last.attn
    C, H = x.shape[-1], attn.n_head
    D, Tq = C // H, T - first
    y = last.ln_1(x)
    w, b = attn.c_attn.weight, attn.c_attn.bias  # (3C, C): rows [0, C) make the query, [C, 3C) key and value
    q = F.linear(y[:, first:], w[:C], None if b is None else b[:C]).view(B, Tq, H, D).transpose(1, 2)
    k, v = F.linear(y, w[C:], None if b is None else b[C:]).view(B, T, 2, H, D).permute(2, 0, 3, 1, 4).unbind(0)
    if rope is not None:
        cos, sin = rope
        q, k = apply_rotary(q, cos[:, :, first:], sin[:, :, first:]), apply_rotary(k, cos, sin)
    if first == 0:
        o = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, scale=attn.scale)
    else:  # query i sits at position first + i and sees keys 0 .. first + i (causal, aligned bottom-right)
        allowed = torch.ones(Tq, T, dtype=torch.bool, device=x.device).tril(first)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=attn.scale)
    x = x[:, first:] + attn.c_proj(o.transpose(1, 2).reshape(B, Tq, C))
    x = x + last.mlp(last.ln_2(x))
    return t.ln_f(x)


def token_nll(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor
) -> torch.Tensor:
    """-log p(target) for each row of ``hidden`` (N, C) under the output layer, float32 (N,): the logits are made
    and reduced a block of rows at a time (log-softmax and gather fused in ``cross_entropy``), so no (N, V) tensor,
    nor an fp32 copy of one, ever exists, and a block stays in cache between the matmul and the reduction."""
    n, vocab = hidden.shape[0], weight.shape[0]
    rows = max(16, (1 << 21) // max(vocab, 1))  # ~2M logits (8 MB fp32) per block
    out = torch.empty(n, dtype=torch.float32, device=hidden.device)
    for i in range(0, n, rows):
        logits = F.linear(hidden[i : i + rows], weight, bias)
        out[i : i + rows] = F.cross_entropy(logits.float(), targets[i : i + rows], reduction="none")
    return out
