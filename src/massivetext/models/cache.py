"""A static key/value cache: one preallocated tensor per layer, written in place, so decoding allocates nothing."""

from __future__ import annotations

import torch


class StaticKVCache:
    """keys/values of shape (layers, batch, heads, max_len, head_dim); ``length`` positions are filled."""

    def __init__(
        self, layers: int, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device
    ) -> None:
        shape = (layers, batch, heads, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0
        # per-layer views, made once: indexing a Python list is cheaper than indexing a tensor every step
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
        self.k = self.k.index_select(1, index)
        self.v = self.v.index_select(1, index)
        self.k_layers = list(self.k.unbind(0))
        self.v_layers = list(self.v.unbind(0))
