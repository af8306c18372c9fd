"""Seed-VC v1: a DiT trained with conditional flow matching on mel spectrograms, written for Vocalis.

The estimator predicts the flow velocity of the mel frames from the noisy mel, the prompt mel (the timbre
reference's frames in front, zeros after), the content condition (length-regulated content features) and
a 192-d CAM++ speaker embedding (the style). Module and attribute names follow the official checkpoints
(``ckpt['net']['cfm']`` holds ``estimator.*``, ``ckpt['net']['length_regulator']`` the rest), including
tensors the inference graph never reads (``x_embedder``, ``cond_embedder``, ``content_mask_embedder``,
``length_regulator.embedding``/``mask_token``, skip layers of layers that do not use them), so the files
load strictly.

The official files store a few layers weight-normed (``weight_g``/``weight_v``); those layers are
:class:`NormedLinear`/:class:`NormedConv1d` here and hold the folded ``weight``: the loader folds each pair
once, :func:`checkpoint_layout` gives the names and shapes the files carry.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.packed_linear import PackedLinear, pack_linears
from engine.models.seedvc.config import SeedVCConfig

# The reference registers ``input_pos`` for 16384 positions whatever the preset's block_size says.
MAX_POSITIONS = 16384
ROPE_BASE = 10000.0
RMS_EPS = 1e-5
FINAL_NORM_EPS = 1e-6
TIME_FREQUENCIES = 256  # width of the sinusoidal time features: 128 cosines then 128 sines
TIME_SCALE = 1000.0
TIME_MAX_PERIOD = 10000.0


class NormedLinear(nn.Linear):
    """A linear layer the checkpoints store weight-normed (``weight_g`` (out, 1), ``weight_v``)."""


class NormedConv1d(nn.Conv1d):
    """A convolution the checkpoints store weight-normed (``weight_g`` (out, 1, 1), ``weight_v``)."""


def checkpoint_layout(module: nn.Module) -> dict[str, list[int]]:
    """``{name: shape}`` of the tensors an official checkpoint holds for ``module``: its state dict with the
    weight of every normed layer split into ``weight_g`` and ``weight_v`` (weight norm over all axes but 0)."""
    normed = {name for name, child in module.named_modules() if isinstance(child, (NormedLinear, NormedConv1d))}
    layout: dict[str, list[int]] = {}
    for name, tensor in module.state_dict(keep_vars=True).items():
        owner, _, leaf = name.rpartition(".")
        if owner in normed and leaf == "weight":
            layout[f"{owner}.weight_g"] = [tensor.shape[0]] + [1] * (tensor.ndim - 1)
            layout[f"{owner}.weight_v"] = list(tensor.shape)
        else:
            layout[name] = list(tensor.shape)
    return layout


def find_multiple(n: int, k: int) -> int:
    return n if n % k == 0 else n + k - n % k


def sequence_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """``(B, length)`` bool: True at positions before each length."""
    return torch.arange(length, device=lengths.device)[None, :] < lengths[:, None]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = RMS_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x) * self.weight

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x / rms(x)`` computed in float32, in ``x``'s dtype (without the learned weight). The mean square
        comes from one norm reduction: no squared copy of ``x`` is made."""
        x32 = x.float()
        mean_square = torch.linalg.vector_norm(x32, dim=-1, keepdim=True).square() / x.shape[-1]
        return (x32 * torch.rsqrt(mean_square + self.eps)).type_as(x)


class AdaptiveRMSNorm(nn.Module):
    """``w · RMSNorm(x) + b`` with ``[w | b] = project_layer(c)``; plain RMSNorm when ``c`` is None (blocks of
    models that feed the time as a token)."""

    def __init__(self, dim: int):
        super().__init__()
        self.project_layer = nn.Linear(dim, 2 * dim)
        self.norm = RMSNorm(dim)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        if condition is None:
            return self.norm(x)
        weight, bias = self.project_layer(condition).chunk(2, dim=-1)
        # The adaptive and learned weights are folded into one per-row scale (one pass over x fewer).
        return torch.addcmul(bias[:, None], self.norm.normalize(x), (weight * self.norm.weight)[:, None])


