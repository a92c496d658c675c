"""Inference matmuls through oneDNN, the library torch already ships for CPU convolutions.

At one thread, on the encoder shapes of the pipelines (thousands of rows by 256-1024 features), oneDNN's fp32
inner-product kernel ran 10-35% faster than the MKL ``sgemm`` that ``F.linear`` dispatches to, with the same
fp32 precision (results differ only in the summation order, a few 1e-7 relative). It is used only where it
applies: no gradient needed, CPU float32 tensors, and a torch built with oneDNN; everything else goes through
``F.linear`` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_ONEDNN = (
    getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if torch.backends.mkldnn.is_available() and torch.device("cpu").type == "cpu"
    else None
)


def linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x)``, through oneDNN when nothing needs a gradient and everything is float32 on the CPU."""
    w, b = layer.weight, layer.bias
    if (
        _ONEDNN is not None
        and x.dtype is torch.float32
        and w.dtype is torch.float32
        and x.device.type == "cpu"
        and w.device.type == "cpu"
        and not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad))
        and x.dim() >= 2
        and x.numel() > 0
    ):
        return _ONEDNN(x, w, b, "none", [], "")
    return F.linear(x, w, b)
