"""The codec's encoder side: EnCodec's SEANet encoder and WavTokenizer's single-codebook quantizer.

Module and tensor names follow the reference (``encoder.model.{i}.conv.conv.weight_g`` …) so the released
checkpoint loads strictly; the SEANet *decoder* is only stored (Vocos replaces it at inference).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from engine.models.wavtokenizer.config import SeanetConfig


class WeightNormConv1d(nn.Module):
    """A Conv1d stored as weight norm (``weight = g · v / ‖v‖``, norm over every dim but the output one).

    The product is folded into a plain ``weight`` buffer whenever a state dict is loaded, so inference
    pays for one ordinary convolution; ``weight`` is not saved, the checkpoint keeps ``weight_g``/``weight_v``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.stride = stride
        self.dilation = dilation
        weight = nn.init.kaiming_uniform_(torch.empty(out_channels, in_channels, kernel_size), a=math.sqrt(5))
        self.weight_g = nn.Parameter(torch.linalg.vector_norm(weight, dim=(1, 2), keepdim=True))
        self.weight_v = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("weight", weight, persistent=False)
        self.register_load_state_dict_post_hook(WeightNormConv1d._refold_after_load)

    @staticmethod
    def _refold_after_load(module: WeightNormConv1d, _incompatible_keys) -> None:
        module.fold_weight_norm()

    @torch.no_grad()
    def fold_weight_norm(self) -> None:
        norm = torch.linalg.vector_norm(self.weight_v, dim=(1, 2), keepdim=True)
        self.weight.copy_(self.weight_v * (self.weight_g / norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, self.bias, stride=self.stride, dilation=self.dilation)


def reflect_pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflect padding that also works when the input is shorter than the pad: like the reference, zero-extend
    the right end first so the reflection has room, then cut that extension back off."""
    length = x.shape[-1]
    longest = max(left, right)
    if length > longest:
        return F.pad(x, (left, right), mode="reflect")
    extended = F.pad(x, (0, longest - length + 1))
    return F.pad(extended, (left, right), mode="reflect")[..., : length + left + right]


class SeanetConv1d(nn.Module):
    """Non-causal SEANet convolution: the receptive field minus the stride is padded around the input (the odd
    sample on the left), plus whatever the right end needs for a last full window, all by reflection. A
    strided layer therefore maps L samples to exactly ceil(L / stride) frames."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        # The reference nests the convolution twice (SConv1d → NormConv1d → Conv1d): hence ``conv.conv``.
        self.conv = nn.ModuleDict({"conv": WeightNormConv1d(in_channels, out_channels, kernel_size, stride,
                                                            dilation)})
        self.stride = stride
        self.padding_total = (kernel_size - 1) * dilation + 1 - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last_window = -x.shape[-1] % self.stride
        right = self.padding_total // 2
        x = reflect_pad(x, self.padding_total - right, right + last_window)
        return self.conv["conv"](x)


class SeanetResidualBlock(nn.Module):
    """ELU → conv(k, dilated) → ELU → conv(1), narrowed by ``compress``, plus a 1×1-conv (or identity) skip."""

    def __init__(self, dim: int, kernel_size: int, dilation: int, compress: int, true_skip: bool):
        super().__init__()
        hidden = dim // compress
        self.block = nn.Sequential(nn.ELU(), SeanetConv1d(dim, hidden, kernel_size, dilation=dilation),
                                   nn.ELU(), SeanetConv1d(hidden, dim, 1))
        self.shortcut = nn.Identity() if true_skip else SeanetConv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.block(x)


class SkipLSTM(nn.Module):
    """A multi-layer LSTM over time on (B, C, T) features, its output added to its input."""

    def __init__(self, dim: int, num_layers: int):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x.permute(2, 0, 1))
        return y.permute(1, 2, 0) + x


class SeanetEncoder(nn.Module):
    """Waveform (B, 1, L) → features (B, dimension, ceil(L / prod(ratios)))."""

    def __init__(self, config: SeanetConfig):
        super().__init__()
        width = config.n_filters
        layers: list[nn.Module] = [SeanetConv1d(config.channels, width, config.kernel_size)]
        for ratio in reversed(config.ratios):
            layers += [SeanetResidualBlock(width, config.residual_kernel_size, config.dilation_base ** j,
                                           config.compress, config.true_skip)
                       for j in range(config.n_residual_layers)]
            layers += [nn.ELU(), SeanetConv1d(width, width * 2, kernel_size=2 * ratio, stride=ratio)]
            width *= 2
        if config.lstm:
            layers.append(SkipLSTM(width, config.lstm))
        layers += [nn.ELU(), SeanetConv1d(width, config.dimension, config.last_kernel_size)]
        self.model = nn.Sequential(*layers)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model(wav)


