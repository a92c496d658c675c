"""A static key/value cache: one preallocated tensor, written in place, so decoding allocates nothing."""

from __future__ import annotations

import math
import threading
import weakref

import torch


class StaticKVCache:
    """Keys and values interleaved in one tensor ``kv`` of shape (layers, batch, 2, heads, max_len, head_dim), so a
    decode step writes a layer's new key and value with one copy; ``k`` and ``v`` are (layers, batch, heads,
    max_len, head_dim) views of it."""

    def __init__(
        self, layers: int, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device
    ) -> None:
        self._set(torch.zeros((layers, batch, 2, heads, max_len, head_dim), dtype=dtype, device=device))

    def _set(self, kv: torch.Tensor) -> None:
        self.kv = kv
        self.k, self.v = kv[:, :, 0], kv[:, :, 1]
        # per-layer views, made once: indexing a Python list is cheaper than indexing a tensor every step
        self.kv_layers = list(kv.unbind(0))  # (batch, 2, heads, max_len, head_dim)
        self.k_layers = list(self.k.unbind(0))
        self.v_layers = list(self.v.unbind(0))

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (batch, heads, t, head_dim) at [start, start+t) and return the filled prefix. k and v may
        hold one row per group of ``batch // k.size(0)`` rows (beam search's first step, computed once per input
        while its beams are equal): each row is then written to its whole group, and one row per group returned."""
        end = start + k.size(2)
        kc, vc = self.k_layers[layer], self.v_layers[layer]
        if k.size(0) != kc.size(0):
            g = kc.size(0) // k.size(0)
            kc.unflatten(0, (-1, g))[:, :, :, start:end] = k[:, None]
            vc.unflatten(0, (-1, g))[:, :, :, start:end] = v[:, None]
            return kc[::g, :, :end], vc[::g, :, :end]
        kc[:, :, start:end] = k
        vc[:, :, start:end] = v
        return kc[:, :, :end], vc[:, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Beam search: row i of the batch becomes row index[i]."""
        self._set(self.kv.index_select(1, index))


SHARED_PREFIX = True  # a switch for A/B runs
REUSE = True  # a switch for A/B runs

# One spare BeamKVCache buffer per (dtype, device, inference mode), handed back when its cache is collected: beam search over a
# stream of batches (a pipeline) then writes into memory already mapped. A fresh buffer of ~100 MB costs a page
# fault per 4 KiB on first write, 1-2% of a translation benchmark. The spare is the largest buffer seen; it is
# kept until ``release_spare_buffers()``.
_SPARE: dict[tuple[torch.dtype, torch.device, bool], torch.Tensor] = {}
_SPARE_LOCK = threading.Lock()


