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
    head_dim). Beam search reorders the rows after every step; with time outermost the filled prefix
    ``buf[:filled]`` is one contiguous block, so a reorder copies only the positions written so far, with one
    ``index_select`` into a spare buffer (no allocation), instead of the whole preallocated cache. A shorter index
    drops rows (inputs whose beams are finished). ``update`` returns (rows, heads, t, head_dim) strided views,
    which scaled_dot_product_attention reads directly."""

    def __init__(
        self, layers: int, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device
    ) -> None:
        self.buf = torch.zeros((max_len, layers, batch, 2, heads, head_dim), dtype=dtype, device=device)
        self.spare = torch.empty_like(self.buf)
        self.filled = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (rows, heads, t, head_dim) at [start, start+t) and return keys/values for [0, start+t)."""
        end = start + k.size(2)
        slot = self.buf[start:end, layer]  # (t, rows, 2, heads, head_dim)
        slot[:, :, 0] = k.permute(2, 0, 1, 3)
        slot[:, :, 1] = v.permute(2, 0, 1, 3)
        self.filled = max(self.filled, end)
        kv = self.buf[:end, layer]
        return kv[:, :, 0].permute(1, 2, 0, 3), kv[:, :, 1].permute(1, 2, 0, 3)

    def reorder(self, index: torch.Tensor) -> None:
        """Row i becomes row index[i]; len(index) may be smaller than the rows (dropped inputs)."""
        n = self.filled
        if index.numel() == self.buf.shape[2]:
            torch.index_select(self.buf[:n], 2, index, out=self.spare[:n])
            self.buf, self.spare = self.spare, self.buf
            return
        shape = (self.buf.shape[0], self.buf.shape[1], index.numel(), *self.buf.shape[3:])
        new = torch.empty(shape, dtype=self.buf.dtype, device=self.buf.device)  # rows dropped: smaller from now on
        torch.index_select(self.buf[:n], 2, index, out=new[:n])
        self.buf, self.spare = new, torch.empty_like(new)