def rope_table(length: int, head_dim: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin ``(length, head_dim/2)`` of the angles ``pos · base^(−2j/head_dim)``, float32."""
    inverse = 1.0 / (ROPE_BASE ** (torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(length, device=device), inverse)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs ``(x[2j], x[2j+1])`` of ``x (B, T, H, head_dim)`` by the table's angles: one
    complex multiplication by ``cos + i·sin`` per pair."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    rotated = pairs * torch.complex(cos, sin)[None, :, None]
    return torch.view_as_real(rotated).flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.wqkv = PackedLinear(dim, 3 * dim, bias=False)
        self.wo = PackedLinear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                key_mask: torch.Tensor | None, queries_from: int = 0) -> torch.Tensor:
        """Self-attention of every position of ``x``, or of those from ``queries_from`` on (over all keys)."""
        batch, length, dim = x.shape
        head_dim = dim // self.heads
        if queries_from:
            q = self.wqkv.fused(x[:, queries_from:], rows=slice(0, dim)).view(batch, length - queries_from,
                                                                               self.heads, head_dim)
            k, v = self.wqkv.fused(x, rows=slice(dim, None)).view(batch, length, 2, self.heads, head_dim).unbind(2)
        else:
            q, k, v = self.wqkv(x).view(batch, length, 3, self.heads, head_dim).unbind(2)
        cos, sin = rope
        q, k = apply_rope(q, cos[queries_from:], sin[queries_from:]), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           attn_mask=key_mask)
        return self.wo(y.transpose(1, 2).reshape(batch, length - queries_from, dim))


class FeedForward(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        hidden = find_multiple(int(2 * 4 * dim / 3), 256)
        self.w1 = PackedLinear(dim, hidden, bias=False)
        self.w3 = PackedLinear(dim, hidden, bias=False)
        self.w2 = PackedLinear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + w2(silu(w1·x) · w3·x)``; the SiLU, the product and the sum are applied as each product
        is written."""
        gated = self.w3.fused(x, combine="mul", other=self.w1.fused(x, silu=True))
        return self.w2.fused(gated, combine="add", other=residual)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = Attention(dim, heads)
        self.feed_forward = FeedForward(dim)
        self.ffn_norm = AdaptiveRMSNorm(dim)
        self.attention_norm = AdaptiveRMSNorm(dim)
        # Every block carries the U-ViT merge layer; only the receiving half uses it.
        self.skip_in_linear = nn.Linear(2 * dim, dim)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None, rope: tuple[torch.Tensor, torch.Tensor],
                key_mask: torch.Tensor | None, keep_from: int = 0) -> torch.Tensor:
        """The block's output at the positions from ``keep_from`` on (all of them attend to every position)."""
        h = self.attention(self.attention_norm(x, condition), rope, key_mask, keep_from).add_(x[:, keep_from:])
        return self.feed_forward(self.ffn_norm(h, condition), h)


class Transformer(nn.Module):
    """Pre-norm blocks with rotary attention and U-ViT skips: the first half's outputs are stacked and the
    second half takes them back last-in first-out through ``skip_in_linear``; the middle block neither."""

    def __init__(self, config: SeedVCConfig):
        super().__init__()
        self.uvit_skip = config.uvit_skip
        self.head_dim = config.head_dim
        self.layers = nn.ModuleList(TransformerBlock(config.hidden_dim, config.num_heads) for _ in range(config.depth))
        self.norm = AdaptiveRMSNorm(config.hidden_dim)

    def forward(self, x: torch.Tensor, time: torch.Tensor, block_condition: torch.Tensor | None,
                key_mask: torch.Tensor | None, keep_from: int = 0) -> torch.Tensor:
        """The output at the positions from ``keep_from`` on: the last block computes only those (its other
        positions feed nothing after it)."""
        rope = rope_table(x.shape[1], self.head_dim, x.device)
        half = len(self.layers) // 2
        last = len(self.layers) - 1
        skips: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            if self.uvit_skip and index > half and skips:
                x = layer.skip_in_linear(torch.cat([x, skips.pop()], dim=-1))
            x = layer(x, block_condition, rope, key_mask, keep_from if index == last else 0)
            if self.uvit_skip and index < half:
                skips.append(x)
        return self.norm(x, time)