def _spare_buffer(owner: object, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """An uninitialized ``shape`` tensor, carved from the spare buffer when it is large enough; its storage goes
    back to the spare slot when ``owner`` is collected."""
    n = math.prod(shape)
    if not REUSE:
        return torch.empty(shape, dtype=dtype, device=device)
    # an inference-mode tensor cannot be written outside inference mode: one spare for each
    key = (dtype, device, torch.is_inference_mode_enabled())
    with _SPARE_LOCK:
        flat = _SPARE.pop(key, None)
    if flat is None or flat.numel() < n:
        flat = torch.empty(n, dtype=dtype, device=device)
    weakref.finalize(owner, _hand_back, key, flat)
    return flat[:n].view(shape)


def _hand_back(key: tuple[torch.dtype, torch.device, bool], flat: torch.Tensor) -> None:
    with _SPARE_LOCK:
        kept = _SPARE.get(key)
        if kept is None or kept.numel() < flat.numel():
            _SPARE[key] = flat


def release_spare_buffers() -> None:
    """Free the spare beam-search cache buffers (their memory goes back to the allocator)."""
    with _SPARE_LOCK:
        _SPARE.clear()


class BeamKVCache:
    """A decoder self-attention cache for beam search, time-major: ``buf`` is (max_len, layers, rows, 2, heads,
    head_dim), so the filled prefix ``buf[:filled]`` is one block that grows by appending.

    Beam search hands a new parent row to every beam after each step. The beams of one input are interchangeable
    slots, so instead of moving every row to its beam's place, the cache keeps a map ``perm`` (beam row -> the
    physical row holding its keys/values): a beam whose parent no other beam took before it keeps the parent's
    physical row; only a second child of one parent is copied, into a row of its input that no beam continues.
    Mostly a few of the rows move (~10% in a translation benchmark) instead of all of them. The model runs each
    step in physical order (``to_physical`` / ``to_beams``). A shorter index drops rows (inputs whose beams are
    finished): survivors above the new row count move down into the rows the dropped ones freed, in place, so
    the buffer is never reallocated. ``update`` returns (rows, heads, t, head_dim) strided views, which
    scaled_dot_product_attention reads directly.

    The buffer is not initialized (generation writes every position of every row before it reads it) and comes
    from the spare buffer of an earlier cache when that one is large enough (see ``_spare_buffer``).
    """

    def __init__(
        self, layers: int, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device
    ) -> None:
        self.buf = _spare_buffer(self, (max_len, layers, batch, 2, heads, head_dim), dtype, torch.device(device))
        self.filled = 0
        self.perm: torch.Tensor | None = None  # beam row -> physical row; None: the identity
        self.inverse: torch.Tensor | None = None  # physical row -> beam row

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (rows, heads, t, head_dim) at [start, start+t) and return keys/values for [0, start+t).
        k and v may hold one row per group of ``rows // k.size(0)`` cache rows (a first step computed once per
        input while the beams of an input are still equal): each row is then written to its whole group."""
        end = start + k.size(2)
        slot = self.buf[start:end, layer]  # (t, rows, 2, heads, head_dim)
        rows, n = slot.shape[1], k.size(0)
        if n != rows:
            g = rows // n
            slot = slot.unflatten(1, (n, g))  # (t, n, g, 2, heads, head_dim)
            slot[:, :, :, 0] = k.permute(2, 0, 1, 3)[:, :, None]
            slot[:, :, :, 1] = v.permute(2, 0, 1, 3)[:, :, None]
            kv = self.buf[:end, layer, ::g]  # one row per group: what this step's queries attend to
        else:
            slot[:, :, 0] = k.permute(2, 0, 1, 3)
            slot[:, :, 1] = v.permute(2, 0, 1, 3)
            kv = self.buf[:end, layer]
        self.filled = max(self.filled, end)
        return kv[:, :, 0].permute(1, 2, 0, 3), kv[:, :, 1].permute(1, 2, 0, 3)

    def to_physical(self, x: torch.Tensor) -> torch.Tensor:
        """Rows in beam order -> rows in the cache's physical order."""
        return x if self.inverse is None else x.index_select(0, self.inverse)

    def to_beams(self, x: torch.Tensor) -> torch.Tensor:
        """Rows in physical order -> beam order."""
        return x if self.perm is None else x.index_select(0, self.perm)

    def reorder(self, index: torch.Tensor, group: int = 1, tokens: torch.Tensor | None = None) -> torch.Tensor | None:
        """Beam row i continues beam row index[i]; rows come in blocks of ``group`` (an input's beams: an index
        points inside its own block). An input's rows always fill one physical block of ``group`` rows, so
        per-input state (cross-attention keys) can be kept in physical block order. A shorter index drops inputs;
        it returns then, for each physical block that remains, the physical block it came from (the per-input
        state must be taken in that order), else None. ``tokens`` (old beam rows, >= filled): the ids each old beam
        has fed in, position by position; with them a copied row moves only what follows the common prefix."""
        n, rows, K = self.filled, self.buf.shape[2], group
        B = index.numel() // K
        device = index.device
        idx = index.view(B, K)
        base = (idx[:, :1] // K) * K  # (B, 1) first beam row of each (surviving) input, in the old beam order
        local = idx - base  # (B, K) the parent's place among its input's beams
        # a beam is a "first child" when no earlier beam of its input has the same parent: it takes the parent's row
        earlier = torch.ones(K, K, dtype=torch.bool, device=device).tril(-1)
        first = ~((local[:, :, None] == local[:, None, :]) & earlier).any(-1)  # (B, K)
        taken = torch.zeros(B, K, dtype=torch.int32, device=device).scatter_add_(1, local, first.to(torch.int32))
        # later children take the input's rows nobody continues, in order (untaken slots sort first)
        free = torch.sort(taken.clamp(max=1), dim=1, stable=True)[1]
        rank = ((~first).cumsum(1) - 1).clamp(min=0)
        new_local = torch.where(first, local, free.gather(1, rank))
        slots = base + torch.arange(K, device=device)  # (B, K) the input's old beam rows
        if self.perm is not None:
            slots = self.perm[slots]  # ... and the physical rows that hold them
        parents = slots.gather(1, local).view(-1)  # physical rows
        phys = slots.gather(1, new_local).view(-1)
        block = self.buf[:n]
        copy = ~first.view(-1)
        if bool(copy.any()):
            src, dst = parents[copy], phys[copy]  # sources are first children's rows: never overwritten here
            if tokens is None or not SHARED_PREFIX:
                block.index_copy_(2, dst, block.index_select(2, src))
            else:
                # a second child goes to the row of a beam that has no child, of the same input. The two beams'
                # keys/values agree over their common token prefix: all of it came, as copies never rewritten,
                # from the one ancestor beam that held that prefix. Only the positions after it are copied.
                dead = dst if self.inverse is None else self.inverse[dst]  # the old beam whose row is reused
                same = (tokens[index[copy], :n] == tokens[dead, :n]).cumprod(1).sum(1)
                for s, d, a in zip(src.tolist(), dst.tolist(), same.tolist()):
                    if a < n:
                        block[a:, :, d].copy_(block[a:, :, s])
        blocks = None
        if B * K != rows:
            # inputs dropped: each survivor's rows lie in one physical block of K; blocks at or above the new block
            # count move down into the blocks the dropped inputs freed, in place (the buffer is never reallocated)
            nblk = rows // K
            blk = phys.view(B, K)[:, 0] // K  # (B,) physical block of each surviving input
            used = torch.zeros(nblk, dtype=torch.bool, device=device)
            used[blk] = True
            holes = (~used[:B]).nonzero().squeeze(1)
            blocks = torch.arange(B, device=device)  # new physical block -> old physical block
            if holes.numel():
                movers = (used & (torch.arange(nblk, device=device) >= B)).nonzero().squeeze(1)
                blocks[holes] = movers
                within = torch.arange(K, device=device)
                block.index_copy_(
                    2,
                    (holes[:, None] * K + within).view(-1),
                    block.index_select(2, (movers[:, None] * K + within).view(-1)),
                )
                where = torch.arange(nblk, device=device)
                where[movers] = holes
                phys = where[phys // K] * K + phys % K
            self.buf = self.buf[:, :, : B * K]  # a view: the rows above stay allocated until generation ends
        self.perm = phys
        self.inverse = torch.empty_like(phys).scatter_(0, phys, torch.arange(B * K, device=device))
        return blocks
