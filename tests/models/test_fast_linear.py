"""models/fast_linear.py: oneDNN inference linears with the weight packed once. The packed copy must follow every
way a weight changes (in place, ``.data`` swapped by ``module.to``/assignment, load_state_dict), and the training
path (gradients) must not use it."""

import pytest
import torch
import torch.nn.functional as F

from massivetext.models import fast_linear
from massivetext.models.fast_linear import linear

pytestmark = pytest.mark.skipif(fast_linear._REORDER is None, reason="torch built without oneDNN")


def _check(layer: torch.nn.Linear, x: torch.Tensor) -> None:
    with torch.inference_mode():
        got = linear(x, layer)
    torch.testing.assert_close(got, F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)


def test_packed_weight_follows_changes():
    torch.manual_seed(0)
    layer = torch.nn.Linear(32, 48)
    x = torch.randn(5, 7, 32)
    _check(layer, x)
    assert id(layer.weight) in fast_linear._PACKED  # packed once, then reused
    with torch.no_grad():
        layer.weight.mul_(-2.0)  # in place: the version counter moves
    _check(layer, x)
    layer.weight.data = torch.randn(48, 32)  # swapped storage: same version, new address
    _check(layer, x)
    layer.load_state_dict({"weight": torch.randn(48, 32), "bias": torch.randn(48)})
    _check(layer, x)
    key = id(layer.weight)
    del layer
    assert key not in fast_linear._PACKED  # a dropped weight frees its packed copy


def test_gradients_take_the_plain_path():
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8, requires_grad=True)
    linear(x, layer).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_fused_gelu_equals_gelu_of_the_linear():
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 96)
    x = torch.randn(3, 11, 64) * 3
    with torch.inference_mode():
        got = fast_linear.linear_gelu(x, layer)
    torch.testing.assert_close(got, F.gelu(F.linear(x, layer.weight, layer.bias)), rtol=1e-5, atol=1e-6)
    x.requires_grad_(True)
    fast_linear.linear_gelu(x, layer).sum().backward()  # training: the plain path, with gradients
    assert x.grad is not None