class TimestepEmbedder(nn.Module):
    """``[cos(1000·t·f), sin(1000·t·f)]`` with ``f_i = exp(−ln(10⁴)·i/128)``, then a two-layer SiLU MLP."""

    def __init__(self, dim: int):
        super().__init__()
        half = TIME_FREQUENCIES // 2
        self.register_buffer("freqs", torch.exp(-math.log(TIME_MAX_PERIOD) * torch.arange(half, dtype=torch.float32)
                                                / half))
        self.mlp = nn.Sequential(nn.Linear(TIME_FREQUENCIES, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        args = TIME_SCALE * t[:, None].float() * self.freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(self.mlp[0].weight.dtype))


def reflect_pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflect padding that also works on inputs no longer than the padding (zero-extended first, as the
    reference's convolution wrapper does)."""
    length = x.shape[-1]
    widest = max(left, right)
    extra = widest - length + 1 if length <= widest else 0
    if extra:
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), mode="reflect")
    return padded[..., :padded.shape[-1] - extra]


class NamedConv(nn.Module):
    """A holder that gives a convolution its checkpoint path (``….conv``)."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv


class WaveNetConv(nn.Module):
    """A weight-normed Conv1d with reflect padding of ``(k−1)·dilation`` split over both sides (the
    reference's ``SConv1d``; keys ``….conv.conv.*``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.conv = NamedConv(NormedConv1d(in_channels, out_channels, kernel_size, dilation=dilation))
        total = (kernel_size - 1) * dilation
        self.padding = (total - total // 2, total // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv.conv
        if conv.kernel_size[0] == 1:
            # A 1×1 convolution is a matrix product; oneDNN would send it through its slow generic path.
            return torch.matmul(conv.weight[:, :, 0], x) + conv.bias[:, None]
        if any(self.padding):
            x = reflect_pad(x, *self.padding)
        return conv(x)


class WaveNet(nn.Module):
    """Gated dilated convolutions conditioned on a time embedding (VITS' WN with reflect-padded convs)."""

    def __init__(self, hidden: int, kernel_size: int, dilation_rate: int, layers: int):
        super().__init__()
        self.hidden = hidden
        self.cond_layer = WaveNetConv(hidden, 2 * hidden * layers, 1)
        self.in_layers = nn.ModuleList(WaveNetConv(hidden, 2 * hidden, kernel_size, dilation_rate ** index)
                                       for index in range(layers))
        self.res_skip_layers = nn.ModuleList(WaveNetConv(hidden, 2 * hidden if index < layers - 1 else hidden, 1)
                                             for index in range(layers))

    def forward(self, h: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        width = self.hidden
        gates = self.cond_layer(condition[:, :, None])
        out = torch.zeros_like(h)
        for index, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            a = in_layer(h) + gates[:, 2 * width * index:2 * width * (index + 1)]
            z = torch.tanh(a[:, :width]) * torch.sigmoid(a[:, width:])
            r = res_skip(z)
            if index < len(self.in_layers) - 1:
                h = (h + r[:, :width]) * mask
                out = out + r[:, width:]
            else:
                out = out + r
        return out * mask


class FinalLayer(nn.Module):
    """``linear(LayerNorm(y)·(1 + scale) + shift)`` with ``[shift | scale]`` from the time embedding."""

    def __init__(self, dim: int, condition_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=FINAL_NORM_EPS)
        self.linear = NormedLinear(dim, dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(condition_dim, 2 * dim))

    def forward(self, y: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(condition).chunk(2, dim=-1)
        return self.linear(self.norm_final(y) * (1 + scale[:, None]) + shift[:, None])


class DiT(nn.Module):
    """The flow estimator ``(x, prompt_x, x_lens, t, style, mu) → velocity``; x and prompt_x ``(B, 80, T)``,
    t ``(B,)``, style ``(B, 192)``, mu ``(B, T, content_dim)`` (time-major), x_lens ``(B,)``."""

    def __init__(self, config: SeedVCConfig):
        super().__init__()
        self.config = config
        dim, mels = config.hidden_dim, config.in_channels
        self.register_buffer("input_pos", torch.arange(MAX_POSITIONS))
        self.transformer = Transformer(config)
        self.x_embedder = NormedLinear(mels, dim)  # unused at inference
        self.cond_embedder = nn.Embedding(config.content_codebook_size, dim)  # unused at inference
        self.cond_projection = nn.Linear(config.content_dim, dim)
        self.t_embedder = TimestepEmbedder(dim)
        if config.final_layer == "wavenet":
            width = config.wavenet_hidden
            self.t_embedder2 = TimestepEmbedder(width)
            self.conv1 = nn.Linear(dim, width)
            self.conv2 = nn.Conv1d(width, mels, 1)
            self.wavenet = WaveNet(width, config.wavenet_kernel, config.wavenet_dilation_rate, config.wavenet_layers)
            self.final_layer = FinalLayer(width, dim)
            self.res_projection = nn.Linear(dim, width)
        else:
            self.final_mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, mels))
        self.content_mask_embedder = nn.Embedding(1, dim)  # unused at inference
        self.skip_linear = nn.Linear(dim + mels, dim)
        style_in_sequence = 0 if config.style_as_token else config.style_dim
        self.cond_x_merge_linear = nn.Linear(2 * mels + dim + style_in_sequence, dim)
        if config.style_as_token:
            self.style_in = nn.Linear(config.style_dim, dim)

    def head_reach(self) -> int:
        """Frames on either side of a frame that reach its velocity through the layers after the transformer
        (an upper bound: the WaveNet's convolutions; the other head layers work frame by frame)."""
        if self.config.final_layer != "wavenet":
            return 0
        return sum((conv.conv.conv.kernel_size[0] - 1) * conv.conv.conv.dilation[0] for conv in self.wavenet.in_layers)

    def condition(self, prompt_x: torch.Tensor, style: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """The part of the merged input that stays the same through sampling, ``(B, T, dim)``: the prompt
        mel, content (projected) and style columns of ``cond_x_merge_linear`` with its bias. The sampler
        computes it once per chunk; only the noisy mel's 80 columns change from step to step."""
        mels = self.config.in_channels
        weight, bias = self.cond_x_merge_linear.weight, self.cond_x_merge_linear.bias
        columns = 2 * mels + self.cond_projection.out_features
        merged = F.linear(torch.cat([prompt_x.transpose(1, 2), self.cond_projection(mu)], dim=-1),
                          weight[:, mels:columns], bias)
        if not self.config.style_as_token:
            merged = merged + F.linear(style, weight[:, columns:])[:, None]
        return merged

    def forward(self, x: torch.Tensor, prompt_x: torch.Tensor, x_lens: torch.Tensor, t: torch.Tensor,
                style: torch.Tensor, mu: torch.Tensor, output_from: int = 0, *,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """The velocity ``(B, 80, T)``. With ``output_from`` the frames before it come out zero and the head
        after the transformer runs only from ``head_reach()`` frames before it: the sampler discards the prompt
        frames' velocity, and the head (the WaveNet above all) is a third of the work per frame; the last
        transformer block computes only those frames too.
        ``condition``: :meth:`condition` of these inputs, when already computed."""
        config = self.config
        batch, _, frames = x.shape
        time = self.t_embedder(t)
        noisy = x.transpose(1, 2)
        if condition is None:
            condition = self.condition(prompt_x, style, mu)
        h = F.linear(noisy, self.cond_x_merge_linear.weight[:, :config.in_channels]) + condition
        prefix = []
        if config.time_as_token:
            prefix.append(time[:, None])
        if config.style_as_token:
            prefix.append(self.style_in(style)[:, None])
        if prefix:
            h = torch.cat(prefix + [h], dim=1)
        x_lens = x_lens.to(x.device)
        key_mask = None
        if bool((x_lens < frames).any()):
            key_mask = sequence_mask(x_lens + len(prefix), h.shape[1])[:, None, None, :]
        start = max(0, output_from - self.head_reach())
        h = self.transformer(h, time, None if config.time_as_token else time, key_mask, len(prefix) + start)
        if config.long_skip:
            h = self.skip_linear(torch.cat([h, noisy[:, start:]], dim=-1))
        if config.final_layer == "mlp":
            velocity = self.final_mlp(h).transpose(1, 2)
        else:
            mask = sequence_mask(x_lens, frames)[:, None, start:].to(h.dtype)
            wave = self.wavenet(self.conv1(h).transpose(1, 2), mask, self.t_embedder2(t))
            y = wave.transpose(1, 2) + self.res_projection(h)
            # conv2 is a 1×1 convolution: applied time-major as a linear layer, then transposed.
            velocity = F.linear(self.final_layer(y, time), self.conv2.weight[:, :, 0], self.conv2.bias).transpose(1, 2)
        if output_from <= 0:
            return velocity
        out = velocity.new_zeros(batch, velocity.shape[1], frames)
        out[..., output_from:] = velocity[..., output_from - start:]
        return out


class CFM(nn.Module):
    """Conditional flow matching with the DiT estimator (checkpoint module ``cfm``)."""

    def __init__(self, config: SeedVCConfig):
        super().__init__()
        self.estimator = DiT(config)


class LengthRegulator(nn.Module):
    """Content features ``(B, Tc, C_in)`` → condition ``(B, T, C)`` at the mel frame rate: project, stretch by
    nearest-neighbour interpolation (PyTorch's legacy ``nearest``), four conv/GroupNorm/Mish stages and a 1×1
    convolution, then zero the frames past each target length (checkpoint module ``length_regulator``)."""

    def __init__(self, config: SeedVCConfig):
        super().__init__()
        channels = config.regulator_channels
        stages: list[nn.Module] = []
        for _ in range(4):
            stages += [nn.Conv1d(channels, channels, 3, padding=1), nn.GroupNorm(1, channels), nn.Mish()]
        stages.append(nn.Conv1d(channels, channels, 1))
        self.model = nn.Sequential(*stages)
        self.embedding = nn.Embedding(config.regulator_codebook_size, channels)  # discrete content only
        self.mask_token = nn.Parameter(torch.zeros(1, channels))  # training only
        self.content_in_proj = nn.Linear(config.regulator_in_channels, channels)

    def forward(self, content: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
        h = self.content_in_proj(content).transpose(1, 2)
        frames = int(target_lengths.max())
        h = F.interpolate(h, size=frames, mode="nearest")
        h = self.model(h).transpose(1, 2)
        return h * sequence_mask(target_lengths.to(h.device), frames)[:, :, None].to(h.dtype)


class SeedVC(nn.Module):
    """The DiT/CFM and the length regulator of one Seed-VC v1 model, with the Euler sampler."""

    def __init__(self, config: SeedVCConfig):
        super().__init__()
        self.config = config
        self.cfm = CFM(config)
        self.length_regulator = LengthRegulator(config)
        pack_linears(self)  # the other linear layers take the packed CPU path too

    @property
    def estimator(self) -> DiT:
        return self.cfm.estimator

    @torch.inference_mode()
    def regulate(self, content: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
        """``content (B, Tc, C_in)``, ``target_lengths (B,)`` mel frames → ``(B, max(target_lengths), C)``."""
        weight = self.length_regulator.content_in_proj.weight
        return self.length_regulator(content.to(weight), torch.as_tensor(target_lengths, device=weight.device))

    def _model_inputs(self, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        weight = self.estimator.cond_projection.weight
        return tuple(value.to(device=weight.device, dtype=weight.dtype) for value in values)

    @staticmethod
    def _guided(prompt_x: torch.Tensor, style: torch.Tensor, mu: torch.Tensor, cfg_rate: float):
        """The batch the estimator sees: the inputs, followed under guidance by the null rows (prompt, style
        and content zeroed)."""
        if cfg_rate == 0:
            return prompt_x, style, mu
        return tuple(torch.cat([value, torch.zeros_like(value)]) for value in (prompt_x, style, mu))

    @torch.inference_mode()
    def velocity(self, x: torch.Tensor, prompt_x: torch.Tensor, x_lens: torch.Tensor, t: torch.Tensor,
                 style: torch.Tensor, mu: torch.Tensor, cfg_rate: float, output_from: int = 0, *,
                 condition: torch.Tensor | None = None) -> torch.Tensor:
        """The estimator's velocity, guided: ``(1 + r)·v(cond) − r·v(null)`` with the null row's prompt, style
        and content zeroed (one batch of 2B); a single conditional pass when ``r`` is 0. Inputs are cast to the
        model's device and dtype; the result is float32, zero before ``output_from`` (see :meth:`DiT.forward`).
        ``condition``: the estimator's :meth:`DiT.condition` of that batch, when already computed."""
        x, t, prompt_x, style, mu = self._model_inputs(x, t, *self._guided(prompt_x, style, mu, cfg_rate))
        x_lens = x_lens.to(x.device)
        if cfg_rate == 0:
            return self.estimator(x, prompt_x, x_lens, t, style, mu, output_from, condition=condition).float()
        both = self.estimator(torch.cat([x, x]), prompt_x, torch.cat([x_lens, x_lens]), torch.cat([t, t]), style, mu,
                              output_from, condition=condition)
        conditional, null = both.float().chunk(2)
        return (1.0 + cfg_rate) * conditional - cfg_rate * null

    @torch.inference_mode()
    def sample(self, mu: torch.Tensor, prompt_mel: torch.Tensor, style: torch.Tensor, noise: torch.Tensor,
               n_steps: int, cfg_rate: float = 0.7, *, x_lens: torch.Tensor | None = None,
               on_step=None) -> torch.Tensor:
        """Euler integration of the flow from ``noise (B, 80, T)`` at t = 0 to t = 1 in ``n_steps`` equal steps.

        ``mu (B, T, C)`` is the content condition of the prompt frames followed by the frames to generate;
        ``prompt_mel (B, 80, T_ref)`` fills the first ``T_ref`` frames of the prompt, whose output frames stay
        zero. The state is integrated in float32 whatever the model's dtype. Returns ``(B, 80, T)`` float32 on
        the model's device. ``on_step(step)`` is called after each step (cancel checks)."""
        device = self.estimator.cond_projection.weight.device
        batch, _, frames = noise.shape
        prompt_frames = prompt_mel.shape[-1]
        if mu.shape[1] != frames:
            raise ValueError(f"mu has {mu.shape[1]} frames, noise {frames}")
        x = noise.to(device=device, dtype=torch.float32).clone()
        x[..., :prompt_frames] = 0
        prompt_x = torch.zeros_like(x)
        prompt_x[..., :prompt_frames] = prompt_mel.to(x)
        mu, style = mu.to(x), style.to(x)
        x_lens = torch.full((batch,), frames, device=device) if x_lens is None else x_lens.to(device)
        condition = self.estimator.condition(*self._model_inputs(*self._guided(prompt_x, style, mu, cfg_rate)))
        t_span = torch.linspace(0, 1, n_steps + 1, device=device)
        t = t_span[0]
        for step in range(1, n_steps + 1):
            dt = t_span[step] - t_span[step - 1]
            v = self.velocity(x, prompt_x, x_lens, t.expand(batch), style, mu, cfg_rate, output_from=prompt_frames,
                              condition=condition)
            x = x + dt * v
            t = t + dt
            x[..., :prompt_frames] = 0
            if on_step is not None:
                on_step(step)
        return x
