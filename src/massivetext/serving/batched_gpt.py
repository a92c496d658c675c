"""The two model calls continuous batching needs from a GPT: a prefill of new prompts into chosen KV-cache slots,
and one decode step for slots that each sit at their own position.

``model.generate`` runs a batch whose rows share one position; a serving batch does not (requests join and leave
at any token), so the decode step here writes each row's new key/value at that row's position and masks every
row's attention to its own filled prefix. It uses the model's own modules (norms, fused QKV, rotary tables, MLP,
head), so every GPT switch (rotary, RMSNorm, SwiGLU, no bias) is served by the same math as ``generate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from massivetext.errors import ConfigError
from massivetext.models.gpt import GPTForCausalLM, apply_rotary

# oneDNN's inner product with a weight reordered once into its blocked layout (what torch's inductor uses for
# frozen CPU linears). On this project's CPUs (AMD EPYC, one thread), at the decode shapes of the benchmark model
# (rows 2-32 by 256-1024 features; the 256 x 8192 LM head), it took 40-65% of MKL sgemm's time for the LM head and
# 75-90% for the layer matmuls (benchmarks/serve_vs_hf.py's model; thread CPU time). At one row MKL's addmm is
# faster for the layer matmuls, so a lone request keeps those and takes only the packed LM head.
_ONEDNN = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None


@dataclass
class PackedWeights:
    layers: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]  # c_attn, attn c_proj, c_fc, c_proj
    head: torch.Tensor  # the LM head (padded vocabulary rows included)


def _pack_decode_weights(model: GPTForCausalLM, rows: int) -> PackedWeights | None:
    """Every decode matmul's weight prepacked for oneDNN (``rows``: the batch size it is tuned for), or None where
    that does not apply (not a CPU float32 model, a torch without oneDNN or without the reorder op)."""
    head = model.lm_head.weight
    if _ONEDNN is None or head.device.type != "cpu" or head.dtype is not torch.float32:
        return None
    try:
        reorder = torch.ops.mkldnn._reorder_linear_weight

        def pack(w: torch.Tensor) -> torch.Tensor:
            return reorder(w.detach(), rows)

        layers = [
            (pack(b.attn.c_attn.weight), pack(b.attn.c_proj.weight), pack(b.mlp.c_fc.weight), pack(b.mlp.c_proj.weight))
            for b in model.transformer.h
        ]
        packed = PackedWeights(layers, pack(head))
        x = torch.zeros(2, head.shape[1])
        _ONEDNN(x, packed.head, None, "none", [], "")  # a torch whose op does not take the packed weight fails here
        return packed
    except (AttributeError, RuntimeError):
        return None


def _addmm_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.addmm(b, x, w)


def _packed_linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _ONEDNN(x, w, b, "none", [], "")


class SlotPrefillCache:
    """What ``GPTForCausalLM.trunk`` expects of a cache (``update``), writing a prefill batch's keys and values
    into rows ``slots`` of the engine's slot cache instead of into a cache of its own."""

    def __init__(self, k: list[torch.Tensor], v: list[torch.Tensor], slots: torch.Tensor):
        self.k, self.v, self.slots = k, v, slots

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        T = k.size(2)
        self.k[layer][self.slots, :, start : start + T] = k
        self.v[layer][self.slots, :, start : start + T] = v
        return k, v  # a prefill starts at 0, so the new keys are the whole filled prefix


