"""Inference matmuls through oneDNN, the library torch already ships for CPU convolutions.

At one thread, on the encoder shapes of the pipelines (thousands of rows by 256-1024 features), oneDNN's fp32
inner-product kernel ran 10-35% faster than the MKL ``sgemm`` that ``F.linear`` dispatches to, with the same
fp32 precision (results differ only in the summation order, a few 1e-7 relative). It is used only where it
applies: no gradient needed, CPU float32 tensors, and a torch built with oneDNN; everything else goes through
``F.linear`` unchanged.

The weight is handed to oneDNN already in its blocked layout (``_reorder_linear_weight``, made once per weight and
kept while the weight is unchanged): otherwise oneDNN reorders it on every call, which costs most on wide,
short products such as a decoder's output layer (a beam-search step: ~10% of that product). Results are
bit-identical to the unpacked call. The packed copy costs the weight's size again in memory.
"""

from __future__ import annotations

import threading
import weakref

import torch
import torch.nn.functional as F
from torch import nn

_ONEDNN = (
    getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if torch.backends.mkldnn.is_available() and torch.device("cpu").type == "cpu"
    else None
)


_REORDER = getattr(torch.ops.mkldnn, "_reorder_linear_weight", None) if _ONEDNN is not None else None
# id(weight) -> (its version when packed, packed weight); an entry leaves with its weight (weakref.finalize), so
# a dropped model frees its packed weights. Nothing is stored on the weight itself (pickling, deepcopy unchanged).
_PACKED: dict[int, tuple[tuple[int, int], torch.Tensor]] = {}
_PACK_LOCK = threading.Lock()
_ROWS_HINT = 128  # oneDNN picks the blocked layout for this many rows; any row count works with it


def _packed(w: torch.Tensor) -> torch.Tensor:
    """``w`` in oneDNN's layout, repacked when the weight changed in place (its version counter moved)."""
    # the version moves on in-place changes (optimizer steps, load_state_dict); the address on ``param.data = ...``
    # (what ``module.to()`` does), which leaves the version alone
    try:
        version = (w._version, w.data_ptr())
    except RuntimeError:  # an inference tensor has no version counter
        version = (-1, w.data_ptr())
    key = id(w)
    hit = _PACKED.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    with torch.inference_mode():
        packed = _REORDER(w.detach(), _ROWS_HINT)
    with _PACK_LOCK:
        if key not in _PACKED:
            weakref.finalize(w, _PACKED.pop, key, None)
        _PACKED[key] = (version, packed)
    return packed


def _onednn_applies(x: torch.Tensor, w: torch.Tensor) -> bool:
    return (
        _ONEDNN is not None
        and x.dtype is torch.float32
        and w.dtype is torch.float32
        and x.device.type == "cpu"
        and w.device.type == "cpu"
        and not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad))
        and x.dim() >= 2
        and x.numel() > 0
    )


def linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x)``, through oneDNN when nothing needs a gradient and everything is float32 on the CPU."""
    w, b = layer.weight, layer.bias
    if _onednn_applies(x, w):
        return _ONEDNN(x, w if _REORDER is None else _packed(w), b, "none", [], "")
    return F.linear(x, w, b)


def linear_bias(x: torch.Tensor, layer: nn.Linear, bias: torch.Tensor) -> torch.Tensor:
    """``layer(x) + bias`` for a layer without its own bias (Marian's ``final_logits_bias`` on the output layer):
    on the oneDNN path the bias is added as the product is written, bit-identical to the separate add in our
    checks, and the (rows, vocabulary) logits are not read and written a second time."""
    w = layer.weight
    if layer.bias is None and _onednn_applies(x, w) and bias.dtype is torch.float32 and bias.device == w.device:
        return _ONEDNN(x, w if _REORDER is None else _packed(w), bias.reshape(-1), "none", [], "")
    return linear(x, layer) + bias


def linear_gelu(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``F.gelu(layer(x))`` (exact erf GELU). On the oneDNN path the GELU is applied to the product as it is
    written (a fused post-op, bit-identical to the separate call in our checks, 13-23% faster on BERT's
    intermediate layer) instead of in a second pass over memory."""
    w, b = layer.weight, layer.bias
    if FUSE_GELU and _onednn_applies(x, w):
        return _ONEDNN(x, w if _REORDER is None else _packed(w), b, "gelu", [], "none")
    return F.gelu(linear(x, layer))


FUSE_GELU = True  # a switch for A/B runs
