"""MossFormer2 speech separator (Zhao et al., ICASSP 2024), written for Vocalis.

The attribute names and nesting (``enc``, ``mask_net.mdl.intra_mdl.mossformerM.layers.N.to_hidden.mdl.3
.sequential.1.conv`` …) are dictated by the released ClearerVoice checkpoints, so that their weights load
without renaming. The computation is arranged for inference speed: activations stay time-major
``(batch, frames, channels)`` inside the mask network, 1×1 convolutions run as matrix products on that
layout, the two value streams of each attention layer share one matrix product, and the rotary tables are
computed once per forward instead of once per layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_along_time(x: torch.Tensor, weight: torch.Tensor, dilation: int, groups: int) -> torch.Tensor:
    """'Same' grouped convolution over time for time-major ``(batch, frames, channels)`` input.

    The input is viewed, without a copy, as a channels-last ``(batch, channels, 1, frames)`` image: oneDNN's
    channels-last depthwise kernel is several times faster on the CPU than ``conv1d`` on a transposed
    tensor, and the result comes back time-major with no copy either. Its grouped and dilated variants are
    10-30x slower, so those are rewritten as depthwise, undilated convolutions (same arithmetic).
    ``weight``: ``(out, in/groups, 1, k)``.
    """
    if dilation > 1:
        # A dilation-d convolution is an undilated one on each of the d interleaved phases of the signal.
        batch, frames = x.shape[:2]
        extra = -frames % dilation
        phases = F.pad(x, (0, 0, 0, extra)).unflatten(1, (-1, dilation)).transpose(1, 2).flatten(0, 1)
        out = conv_along_time(phases, weight, 1, groups)
        return out.unflatten(0, (batch, dilation)).transpose(1, 2).flatten(1, 2)[:, :frames]
    padding = (weight.shape[-1] - 1) // 2
    per_group = weight.shape[1]
    if per_group > 1 and weight.shape[0] == groups:
        # Several inputs per output (the dense FSMN level): convolve every input channel on its own, then
        # sum each group's results.
        depthwise = weight.reshape(-1, 1, 1, weight.shape[-1])
        out = conv_along_time(x, depthwise, 1, depthwise.shape[0])
        return out.unflatten(-1, (groups, -1)).sum(-1)
    image = x.unsqueeze(1).permute(0, 3, 1, 2)
    out = F.conv2d(image, weight, padding=(0, padding), groups=groups)
    return out.permute(0, 2, 3, 1).squeeze(1)


class ScaleNorm(nn.Module):
    """Normalises each frame to unit RMS with one learned gain (the FLASH layers' norm)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x * (self.g / norm.clamp(min=self.eps))  # one pass over the big tensor instead of two


class _DepthwiseConv(nn.Module):
    """Holder giving the depthwise kernel its checkpoint name (``….sequential.1.conv``)."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2,
                              groups=channels, bias=False)


class _ResidualDepthwiseConv(nn.Module):
    """``x + depthwise_conv(x)`` along time for time-major input."""

    def __init__(self, channels: int, kernel_size: int = 17):
        super().__init__()
        # Index 0 is a parameter-free placeholder so that the kernel sits at index 1, as in the checkpoint.
        self.sequential = nn.Sequential(nn.Identity(), _DepthwiseConv(channels, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The residual is folded into the kernel (+1 on the centre tap): one pass instead of conv + add.
        weight = self.sequential[1].conv.weight.clone()
        weight[..., weight.shape[-1] // 2] += 1
        return conv_along_time(x, weight.unsqueeze(2), dilation=1, groups=weight.shape[0])


class FeedForwardConv(nn.Module):
    """norm → linear → SiLU → residual depthwise conv, on ``(batch, frames, channels)``."""

    def __init__(self, dim_in: int, dim_out: int, norm: nn.Module):
        super().__init__()
        # Indices 2 (SiLU) and 4 (dropout, inactive at inference) hold no weights; keeping the positions
        # keeps the checkpoint names ``mdl.0``, ``mdl.1``, ``mdl.3``.
        self.mdl = nn.Sequential(norm, nn.Linear(dim_in, dim_out), nn.SiLU(), _ResidualDepthwiseConv(dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mdl(x)


class RotaryTable(nn.Module):
    """Rotary position embedding on the first ``2 * len(freqs)`` features, adjacent pairs rotated together.

    ``freqs`` is stored (the checkpoint carries it under every layer); one instance is shared by all layers.
    """

    def __init__(self, dim: int = 32, theta: float = 10000.0):
        super().__init__()
        self.register_buffer("freqs", 1.0 / theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))

    def cos_sin(self, frames: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(frames, device=device, dtype=self.freqs.dtype)
        angles = torch.outer(positions, self.freqs).repeat_interleave(2, dim=-1)
        return angles.cos().to(dtype), angles.sin().to(dtype)

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotate ``x`` (frames on dim -3 for ``(b, n, heads, d)``) by the tables ``(n, rot_dim)``."""
        rot_dim = cos.shape[-1]
        head, tail = x[..., :rot_dim], x[..., rot_dim:]
        pairs = head.unflatten(-1, (-1, 2))
        swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        cos, sin = cos[:, None, :], sin[:, None, :]
        return torch.cat((head * cos + swapped * sin, tail), dim=-1)


class OffsetScale(nn.Module):
    """Per-head affine copies of the shared query/key projection."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(heads, dim))
        self.beta = nn.Parameter(torch.zeros(heads, dim))
        nn.init.normal_(self.gamma, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-2) * self.gamma + self.beta  # (b, n, heads, d)


class GatedAttentionLayer(nn.Module):
    """FLASH layer with shared attention: relu² attention inside fixed groups of frames plus linear
    attention over the whole sequence, gating two value streams against each other."""

    def __init__(self, dim: int, rotary: RotaryTable, group_size: int = 256, query_key_dim: int = 128,
                 expansion_factor: float = 4.0):
        super().__init__()
        hidden_dim = int(dim * expansion_factor)
        self.group_size = group_size
        self.rotary_pos_emb = rotary
        self.to_hidden = FeedForwardConv(dim, hidden_dim, ScaleNorm(dim))
        self.to_qk = FeedForwardConv(dim, query_key_dim, ScaleNorm(dim))
        self.qk_offset_scale = OffsetScale(query_key_dim, heads=4)
        self.to_out = FeedForwardConv(hidden_dim // 2, dim, ScaleNorm(hidden_dim // 2))

    def forward(self, x: torch.Tensor, rotary_cos: torch.Tensor, rotary_sin: torch.Tensor) -> torch.Tensor:
        residual = x
        # Token shift: half the features look one frame back.
        half = x.shape[-1] // 2
        x = torch.cat((F.pad(x[..., :half], (0, 0, 1, -1)), x[..., half:]), dim=-1)
        hidden = self.to_hidden(x)  # [v | u]
        qk = RotaryTable.rotate(self.qk_offset_scale(self.to_qk(x)), rotary_cos, rotary_sin)
        attended = self._attend(qk, hidden)
        value_dim = hidden.shape[-1] // 2
        v, u = hidden[..., :value_dim], hidden[..., value_dim:]
        att_v, att_u = attended[..., :value_dim], attended[..., value_dim:]
        return residual + self.to_out(att_u * v * torch.sigmoid(att_v * u))

    def _attend(self, qk: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        batch, frames = values.shape[:2]
        group = self.group_size
        padding = -frames % group
        if padding:
            qk = F.pad(qk, (0, 0, 0, 0, 0, padding))
            values = F.pad(values, (0, 0, 0, padding))
        quad_q, lin_q, quad_k, lin_k = qk.unbind(dim=-2)
        groups = (frames + padding) // group
        grouped_q = quad_q.reshape(batch, groups, group, -1)
        grouped_k = quad_k.reshape(batch, groups, group, -1)
        grouped_values = values.reshape(batch, groups, group, -1)
        scores = torch.relu((grouped_q / group) @ grouped_k.transpose(-1, -2)).square()
        local = (scores @ grouped_values).reshape(batch, groups * group, -1)
        summary = lin_k.transpose(-1, -2) @ values / frames
        out = local + lin_q @ summary
        return out[:, :frames]


class DilatedDenseConv(nn.Module):
    """Dense stack of dilated depthwise convolutions over time (the memory of the gated FSMN).

    Each level sees the concatenation of every previous level's output and the input; weights are stored
    as Conv2d ``(k, 1)`` kernels as in the checkpoint and applied as 1-D convolutions.
    """

    def __init__(self, channels: int, lorder: int = 20, depth: int = 2):
        super().__init__()
        self.depth = depth
        self.kernel = 2 * lorder - 1
        for level in range(depth):
            setattr(self, f"conv{level + 1}", nn.Conv2d(channels * (level + 1), channels, (self.kernel, 1),
                                                        dilation=(2 ** level, 1), groups=channels, bias=False))
            setattr(self, f"norm{level + 1}", nn.InstanceNorm2d(channels, affine=True))
            setattr(self, f"prelu{level + 1}", nn.PReLU(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: time-major ``(batch, frames, channels)``."""
        skip = x
        for level in range(1, self.depth + 1):
            conv: nn.Conv2d = getattr(self, f"conv{level}")
            norm: nn.InstanceNorm2d = getattr(self, f"norm{level}")
            prelu: nn.PReLU = getattr(self, f"prelu{level}")
            out = conv_along_time(skip, conv.weight.transpose(2, 3), conv.dilation[0], conv.groups)
            # Instance norm: per channel over time (biased variance, as InstanceNorm2d).
            variance, mean = torch.var_mean(out, dim=1, correction=0, keepdim=True)
            out = (out - mean) * torch.rsqrt(variance + norm.eps) * norm.weight + norm.bias
            out = torch.where(out >= 0, out, out * prelu.weight)
            skip = torch.cat((out, skip), dim=-1)
        return out


class DilatedFSMN(nn.Module):
    """Feed-forward sequential memory: projection, then the dilated dense memory, added to the input."""

    def __init__(self, dim: int, lorder: int = 20):
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.project = nn.Linear(dim, dim, bias=False)
        self.conv = DilatedDenseConv(dim, lorder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.project(torch.relu(self.linear(x)))
        return x + self.conv(projected)


class GatedFSMN(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.to_u = FeedForwardConv(dim, dim, nn.LayerNorm(dim))
        self.to_v = FeedForwardConv(dim, dim, nn.LayerNorm(dim))
        self.fsmn = DilatedFSMN(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_v(x) * self.fsmn(self.to_u(x)) + x


class GatedFSMNBlock(nn.Module):
    """Bottleneck (1×1 conv, PReLU, norm) around a gated FSMN, with a residual connection."""

    def __init__(self, dim: int, inner: int = 256):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv1d(dim, inner, 1), nn.PReLU())
        self.norm1 = nn.LayerNorm(inner)
        self.gated_fsmn = GatedFSMN(inner)
        self.norm2 = nn.LayerNorm(inner)
        self.conv2 = nn.Conv1d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze, prelu = self.conv1
        y = prelu(F.linear(x, squeeze.weight.squeeze(-1), squeeze.bias))
        y = self.norm2(self.gated_fsmn(self.norm1(y)))
        return F.linear(y, self.conv2.weight.squeeze(-1), self.conv2.bias) + x


class MossFormerStack(nn.Module):
    def __init__(self, dim: int, depth: int, group_size: int = 256, query_key_dim: int = 128):
        super().__init__()
        rotary = RotaryTable(dim=min(32, query_key_dim))
        self.fsmn = nn.ModuleList(GatedFSMNBlock(dim) for _ in range(depth))
        self.layers = nn.ModuleList(GatedAttentionLayer(dim, rotary, group_size, query_key_dim)
                                    for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cos, sin = self.layers[0].rotary_pos_emb.cos_sin(x.shape[1], x.device, x.dtype)
        for attention, memory in zip(self.layers, self.fsmn):
            x = memory(attention(x, cos, sin))
        return x


class _IntraModel(nn.Module):
    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.mossformerM = MossFormerStack(dim, depth)
        self.norm = nn.LayerNorm(dim, eps=1e-6)


class _ComputationBlock(nn.Module):
    def __init__(self, dim: int, depth: int):
        super().__init__()
        self.intra_mdl = _IntraModel(dim, depth)
        self.intra_norm = nn.GroupNorm(1, dim, eps=1e-8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, dim, frames)``."""
        intra = self.intra_mdl.norm(self.intra_mdl.mossformerM(x.transpose(1, 2))).transpose(1, 2)
        return self.intra_norm(intra) + x


class ScaledSinusoidalPosition(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, frames: int, device: torch.device) -> torch.Tensor:
        """``(dim, frames)`` table to add to channel-major features."""
        angles = torch.outer(torch.arange(frames, device=device, dtype=self.inv_freq.dtype), self.inv_freq)
        return (torch.cat((angles.sin(), angles.cos()), dim=-1) * self.scale).transpose(0, 1)


class MaskNet(nn.Module):
    def __init__(self, encoder_dim: int, sequence_dim: int, num_layers: int, num_speakers: int):
        super().__init__()
        self.num_speakers = num_speakers
        self.norm = nn.GroupNorm(1, encoder_dim, eps=1e-8)
        self.conv1d_encoder = nn.Conv1d(encoder_dim, sequence_dim, 1, bias=False)
        self.pos_enc = ScaledSinusoidalPosition(sequence_dim)
        self.mdl = _ComputationBlock(sequence_dim, num_layers)
        self.conv1d_out = nn.Conv1d(sequence_dim, sequence_dim * num_speakers, 1)
        self.conv1_decoder = nn.Conv1d(sequence_dim, encoder_dim, 1, bias=False)
        self.prelu = nn.PReLU()
        self.output = nn.Sequential(nn.Conv1d(sequence_dim, sequence_dim, 1), nn.Tanh())
        self.output_gate = nn.Sequential(nn.Conv1d(sequence_dim, sequence_dim, 1), nn.Sigmoid())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(batch, encoder_dim, frames)`` → masks ``(batch, speakers, encoder_dim, frames)``."""
        x = self.conv1d_encoder(self.norm(features))
        x = x + self.pos_enc(x.shape[-1], x.device).to(x.dtype)
        x = self.conv1d_out(self.prelu(self.mdl(x)))
        batch, _, frames = x.shape
        x = x.reshape(batch * self.num_speakers, -1, frames)
        x = self.conv1_decoder(self.output(x) * self.output_gate(x))
        return torch.relu(x.reshape(batch, self.num_speakers, -1, frames))


class _Encoder(nn.Module):
    def __init__(self, dim: int, kernel_size: int):
        super().__init__()
        self.conv1d = nn.Conv1d(1, dim, kernel_size, stride=kernel_size // 2, bias=False)

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv1d(mixture.unsqueeze(1)))


class MossFormer2(nn.Module):
    """Mixture ``(batch, samples)`` → sources ``(batch, speakers, samples)`` at the model's sample rate.

    Defaults are the released ``MossFormer2_SS_16K`` configuration (55.7 M parameters).
    """

    def __init__(self, num_layers: int = 24, num_speakers: int = 2, encoder_dim: int = 512,
                 sequence_dim: int = 512, kernel_size: int = 16):
        super().__init__()
        self.num_speakers = num_speakers
        self.enc = _Encoder(encoder_dim, kernel_size)
        self.mask_net = MaskNet(encoder_dim, sequence_dim, num_layers, num_speakers)
        self.dec = nn.ConvTranspose1d(encoder_dim, 1, kernel_size, stride=kernel_size // 2, bias=False)

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        if mixture.dim() != 2:
            raise ValueError(f"MossFormer2 takes (batch, samples), got shape {tuple(mixture.shape)}")
        features = self.enc(mixture)
        masks = self.mask_net(features)
        batch, speakers, channels, frames = masks.shape
        masked = (features.unsqueeze(1) * masks).reshape(batch * speakers, channels, frames)
        sources = self.dec(masked).reshape(batch, speakers, -1)
        samples = mixture.shape[-1]
        if sources.shape[-1] < samples:
            return F.pad(sources, (0, samples - sources.shape[-1]))
        return sources[..., :samples]