class BatchedGPT:
    """Prefill and decode for a ``GPTForCausalLM`` over ``slots`` preallocated cache rows of ``max_len`` positions.

    Keys and values are kept per layer as (slots, heads, max_len, head_dim), apart, so the first B slots' filled
    prefix is a view whose (slot, head) dims fold into one batch dim: attention reads the cache in place (with
    the models' interleaved key/value layout, SDPA's CPU kernel copied it every step: 6x slower at 32 rows).
    """

    def __init__(self, model: GPTForCausalLM, slots: int, max_len: int):
        if not isinstance(model, GPTForCausalLM):
            raise ConfigError(
                f"continuous batching serves GPT-family causal LMs; {type(model).__name__} is not one "
                "(serve it with --task for its pipeline)"
            )
        c = model.config
        if max_len > c.n_positions:
            raise ConfigError(f"--max-model-len {max_len} exceeds the model's context of {c.n_positions}")
        self.model, self.config = model, c
        self.slots, self.max_len = slots, max_len
        self.heads, self.head_dim = c.n_head, c.n_embd // c.n_head
        dtype = model.transformer.ln_f.weight.dtype
        self.device = model.transformer.wte.weight.device
        shape = (c.n_layer, slots, c.n_head, max_len, self.head_dim)
        self.k_cache = torch.zeros(shape, dtype=dtype, device=self.device)
        self.v_cache = torch.zeros(shape, dtype=dtype, device=self.device)
        self.k_layers, self.v_layers = list(self.k_cache.unbind(0)), list(self.v_cache.unbind(0))
        self.k_flat = [k.view(-1, self.head_dim) for k in self.k_layers]
        self.v_flat = [v.view(-1, self.head_dim) for v in self.v_layers]
        self._arange = torch.arange(max_len, device=self.device)
        # (slots, heads): the flat cache row of (slot, head, position 0)
        self._slot_heads = torch.arange(slots * c.n_head, device=self.device).view(slots, c.n_head) * max_len
        # a plain GPT-2 gets the bare-tensor step (the weights ``generate``'s own fast step uses); others the modules
        lean = getattr(model, "_lean_weights", None)
        self.lean = lean() if lean is not None else None
        self.packed = _pack_decode_weights(model, slots) if self.lean is not None else None
        # the four matmul weights of each layer (qkv, attention out, MLP in, MLP out) in the lean tuples' layout
        self._addmm_weights = [(wa, wp, wf, wo) for (_, _, wa, _, wp, _, _, _, wf, _, wo, _, _) in self.lean or []]

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        logits = self.model.lm_head(h)
        v = self.config.vocab_size
        return logits[..., :v] if self.config.padded_vocab_size != v else logits

    @torch.inference_mode()
    def prefill(self, prompts: list[list[int]], slots: list[int]) -> torch.Tensor:
        """Run whole prompts (right-padded into one batch) into the given slots; logits (B, V) of each last token.

        Right padding keeps every real token's causal attention and positions exactly as for that prompt alone;
        the pad positions' keys land beyond each row's length, where the row's decode steps overwrite them."""
        lengths = [len(p) for p in prompts]
        T = max(lengths)
        ids = torch.zeros((len(prompts), T), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        ids = ids.to(self.device)
        slot_t = torch.tensor(slots, dtype=torch.long, device=self.device)
        last = torch.tensor([n - 1 for n in lengths], device=self.device)
        if self.packed is not None:
            return self._packed_prefill(ids, slot_t, last)
        h = self.model.trunk(ids, None, None, SlotPrefillCache(self.k_layers, self.v_layers, slot_t), 0)
        return self._logits(h[torch.arange(len(prompts), device=self.device), last])

    def _packed_prefill(self, ids: torch.Tensor, slots: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """``prefill`` for a plain GPT-2 with the prepacked oneDNN weights (15-20% faster than MKL at thousands of
        rows): ``trunk``'s math (causal attention within the prompt) on (B*T, C) rows; the head for the last
        tokens only."""
        t, c = self.model.transformer, self.config
        B, T = ids.shape
        H, D, C = self.heads, self.head_dim, c.n_embd
        eps, shape = c.layer_norm_epsilon, (C,)
        x = F.embedding(ids, t.wte.weight).add_(t.wpe.weight[:T]).view(B * T, C)
        for i, ((w1, b1, _, ba, _, bp, w2, b2, _, bf, _, bo, scale), (pa, pp, pf, po)) in enumerate(
            zip(self.lean, self.packed.layers)
        ):
            qkv = _ONEDNN(F.layer_norm(x, shape, w1, b1, eps), pa, ba, "none", [], "")
            q, k, v = qkv.view(B, T, 3, H, D).permute(2, 0, 3, 1, 4).unbind(0)
            self.k_layers[i][slots, :, :T] = k
            self.v_layers[i][slots, :, :T] = v
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, scale=scale)
            x = _ONEDNN(y.transpose(1, 2).reshape(B * T, C), pp, bp, "none", [], "").add_(x)
            h = F.gelu(_ONEDNN(F.layer_norm(x, shape, w2, b2, eps), pf, bf, "none", [], ""), approximate="tanh")
            x = _ONEDNN(h, po, bo, "none", [], "").add_(x)
        rows = torch.arange(B, device=self.device) * T + last
        return self._head(x[rows], None)

    @torch.inference_mode()
    def decode(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor | Sequence[int],
        kv_len: int,
        masked: bool,
        before_head: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """One token for each of slots 0..B-1 (B = len(tokens)), slot b's token at ``positions[b]``; logits (B, V).

        ``kv_len`` is the longest filled prefix (max position + 1) and ``masked`` whether any row sits below it (the
        engine knows both without reading the tensors); ``before_head`` runs right before the LM head, the step's
        longest kernel. Each row attends to its own filled prefix only. Slots past
        the running ones are not computed; a free slot below them runs a dummy token at position 0, which its next
        prefill overwrites."""
        return self.step(tokens, positions, kv_len, masked, before_head)

    def step(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor | Sequence[int],
        kv_len: int,
        masked: bool,
        before_head: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """``decode`` for a caller already in inference mode (the engine's loop): no context of its own, and
        ``positions`` may be Python ints, made a tensor only where a row needs it (B > 1). At one row of the 2x128
        benchmark model the context and the tensor were each ~3% of the step."""
        t = self.model.transformer
        B = tokens.shape[0]
        if self.lean is not None and B == 1:  # a lone request: at position kv_len - 1, nothing to mask
            return self._lean_decode_one(tokens, kv_len - 1, before_head)
        H, D = self.heads, self.head_dim
        C = H * D
        if not isinstance(positions, torch.Tensor):
            positions = torch.tensor(positions, dtype=torch.long, device=self.device)
        mask = None
        if masked:  # (B, 1, 1, kv_len): True where a row may look (up to its own position)
            mask = (self._arange[:kv_len][None, :] <= positions[:, None])[:, None, None, :]
        # where each row's new key/value goes in a layer's cache seen as (slots * heads * max_len, head_dim)
        where = ((self._slot_heads[:B] + positions[:, None]).view(-1), D)
        if self.lean is not None:
            return self._lean_decode(tokens, positions, where, kv_len, mask, before_head)
        x = t.wte(tokens)
        rope = None
        if t.rotary is not None:
            rope = (t.rotary.cos[positions][:, None], t.rotary.sin[positions][:, None])  # (B, 1, D)
        else:
            x = x + t.wpe(positions)
        for i, block in enumerate(t.h):
            a = block.attn
            qkv = a.c_attn(block.ln_1(x)).view(B, 3, H, D)
            q, k = qkv[:, 0], qkv[:, 1]
            if rope is not None:
                q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
            self._write(i, where, k, qkv[:, 2])
            keys, values = self.k_layers[i][:B, :, :kv_len], self.v_layers[i][:B, :, :kv_len]
            y = F.scaled_dot_product_attention(q[:, :, None], keys, values, attn_mask=mask, scale=a.scale)
            x = x + a.c_proj(y.view(B, C))
            x = x + block.mlp(block.ln_2(x))
        x = t.ln_f(x)
        if before_head is not None:
            before_head()
        return self._logits(x)

    def _write(self, layer: int, where: tuple[torch.Tensor, int], k: torch.Tensor, v: torch.Tensor) -> None:
        """Each row's new key and value (B, H, D) into its slot at its position: one indexed copy each."""
        index, D = where
        self.k_flat[layer].index_copy_(0, index, k.reshape(-1, D))
        self.v_flat[layer].index_copy_(0, index, v.reshape(-1, D))

    def _lean_decode(self, tokens, positions, where, kv_len: int, mask, before_head) -> torch.Tensor:
        """``decode`` for a plain GPT-2 as bare (B, C) tensor ops: no module calls, in-place residual adds."""
        t, c = self.model.transformer, self.config
        B, H, D = tokens.shape[0], self.heads, self.head_dim
        C, eps, shape = H * D, c.layer_norm_epsilon, (c.n_embd,)
        x = F.embedding(tokens, t.wte.weight).add_(F.embedding(positions, t.wpe.weight))
        if self.packed is not None and B > 1:  # oneDNN with prepacked weights: see _pack_decode_weights
            weights, linear = self.packed.layers, _packed_linear
        else:
            weights, linear = self._addmm_weights, _addmm_linear
        for i, ((w1, b1, _, ba, _, bp, w2, b2, _, bf, _, bo, scale), (wa, wp, wf, wo)) in enumerate(
            zip(self.lean, weights)
        ):
            qkv = linear(F.layer_norm(x, shape, w1, b1, eps), wa, ba).view(B, 3, H, D)
            self._write(i, where, qkv[:, 1], qkv[:, 2])
            y = F.scaled_dot_product_attention(
                qkv[:, 0, :, None],
                self.k_layers[i][:B, :, :kv_len],
                self.v_layers[i][:B, :, :kv_len],
                attn_mask=mask,
                scale=scale,
            )
            x = linear(y.view(B, C), wp, bp).add_(x)
            h = F.gelu(linear(F.layer_norm(x, shape, w2, b2, eps), wf, bf), approximate="tanh")
            x = linear(h, wo, bo).add_(x)
        return self._head(x, before_head)

    def _lean_decode_one(self, tokens: torch.Tensor, pos: int, before_head) -> torch.Tensor:
        """``_lean_decode`` for slot 0 alone at Python position ``pos``: ``generate``'s own one-row step (its
        ``_lean_step``) on the slot cache. With one row every small op counts (the 2x128 benchmark model's step is
        ~0.35 ms): the position's embedding and the cache rows are plain views, no index tensors are built, and
        the new key and value go in with one copy each instead of an ``index_copy_`` over a computed index."""
        t, c = self.model.transformer, self.config
        H, D = self.heads, self.head_dim
        C, eps, shape = H * D, c.layer_norm_epsilon, (c.n_embd,)
        x = F.embedding(tokens, t.wte.weight).add_(t.wpe.weight[pos])
        end = pos + 1
        for i, (w1, b1, wa, ba, wp, bp, w2, b2, wf, bf, wo, bo, scale) in enumerate(self.lean):
            qkv = torch.addmm(ba, F.layer_norm(x, shape, w1, b1, eps), wa).view(1, 3, H, 1, D)
            k_cache, v_cache = self.k_layers[i][:1], self.v_layers[i][:1]  # (1, H, max_len, D)
            k_cache.narrow(2, pos, 1).copy_(qkv[:, 1])
            v_cache.narrow(2, pos, 1).copy_(qkv[:, 2])
            y = F.scaled_dot_product_attention(
                qkv[:, 0], k_cache.narrow(2, 0, end), v_cache.narrow(2, 0, end), scale=scale
            )
            x = torch.addmm(bp, y.view(1, C), wp).add_(x)
            h = F.gelu(torch.addmm(bf, F.layer_norm(x, shape, w2, b2, eps), wf), approximate="tanh")
            x = torch.addmm(bo, h, wo).add_(x)
        return self._head(x, before_head)

    def _head(self, x: torch.Tensor, before_head) -> torch.Tensor:
        """Final norm and LM head of the lean step (the head through the packed weight when there is one)."""
        t, c = self.model.transformer, self.config
        x = F.layer_norm(x, (c.n_embd,), t.ln_f.weight, t.ln_f.bias, c.layer_norm_epsilon)
        if before_head is not None:
            before_head()
        if self.packed is not None:
            logits = _ONEDNN(x, self.packed.head, None, "none", [], "")
        else:
            logits = torch.mm(x, self.model.lm_head.weight.t())
        return logits[..., : c.vocab_size] if c.padded_vocab_size != c.vocab_size else logits

    @torch.inference_mode()
    def embed(self, prompts: list[list[int]]) -> torch.Tensor:
        """Mean over each prompt's tokens of the final hidden states (after the last norm): (B, C) float32."""
        lengths = torch.tensor([len(p) for p in prompts], device=self.device)
        T = int(lengths.max())
        ids = torch.zeros((len(prompts), T), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        # right padding under a causal mask: real tokens never see the pads, so no mask is needed
        h = self.model.trunk(ids.to(self.device)).float()
        keep = (self._arange[:T][None, :] < lengths[:, None]).float()
        return (h * keep[..., None]).sum(1) / lengths[:, None].float()