def seanet_decoder_shapes(config: SeanetConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the SEANet decoder tensors in the checkpoint (``model.{i}`` of the reference
    decoder: conv, LSTM, then per ratio ELU + weight-normed transposed conv + residual blocks, ELU, conv)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(prefix: str, cin: int, cout: int, kernel: int) -> None:
        shapes.update({f"{prefix}.conv.conv.bias": (cout,), f"{prefix}.conv.conv.weight_g": (cout, 1, 1),
                       f"{prefix}.conv.conv.weight_v": (cout, cin, kernel)})

    width = config.n_filters * 2 ** len(config.decoder_ratios)
    conv("model.0", config.dimension, width, config.kernel_size)
    index = 1   # the next position in the reference's nn.Sequential
    if config.lstm:
        for layer in range(config.lstm):
            shapes.update({f"model.{index}.lstm.weight_ih_l{layer}": (4 * width, width),
                           f"model.{index}.lstm.weight_hh_l{layer}": (4 * width, width),
                           f"model.{index}.lstm.bias_ih_l{layer}": (4 * width,),
                           f"model.{index}.lstm.bias_hh_l{layer}": (4 * width,)})
        index += 1
    for ratio in config.decoder_ratios:
        index += 1   # the ELU before the upsampling
        prefix = f"model.{index}.convtr.convtr"
        shapes.update({f"{prefix}.bias": (width // 2,), f"{prefix}.weight_g": (width, 1, 1),
                       f"{prefix}.weight_v": (width, width // 2, 2 * ratio)})
        index += 1
        width //= 2
        for _ in range(config.n_residual_layers):
            hidden = width // config.compress
            conv(f"model.{index}.block.1", width, hidden, config.residual_kernel_size)
            conv(f"model.{index}.block.3", hidden, width, 1)
            if not config.true_skip:
                conv(f"model.{index}.shortcut", width, width, 1)
            index += 1
    index += 1   # the final ELU
    conv(f"model.{index}", width, config.channels, config.last_kernel_size)
    return shapes


class StoredTensors(nn.Module):
    """Tensors a checkpoint carries that inference never reads, kept under their own names so that loading
    stays strict over the released key set (here: the SEANet decoder, which the Vocos decoder replaces)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        super().__init__()
        for name, shape in shapes.items():
            *path, leaf = name.split(".")
            module: nn.Module = self
            for part in path:
                if not hasattr(module, part):
                    module.add_module(part, nn.Module())
                module = getattr(module, part)
            module.register_buffer(leaf, torch.zeros(shape))


class Codebook(nn.Module):
    """One VQ codebook (the reference's ``EuclideanCodebook`` buffers). Only ``embed`` is used at inference;
    ``cluster_size``/``embed_avg`` are EMA training state; ``inited`` says k-means initialisation happened."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("inited", torch.ones(1))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_avg", torch.zeros(size, dim))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the closest entry for each row of x (N, dim), by squared Euclidean distance written as the
        reference writes it (‖x‖² − 2x·E + ‖E‖²), so near-ties resolve the same way."""
        embed = self.embed.t()
        distance = x.pow(2).sum(1, keepdim=True) - 2 * x @ embed + embed.pow(2).sum(0, keepdim=True)
        return distance.argmin(dim=-1)


class Quantizer(nn.Module):
    """WavTokenizer's ``LanguageVectorQuantization``: ``num_quantizers`` codebooks, of which inference uses the
    first to encode (the reference forces n_q = 1) and sums the given ones to decode."""

    def __init__(self, num_quantizers: int, size: int, dim: int):
        super().__init__()
        # Reference names: quantizer.vq.layers.{i}._codebook.*
        self.vq = nn.ModuleDict({"layers": nn.ModuleList(nn.ModuleDict({"_codebook": Codebook(size, dim)})
                                                         for _ in range(num_quantizers))})

    def codebooks(self) -> list[Codebook]:
        return [layer["_codebook"] for layer in self.vq["layers"]]

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, dim, T) → codes (B, 1, T)."""
        batch, dim, frames = features.shape
        rows = features.transpose(1, 2).reshape(batch * frames, dim)
        return self.codebooks()[0].nearest(rows).view(batch, 1, frames)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, n_q, T) → features (B, dim, T), the sum of each codebook's entries."""
        books = self.codebooks()
        features = sum(F.embedding(codes[:, q], books[q].embed) for q in range(codes.shape[1]))
        return features.transpose(1, 2)
