"""StableVC's networks, written for Vocalis from the paper's description (Yao et al., AAAI 2025; no official
code exists): a DiT over mel frames trained by conditional flow matching, conditioned on content units,
with each block attending to the timbre and to the style through a dual attention whose style branch enters
through a learned, zero-initialised adaptive gate; and the duration predictor of the deduplicated units.

Input: ``x = W_in [noisy mel; content] + W_e · excitation``, where the excitation is the log-mel of a harmonic
comb at each frame's pitch: the style reference's contour (stretched over the output frames by relative
time) raised to the timbre reference's register (:func:`.features.harmonic_excitation`). It is part of the
style condition: dropping the style drops it. Without it a model trained for minutes averages the
harmonics away and no pitch survives (README, "StableVC", separability).

Block ``i`` (``x``: mel-frame tokens, ``c``: time embedding, adaLN modulation from ``c``)::

    h = x + SelfAttention(mod₁(norm(x), c))                        rotary positions, padding masked
    n = mod₂(norm(h), c)
    a = TimbreAttention(n, [null, speaker, reference mel frames])
    s = StyleAttention(n + P(relative time), [null, speaking rate, style frames + their relative times])
    g = tanh(α) · σ(W [n; s])                                     α: per channel, 0 at initialisation
    h = h + a + g ⊙ s
    y = h + FeedForward(mod₃(norm(h), c))

Every condition memory starts with a learned null token that is never masked: dropping a condition (for
classifier-free guidance, during training and at sampling) masks everything after it. The style frames and
the style queries both carry their relative time in the utterance (0 at the first valid frame, 1 at the
last), so a mel frame can find the part of the style contour at the same place however long either is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.models import flow
from engine.models.seedvc.mel import _mel_basis
from engine.models.seedvc.model import RMSNorm, TimestepEmbedder, apply_rope, rope_table, sequence_mask
from engine.models.stablevc.config import SPEAKER_DIM, STYLE_FEATURES, StableVCConfig
from engine.models.stablevc.features import aligned_style, harmonic_excitation


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


def attention_mask(key_mask: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` bool keys to attend to → the ``(B, 1, 1, K)`` mask scaled dot-product attention takes."""
    return key_mask[:, None, None, :]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads).unbind(2)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           attn_mask=attention_mask(mask))
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.norm = RMSNorm(dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q = self.q(x).view(batch, length, self.heads, -1).transpose(1, 2)
        k, v = self.kv(self.norm(memory)).view(batch, memory.shape[1], 2, self.heads, -1).unbind(2)
        y = F.scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2), attn_mask=attention_mask(memory_mask))
        return self.out(y.transpose(1, 2).reshape(batch, length, dim))


class AdaptiveGate(nn.Module):
    """``tanh(α) · σ(W [n; s])``: how much of the style branch enters, per frame and channel. ``α`` starts at
    0, so a fresh model ignores the style and training opens the gate as the style becomes useful."""

    def __init__(self, dim: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, query: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.alpha) * torch.sigmoid(self.proj(torch.cat([query, style], dim=-1)))


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim * mult), nn.GELU(approximate="tanh"), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DualAttentionBlock(nn.Module):
    def __init__(self, dim: int, heads: int, ff_mult: int):
        super().__init__()
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.norm_self, self.norm_cross, self.norm_ff = (nn.LayerNorm(dim, elementwise_affine=False) for _ in range(3))
        self.self_attention = SelfAttention(dim, heads)
        self.timbre_attention = CrossAttention(dim, heads)
        self.style_attention = CrossAttention(dim, heads)
        self.gate = AdaptiveGate(dim)
        self.feed_forward = FeedForward(dim, ff_mult)

    def forward(self, x: torch.Tensor, time: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                mask: torch.Tensor, timbre: tuple[torch.Tensor, torch.Tensor],
                style: tuple[torch.Tensor, torch.Tensor], style_query: torch.Tensor) -> torch.Tensor:
        """``style_query (B, T, dim)``: each frame's relative time, added to its style attention query."""
        shift1, scale1, shift2, scale2, shift3, scale3 = self.modulation(time).chunk(6, dim=-1)
        h = x + self.self_attention(modulate(self.norm_self(x), shift1, scale1), rope, mask)
        n = modulate(self.norm_cross(h), shift2, scale2)
        styled = self.style_attention(n + style_query, *style)
        h = h + self.timbre_attention(n, *timbre) + self.gate(n, styled) * styled
        return h + self.feed_forward(modulate(self.norm_ff(h), shift3, scale3))


