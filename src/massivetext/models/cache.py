"""A static key/value cache: one preallocated tensor, written in place, so decoding allocates nothing."""

from __future__ import annotations

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
        """Write k, v (batch, heads, t, head_dim) at [start, start+t) and return the filled prefix."""
        end = start + k.size(2)
        kc, vc = self.k_layers[layer], self.v_layers[layer]
        kc[:, :, start:end] = k
        vc[:, :, start:end] = v
        return kc[:, :, :end], vc[:, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Beam search: row i of the batch becomes row index[i]."""
        self._set(self.kv.index_select(1, index))


class BeamKVCache:
    """A decoder self-attention cache for beam search, time-major: ``buf`` is (max_len, layers, rows, 2, heads,
    head_dim), so the filled prefix ``buf[:filled]`` is one contiguous block.

    Beam search hands a new parent row to every beam after each step. The beams of one input are interchangeable
    slots, so instead of moving every row to its beam's place, the cache keeps a map ``perm`` (beam row -> the
    physical row holding its keys/values): a beam whose parent no other beam took before it keeps the parent's
    physical row; only a second child of one parent is copied, into a row no beam continues. Mostly a few of the
    rows move (~10% in a translation benchmark) instead of all of them. The model runs each step in physical
    order (``to_physical`` / ``to_beams``). A shorter index drops rows (inputs whose beams are finished): the cache
    is then compacted in beam order. ``update`` returns (rows, heads, t, head_dim) strided views, which
    scaled_dot_product_attention reads directly."""

    def __init__(
        self, layers: int, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device
    ) -> None:
        self.buf = torch.zeros((max_len, layers, batch, 2, heads, head_dim), dtype=dtype, device=device)
        self.filled = 0
        self.perm: torch.Tensor | None = None  # beam row -> physical row; None: the identity
        self.inverse: torch.Tensor | None = None  # physical row -> beam row

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (rows, heads, t, head_dim) at [start, start+t) and return keys/values for [0, start+t)."""
        end = start + k.size(2)
        slot = self.buf[start:end, layer]  # (t, rows, 2, heads, head_dim)
        slot[:, :, 0] = k.permute(2, 0, 1, 3)
        slot[:, :, 1] = v.permute(2, 0, 1, 3)
        self.filled = max(self.filled, end)
        kv = self.buf[:end, layer]
        return kv[:, :, 0].permute(1, 2, 0, 3), kv[:, :, 1].permute(1, 2, 0, 3)

    def to_physical(self, x: torch.Tensor) -> torch.Tensor:
        """Rows in beam order -> rows in the cache's physical order."""
        return x if self.inverse is None else x.index_select(0, self.inverse)

    def to_beams(self, x: torch.Tensor) -> torch.Tensor:
        """Rows in physical order -> beam order."""
        return x if self.perm is None else x.index_select(0, self.perm)

    def reorder(self, index: torch.Tensor, group: int = 1) -> None:
        """Beam row i continues beam row index[i]; rows come in blocks of ``group`` (an input's beams: an index
        points inside its own block). A shorter index drops blocks."""
        n, rows = self.filled, self.buf.shape[2]
        parents = index if self.perm is None else self.perm.index_select(0, index)  # physical rows
        if index.numel() != rows:  # rows dropped: compact in beam order, the map starts over
            shape = (self.buf.shape[0], self.buf.shape[1], index.numel(), *self.buf.shape[3:])
            new = torch.empty(shape, dtype=self.buf.dtype, device=self.buf.device)
            torch.index_select(self.buf[:n], 2, parents, out=new[:n])
            self.buf, self.perm, self.inverse = new, None, None
            return
        B, K = rows // group, group
        p = parents.view(B, K)
        # a beam is a "first child" when no earlier beam of its input has the same parent: it takes the parent's row
        earlier = torch.ones(K, K, dtype=torch.bool, device=p.device).tril(-1)
        first = ~((p[:, :, None] == p[:, None, :]) & earlier).any(-1)  # (B, K)
        base = torch.arange(B, device=p.device)[:, None] * K
        local = p - base
        taken = torch.zeros(B, K, dtype=torch.int32, device=p.device).scatter_add_(1, local, first.to(torch.int32))
        # later children take the rows nobody continues, in order (untaken slots sort first)
        free = torch.sort(taken.clamp(max=1), dim=1, stable=True)[1]
        rank = ((~first).cumsum(1) - 1).clamp(min=0)
        new_local = torch.where(first, local, free.gather(1, rank))
        phys = (new_local + base).view(-1)
        copy = ~first.view(-1)
        if bool(copy.any()):
            src, dst = parents[copy], phys[copy]  # sources are first children's rows: never overwritten here
            block = self.buf[:n]
            block.index_copy_(2, dst, block.index_select(2, src))
        self.perm = phys
        self.inverse = torch.empty_like(phys).scatter_(0, phys, torch.arange(rows, device=phys.device))
