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
