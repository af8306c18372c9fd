"""The codec's decoder side: WavTokenizer's Vocos backbone (with its attention ``pos_net``) and ISTFT head.

Names follow the reference (``backbone.convnext.{i}.pwconv1`` …) so the released checkpoint loads strictly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-6


class AdaLayerNorm(nn.Module):
    """LayerNorm without affine parameters, then a scale and shift looked up by a condition id (WavTokenizer
    conditions on a bandwidth id; one id is used for a whole call)."""

    def __init__(self, num_embeddings: int, dim: int):
        super().__init__()
        self.scale = nn.Embedding(num_embeddings, dim)
        self.shift = nn.Embedding(num_embeddings, dim)

    def forward(self, x: torch.Tensor, condition_id: int) -> torch.Tensor:
        normed = F.layer_norm(x, x.shape[-1:], eps=EPS)
        return normed * self.scale.weight[condition_id] + self.shift.weight[condition_id]


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=EPS)


class ResnetBlock(nn.Module):
    """GroupNorm → swish → conv3 → GroupNorm → swish → (dropout, inactive at inference) → conv3, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm1 = group_norm(dim)
        self.conv1 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)
        self.norm2 = group_norm(dim)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class AttnBlock(nn.Module):
    """Single-head self-attention over time with 1×1-conv projections (scale C^-1/2), residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = group_norm(dim)
        self.q = nn.Conv1d(dim, dim, 1)
        self.k = nn.Conv1d(dim, dim, 1)
        self.v = nn.Conv1d(dim, dim, 1)
        self.proj_out = nn.Conv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q, k, v = (proj(h).transpose(1, 2).unsqueeze(1) for proj in (self.q, self.k, self.v))  # (B, 1, T, C)
        attended = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2)
        return x + self.proj_out(attended)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv7 → AdaLayerNorm → Linear → GELU (erf) → Linear → × gamma, residual; on (B, C, T)."""

    def __init__(self, dim: int, intermediate_dim: int, adanorm_num_embeddings: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = AdaLayerNorm(adanorm_num_embeddings, dim)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, condition_id: int) -> torch.Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2), condition_id)
        h = self.pwconv2(F.gelu(self.pwconv1(h))) * self.gamma
        return x + h.transpose(1, 2)


class VocosBackbone(nn.Module):
    """Features (B, input_channels, T) → hidden states (B, T, dim).

    embed conv7 → pos_net [Resnet, Resnet, Attn, Resnet, Resnet, GroupNorm] → AdaLayerNorm → ConvNeXt
    blocks → LayerNorm; the order (pos_net before the first norm) is WavTokenizer's, not plain Vocos'.
    """

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int,
                 adanorm_num_embeddings: int):
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.pos_net = nn.Sequential(ResnetBlock(dim), ResnetBlock(dim), AttnBlock(dim), ResnetBlock(dim),
                                     ResnetBlock(dim), group_norm(dim))
        self.norm = AdaLayerNorm(adanorm_num_embeddings, dim)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim, adanorm_num_embeddings)
                                      for _ in range(num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=EPS)

    def forward(self, features: torch.Tensor, condition_id: int) -> torch.Tensor:
        x = self.pos_net(self.embed(features))
        x = self.norm(x.transpose(1, 2), condition_id).transpose(1, 2)
        for block in self.convnext:
            x = block(x, condition_id)
        return self.final_layer_norm(x.transpose(1, 2))


def istft_same(spec: torch.Tensor, window: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Inverse STFT with "same" padding: T frames → exactly T · hop samples.

    Each frame is inverse-FFT'd, windowed and overlap-added; (n_fft − hop) / 2 samples are trimmed from each
    end and the rest divided by the overlap-added squared window. ``torch.istft`` cannot do this: without
    centring it checks the window envelope over the untrimmed edges, where a Hann window's sum is zero.
    """
    n_fft = window.shape[0]
    frames = spec.shape[-1]
    trim = (n_fft - hop_length) // 2
    length = (frames - 1) * hop_length + n_fft
    pieces = torch.fft.irfft(spec, n_fft, dim=1) * window[:, None]           # (B, n_fft, T)
    overlap = F.fold(pieces, output_size=(1, length), kernel_size=(1, n_fft), stride=(1, hop_length))
    envelope = F.fold(window.square()[None, :, None].expand(1, n_fft, frames), output_size=(1, length),
                      kernel_size=(1, n_fft), stride=(1, hop_length))
    return overlap[:, 0, 0, trim:length - trim] / envelope[0, 0, 0, trim:length - trim]


class ISTFTHead(nn.Module):
    """Hidden states (B, T, dim) → waveform (B, T · hop): Linear → log-magnitude | phase → complex spectrum
    (magnitude clipped at 100, as the reference does against blow-ups) → "same" inverse STFT."""

    def __init__(self, dim: int, n_fft: int, hop_length: int):
        super().__init__()
        self.hop_length = hop_length
        self.out = nn.Linear(dim, n_fft + 2)
        # Reference name ``istft.window``: the periodic Hann window, stored in the checkpoint.
        self.istft = nn.Module()
        self.istft.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        log_magnitude, phase = self.out(hidden).transpose(1, 2).chunk(2, dim=1)
        magnitude = log_magnitude.exp().clamp(max=100.0)
        spec = torch.complex(magnitude * phase.cos(), magnitude * phase.sin())
        return istft_same(spec, self.istft.window, self.hop_length)