def _with_null(null: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``[null, tokens…]`` and its key mask, everything but the null masked on the rows of ``drop``."""
    batch = tokens.shape[0]
    memory = torch.cat([null.expand(batch, 1, -1).to(tokens), tokens], dim=1)
    keep = mask & ~drop[:, None]
    return memory, torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=mask.device), keep], dim=1)


def relative_positions(mask: torch.Tensor, pairs: int) -> torch.Tensor:
    """``(B, L, 2·pairs)`` sinusoids of each frame's relative time in [0, 1] within its row's valid frames
    (``mask (B, L)``, valid frames first), so sequences of any length map onto each other by where in the
    utterance a frame lies."""
    length = mask.sum(dim=1, keepdim=True).clamp(min=2) - 1
    position = (torch.arange(mask.shape[1], device=mask.device)[None] / length).clamp(max=1)[..., None]
    angles = position * math.pi * (2 ** torch.arange(pairs, device=mask.device, dtype=torch.float32))
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Conditions:
    """The timbre and style inputs of one batch, as the flow model reads them.

    ``speaker (B, 192)`` CAM++; ``reference (B, n_mels, Tr)`` normalised log-mel with ``reference_mask
    (B, Tr)``; ``style (B, Ts, 3)`` style frames with ``style_mask (B, Ts)``; ``rate (B,)`` units per second;
    ``register (B,)`` the timbre reference's median log-f0."""

    def __init__(self, speaker: torch.Tensor, reference: torch.Tensor, reference_mask: torch.Tensor,
                 style: torch.Tensor, style_mask: torch.Tensor, rate: torch.Tensor, register: torch.Tensor):
        self.speaker, self.reference, self.reference_mask = speaker, reference, reference_mask
        self.style, self.style_mask, self.rate, self.register = style, style_mask, rate, register

    def to(self, device: torch.device, dtype: torch.dtype) -> "Conditions":
        return Conditions(self.speaker.to(device, dtype), self.reference.to(device, dtype),
                          self.reference_mask.to(device), self.style.to(device, dtype), self.style_mask.to(device),
                          self.rate.to(device, dtype), self.register.to(device, torch.float32))

    def repeat(self, times: int) -> "Conditions":
        return Conditions(*(value.repeat(times, *([1] * (value.ndim - 1))) for value in
                            (self.speaker, self.reference, self.reference_mask, self.style, self.style_mask, self.rate,
                             self.register)))


class FlowModel(nn.Module):
    """The DiT estimating the flow velocity of normalised mel frames."""

    def __init__(self, config: StableVCConfig):
        super().__init__()
        dim, n_mels = config.dim, config.mel.n_mels
        self.head_dim = dim // config.heads
        self.style_pairs = config.style_positions
        self.unit_embedding = nn.Embedding(config.units, dim)
        self.content_conv = nn.Conv1d(dim, dim, 5, padding=2)
        self.input = nn.Linear(n_mels + dim, dim)
        self.mel_settings = config.mel
        self.register_buffer("mel_basis", _mel_basis(config.mel).clone(), persistent=False)
        self.excitation = nn.Linear(n_mels, dim)
        self.time = TimestepEmbedder(dim)
        self.speaker = nn.Linear(SPEAKER_DIM, dim)
        self.reference = nn.Linear(n_mels, dim)
        self.timbre_null = nn.Parameter(torch.zeros(1, 1, dim))
        self.style_frames = nn.Linear(STYLE_FEATURES + 2 * config.style_positions, dim)
        self.style_query = nn.Linear(2 * config.style_positions, dim)
        self.rate = nn.Linear(1, dim)
        self.style_null = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(DualAttentionBlock(dim, config.heads, config.ff_mult) for _ in range(config.depth))
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.final_norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.output = nn.Linear(dim, n_mels)
        # Zero like the gate's α: a fresh model ignores the style, and training opens this path at once (its
        # gradient does not vanish, unlike a gated branch whose gate and branch both start at zero).
        nn.init.zeros_(self.excitation.weight)
        nn.init.zeros_(self.excitation.bias)
        nn.init.normal_(self.timbre_null, std=0.02)
        nn.init.normal_(self.style_null, std=0.02)

    def timbre_memory(self, conditions: Conditions, drop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.cat([self.speaker(conditions.speaker)[:, None],
                            self.reference(conditions.reference.transpose(1, 2))], dim=1)
        mask = torch.cat([torch.ones_like(conditions.reference_mask[:, :1]), conditions.reference_mask], dim=1)
        return _with_null(self.timbre_null, tokens, mask, drop)

    def style_memory(self, conditions: Conditions, drop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        style = conditions.style
        positions = relative_positions(conditions.style_mask, self.style_pairs).to(style.dtype)
        frames = self.style_frames(torch.cat([style, positions], dim=-1))
        rate = self.rate(torch.log1p(conditions.rate)[:, None])[:, None]
        mask = torch.cat([torch.ones_like(conditions.style_mask[:, :1]), conditions.style_mask], dim=1)
        return _with_null(self.style_null, torch.cat([rate, frames], dim=1), mask, drop)

    def forward(self, x: torch.Tensor, t: torch.Tensor, units: torch.Tensor, mask: torch.Tensor,
                conditions: Conditions, drop_timbre: torch.Tensor, drop_style: torch.Tensor) -> torch.Tensor:
        """Velocity ``(B, n_mels, T)`` of ``x (B, n_mels, T)`` at times ``t (B,)`` given content ``units (B, T)``
        and the frame ``mask (B, T)`` (padding: False; its output is zero)."""
        content = self.unit_embedding(units) * mask[..., None]
        content = self.content_conv(content.transpose(1, 2)).transpose(1, 2)
        h = self.input(torch.cat([x.transpose(1, 2), content], dim=-1))
        aligned = aligned_style(conditions.style, conditions.style_mask, mask)
        excitation = harmonic_excitation(aligned, conditions.register, self.mel_settings, self.mel_basis)
        h = h + self.excitation(excitation.to(h.dtype) * ~drop_style[:, None, None])
        time = self.time(t).to(h.dtype)
        rope = rope_table(h.shape[1], self.head_dim, h.device)
        timbre = self.timbre_memory(conditions, drop_timbre)
        style = self.style_memory(conditions, drop_style)
        style_query = self.style_query(relative_positions(mask, self.style_pairs).to(h.dtype))
        for block in self.blocks:
            h = block(h, time, rope, mask, timbre, style, style_query)
        shift, scale = self.final_modulation(time).chunk(2, dim=-1)
        out = self.output(modulate(self.final_norm(h), shift, scale))
        return (out * mask[..., None]).transpose(1, 2)


class DurationPredictor(nn.Module):
    """Log-durations (mel frames) of deduplicated units, from their embeddings and the speaking rate of the
    style reference: convolutions over the unit sequence, the rate added as a bias."""

    def __init__(self, config: StableVCConfig):
        super().__init__()
        channels = config.duration_channels
        self.embedding = nn.Embedding(config.units, channels)
        self.rate = nn.Linear(1, channels)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, 3, padding=1) for _ in range(config.duration_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(config.duration_layers))
        self.output = nn.Linear(channels, 1)

    def forward(self, units: torch.Tensor, mask: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """``units (B, N)`` with ``mask (B, N)`` and ``rate (B,)`` → ``(B, N)`` predicted ``log(1 + frames)``."""
        h = self.embedding(units) + self.rate(torch.log1p(rate)[:, None])[:, None]
        for conv, norm in zip(self.convs, self.norms):
            h = h * mask[..., None]
            h = norm(F.gelu(conv(h.transpose(1, 2)).transpose(1, 2))) + h
        return self.output(h)[..., 0] * mask


class StableVC(nn.Module):
    """The flow model, the duration predictor and the k-means centroids of one trained run."""

    def __init__(self, config: StableVCConfig, content_dim: int):
        super().__init__()
        self.config = config
        self.flow = FlowModel(config)
        self.duration = DurationPredictor(config)
        self.register_buffer("centroids", torch.zeros(config.units, content_dim))

    @property
    def device(self) -> torch.device:
        return self.flow.output.weight.device

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.config.mel_mean) / self.config.mel_std

    def denormalize(self, mel: torch.Tensor) -> torch.Tensor:
        return mel * self.config.mel_std + self.config.mel_mean

    def guided_velocity(self, x: torch.Tensor, t: torch.Tensor, units: torch.Tensor, mask: torch.Tensor,
                        conditions: Conditions, timbre_scale: float, style_scale: float) -> torch.Tensor:
        """``v + w_t·(v − v_no_timbre) + w_s·(v − v_no_style)``: classifier-free guidance with separate
        scales, the unconditional rows in the same batch; a single pass when both scales are 0."""
        rows = [(False, False)] + [(True, False)] * (timbre_scale != 0) + [(False, True)] * (style_scale != 0)
        batch = x.shape[0]
        count = len(rows)
        drop_timbre = torch.tensor([r[0] for r in rows], device=x.device).repeat_interleave(batch)
        drop_style = torch.tensor([r[1] for r in rows], device=x.device).repeat_interleave(batch)
        velocity = self.flow(x.repeat(count, 1, 1), t.repeat(count), units.repeat(count, 1), mask.repeat(count, 1),
                             conditions.repeat(count), drop_timbre, drop_style).float().chunk(count)
        guided = velocity[0]
        index = 1
        for scale in (timbre_scale, style_scale):
            if scale != 0:
                guided = guided + scale * (velocity[0] - velocity[index])
                index += 1
        return guided

    @torch.inference_mode()
    def sample(self, units: torch.Tensor, conditions: Conditions, noise: torch.Tensor, steps: int, *,
               timbre_scale: float = 0.7, style_scale: float = 0.7, method: str = "euler",
               sway: float | None = None, mask: torch.Tensor | None = None, on_step=None) -> torch.Tensor:
        """Log-mel ``(B, n_mels, T)`` float32 (denormalised) for content ``units (B, T)`` from ``noise``."""
        parameter = self.flow.output.weight
        units = units.to(parameter.device)
        mask = torch.ones_like(units, dtype=torch.bool) if mask is None else mask.to(parameter.device)
        conditions = conditions.to(parameter.device, parameter.dtype)

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.guided_velocity(x.to(parameter.dtype), t.to(parameter.dtype), units, mask, conditions,
                                        timbre_scale, style_scale)

        x = flow.integrate(velocity, noise.to(parameter.device), steps, method=method, sway=sway, on_step=on_step)
        return self.denormalize(x) * mask[:, None]

    @torch.inference_mode()
    def predict_durations(self, units: torch.Tensor, rate: float) -> torch.Tensor:
        """``(N,)`` whole mel-frame durations (at least 1) of deduplicated ``units (N,)`` at speaking ``rate``."""
        device = self.device
        log_duration = self.duration(units[None].to(device), torch.ones(1, units.numel(), dtype=torch.bool,
                                                                         device=device),
                                     torch.tensor([rate], device=device, dtype=torch.float32))[0]
        return torch.clamp(torch.round(torch.expm1(log_duration.float())), min=1).long().cpu()

    def losses(self, mel: torch.Tensor, units: torch.Tensor, mask: torch.Tensor, conditions: Conditions,
               dedup_units: torch.Tensor, dedup_mask: torch.Tensor, durations: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The conditional flow-matching loss on the optimal-transport path (masked MSE of the velocity
        ``x₁ − (1 − σ)x₀`` at ``x_t = (1 − (1 − σ)t)x₀ + t·x₁``), with condition dropout, and the duration
        loss (MSE of ``log(1 + frames)``). ``mel (B, n_mels, T)`` is normalised."""
        config = self.config
        batch = mel.shape[0]
        device = mel.device

        def uniform(*shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=generator, device="cpu").to(device)

        t = uniform(batch)
        x0 = torch.randn(mel.shape, generator=generator, device="cpu").to(device)
        sigma = config.sigma_min
        xt = (1 - (1 - sigma) * t[:, None, None]) * x0 + t[:, None, None] * mel
        target = mel - (1 - sigma) * x0
        drop_timbre = uniform(batch) < config.drop_timbre
        drop_style = uniform(batch) < config.drop_style
        predicted = self.flow(xt, t, units, mask, conditions, drop_timbre, drop_style)
        weight = mask[:, None].float()
        flow_loss = ((predicted.float() - target) ** 2 * weight).sum() / (weight.sum() * mel.shape[1])
        log_duration = self.duration(dedup_units, dedup_mask, conditions.rate)
        duration_loss = (((log_duration.float() - torch.log1p(durations.float())) ** 2) * dedup_mask).sum() \
            / dedup_mask.sum().clamp(min=1)
        return flow_loss, duration_loss


__all__ = ["Conditions", "DurationPredictor", "FlowModel", "StableVC", "sequence_mask"]
