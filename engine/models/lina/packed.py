"""Weights for the decoding step in the chosen format, with the Linears that read the same input packed
into one matrix.

One decoding step of the released model reads all ~160 M decoder weights for a single token, so its speed
is the memory bandwidth divided by the weight bytes: fp32 tops out near 28 steps/s on a laptop-class CPU.
``"int8"`` stores each output channel's weights as int8 with its own scale and quantizes the activations
on the fly (PyTorch's dynamic quantization kernels, fbgemm/x86), a quarter of the bytes; ``"bf16"`` and
``"fp16"`` halve them (fp16 is meant for CUDA). Packing q/k/v/g/gate projections into one matrix makes one
kernel call and one activation quantization out of five.

Measured with ``bench/tts.py`` (released size, 2-core AMD EPYC, idle): batch 1 decodes at 24 tokens/s in
fp32, 91 (1 thread) / 118 (2 threads) in int8 and 33 / 43 in bf16 (real time is 75); int8 costs a max
|Δlogit| of 0.21 (logits up to 2.9) and 99.2 % greedy-token agreement over 500 steps, bf16 0.023 / 99.8 %.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

WEIGHT_FORMATS = ("fp32", "bf16", "fp16", "int8")
FLOAT_FORMATS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_format(weight_format: str, device: torch.device) -> None:
    if weight_format not in WEIGHT_FORMATS:
        raise ValueError(f"unknown weight format {weight_format!r}; use one of {', '.join(WEIGHT_FORMATS)}")
    if weight_format == "int8":
        if device.type != "cpu":
            raise ValueError("the int8 weight format runs on the CPU only; use fp16 or bf16 on a GPU")
        if torch.backends.quantized.engine not in ("fbgemm", "x86", "onednn", "qnnpack"):
            raise ValueError("the int8 weight format needs PyTorch's quantized CPU kernels, which this "
                             "build of PyTorch lacks; use fp32")


def _quantized_per_channel(weight: torch.Tensor) -> torch.Tensor:
    scales = (weight.abs().amax(dim=1).double() / 127.0).clamp_min(1e-12)
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    return torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)


class PackedLinear:
    """``x Wᵀ + b`` with W in the chosen format; the output is split into ``sizes`` (one part per packed
    Linear)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, weight_format: str,
                 sizes: Sequence[int] | None = None):
        weight = weight.detach()
        bias = None if bias is None else bias.detach()
        self.sizes = list(sizes or [weight.shape[0]])
        self.int8 = weight_format == "int8"
        if self.int8:
            self.packed = torch.ops.quantized.linear_prepack(_quantized_per_channel(weight.float().cpu()),
                                                             None if bias is None else bias.float().cpu())
        else:  # no copy when the module already holds this dtype
            self.dtype = FLOAT_FORMATS[weight_format]
            self.weight = weight.to(self.dtype)
            self.bias = None if bias is None else bias.to(self.dtype)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.int8:
            y = torch.ops.quantized.linear_dynamic(x.float(), self.packed, reduce_range=True)
        else:
            y = nn.functional.linear(x.to(self.dtype), self.weight, self.bias)
        return list(y.split(self.sizes, dim=-1)) if len(self.sizes) > 1 else [y]


def pack_linears(linears: Sequence[nn.Linear], weight_format: str, sizes: Sequence[int] | None = None
                 ) -> PackedLinear:
    """One :class:`PackedLinear` for Linears that read the same input; the output is split into ``sizes``
    (default: one part per Linear)."""
    if len(linears) == 1:
        return PackedLinear(linears[0].weight, linears[0].bias, weight_format)
    weight = torch.cat([linear.weight.detach() for linear in linears])
    bias = None
    if any(linear.bias is not None for linear in linears):
        bias = torch.cat([linear.bias.detach() if linear.bias is not None else weight.new_zeros(linear.out_features)
                          for linear in linears])
    return PackedLinear(weight, bias, weight_format, sizes or [linear.out_features for linear in linears])
