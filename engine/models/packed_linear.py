"""Linear layers whose float32 CPU inference runs through oneDNN with the weight packed once.

PyTorch's CPU ``F.linear`` in float32 calls MKL's sgemm, which repacks the weight on every call and, on
AMD processors, does not take its fastest AVX-512 paths: the transformer products of Seed-VC's DiT and of
the Whisper encoder ran at 160–195 GFLOP/s on the 2-core Zen 4 test machine, against 200–220 for oneDNN
with a weight packed in its blocked layout (``bench/vc.py`` shows the effect on a whole conversion). oneDNN
also applies SiLU, or a product or sum with another tensor, as it writes the result, saving passes over
large tensors. The results equal ``F.linear``'s within float32 accumulation order (~1e-7 relative).

The oneDNN operators are PyTorch's own (``torch.ops.mkldnn._linear_pointwise``, used by its compiler for
CPU code). They are checked once against ``F.linear``; if they are missing or disagree, every call takes the
plain path. Training, half precision and other devices take the plain path too.
"""

from __future__ import annotations

import functools
import weakref
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PackedLinear", "pack_linears"]

Combine = Literal["mul", "add"]
# Packed copies per layer, outside the module so that state dicts, deepcopy and pickling never see them.
_PACKED: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


@functools.cache
def onednn_linear_works() -> bool:
    """The packed oneDNN linear exists here and agrees with ``F.linear`` (checked once per process)."""
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(5, 24, generator=generator)
        weight = torch.randn(16, 24, generator=generator)
        bias = torch.randn(16, generator=generator)
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 5)
        result = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")
        return bool(torch.allclose(result, F.linear(x, weight, bias), rtol=1e-5, atol=1e-5))
    except (AttributeError, RuntimeError):
        return False


class PackedLinear(nn.Linear):
    """An ``nn.Linear`` (same parameters and state dict) with a packed-weight path for float32 inference on
    the CPU; the packed copy is made on first use and remade when the weight changes.

    :meth:`fused` computes ``activation(x·Wᵀ + b)`` over an optional range of output ``rows``, optionally
    combined with ``other`` (``"mul"`` or ``"add"``) as the result is written."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fused(x)

    def fused(self, x: torch.Tensor, *, rows: slice | None = None, silu: bool = False,
              combine: Combine | None = None, other: torch.Tensor | None = None) -> torch.Tensor:
        weight, bias = self.weight, self.bias
        if rows is not None:
            weight = weight[rows]
            bias = None if bias is None else bias[rows]
        if self._can_pack(x):
            packed = self._packed(rows, weight, x)
            if combine is not None and not silu:
                return torch.ops.mkldnn._linear_pointwise.binary(x, other.contiguous(), packed, bias, combine)
            result = torch.ops.mkldnn._linear_pointwise(x, packed, bias, "swish" if silu else "none", [], "")
        else:
            result = F.linear(x, weight, bias)
            if silu:
                result = F.silu(result, inplace=not torch.is_grad_enabled())
        if combine == "mul":
            return result.mul_(other)
        if combine == "add":
            return result.add_(other)
        return result

    def _can_pack(self, x: torch.Tensor) -> bool:
        return (x.device.type == "cpu" and x.dtype == torch.float32 and self.weight.dtype == torch.float32
                and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
                and onednn_linear_works())

    def _packed(self, rows: slice | None, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        cache = _PACKED.setdefault(self, {})
        key = (None if rows is None else (rows.start, rows.stop, rows.step), self.weight.data_ptr(),
               self.weight._version)
        packed = cache.get(key)
        if packed is None:
            if len(cache) >= 4:  # stale copies of an earlier weight
                cache.clear()
            batch_rows = max(1, x.numel() // max(1, x.shape[-1]))
            packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), batch_rows)
            cache[key] = packed
        return packed


def pack_linears(module: nn.Module) -> nn.Module:
    """Turn every plain ``nn.Linear`` inside ``module`` into a :class:`PackedLinear` (same tensors, so
    checkpoints and state dicts are unchanged); returns ``module``."""
    for child in module.modules():
        if type(child) is nn.Linear:
            child.__class__ = PackedLinear
    return module
