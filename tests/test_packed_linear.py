"""PackedLinear: the oneDNN packed-weight path equals F.linear (plain, a row range, SiLU, product, sum), is
taken only where it applies, follows weight changes, and stays invisible to state dicts and copies."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.packed_linear import PackedLinear, _PACKED, onednn_linear_works, pack_linears


@pytest.fixture
def layer():
    torch.manual_seed(0)
    return PackedLinear(48, 96)


def test_the_onednn_path_exists_on_this_machine():
    # The CI machines are x86 with PyTorch's oneDNN build: the fast path must really be taken there.
    assert onednn_linear_works()


@torch.inference_mode()
def test_every_form_equals_the_plain_computation(layer):
    x = torch.randn(2, 37, 48)
    other = torch.randn(2, 37, 96)
    weight, bias = layer.weight, layer.bias
    torch.testing.assert_close(layer(x), F.linear(x, weight, bias), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.fused(x[:, 5:], rows=slice(16, 64)), F.linear(x[:, 5:], weight[16:64], bias[16:64]),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.fused(x, silu=True), F.silu(F.linear(x, weight, bias)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.fused(x, combine="mul", other=other), F.linear(x, weight, bias) * other,
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.fused(x, combine="add", other=other), F.linear(x, weight, bias) + other,
                               rtol=1e-5, atol=1e-5)
    assert len(_PACKED[layer]) == 2  # the whole weight and the row range, each packed once


def test_training_half_precision_and_gradients_take_the_plain_path(layer):
    x = torch.randn(3, 48, requires_grad=True)
    layer(x).sum().backward()
    assert layer not in _PACKED and x.grad is not None and layer.weight.grad is not None
    half = copy.deepcopy(layer).to(torch.bfloat16)
    with torch.inference_mode():
        half(x.detach().to(torch.bfloat16))
    assert half not in _PACKED


@torch.inference_mode()
def test_a_changed_weight_is_packed_again(layer):
    x = torch.randn(4, 48)
    layer(x)
    replacement = nn.Linear(48, 96)
    layer.load_state_dict(replacement.state_dict())
    torch.testing.assert_close(layer(x), replacement(x), rtol=1e-5, atol=1e-5)


def test_state_dicts_and_copies_do_not_carry_packed_weights(layer):
    with torch.inference_mode():
        layer(torch.randn(4, 48))
    assert set(layer.state_dict()) == {"weight", "bias"}
    twin = copy.deepcopy(layer)
    with torch.inference_mode():
        torch.testing.assert_close(twin(torch.ones(1, 48)), layer(torch.ones(1, 48)))


def test_pack_linears_swaps_plain_linears_only():
    class Weighted(nn.Linear):
        pass

    model = nn.Sequential(nn.Linear(4, 4), Weighted(4, 4), nn.Sequential(nn.Linear(4, 2)))
    pack_linears(model)
    assert [type(module).__name__ for module in model.modules() if isinstance(module, nn.Linear)] == \
        ["PackedLinear", "Weighted", "PackedLinear"]
