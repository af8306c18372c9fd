"""Lina's building blocks with the released model's state-dict names: pre-norm mixing blocks (GLA or
self-attention, then SwiGLU), the text encoder, blind cross-attention with convolutional positions, and
``AttentiveGLA`` (GLA blocks, cross-attention, GLA blocks). Each block has a sequence path (``forward``)
and, through ``pack(weight_format)``, a single-token decoding path on packed weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.lina.config import LinaConfig
from engine.models.lina.gla import GatedLinearAttention, GLAState
from engine.models.lina.packed import pack_linears


class SwiGLU(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        hidden = dim * 4 // 3
        self.p_in = nn.Linear(dim, 2 * hidden)
        self.p_out = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.p_in(x).chunk(2, dim=-1)
        return self.p_out(F.silu(gate) * value)


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


class GLABlock(nn.Module):
    """``x += GLA(LN1(x)); x += SwiGLU(LN2(x))``, then dropout (training only)."""

    def __init__(self, dim: int, config: LinaConfig):
        super().__init__()
        self.tmix = GatedLinearAttention(dim, config.heads, config.expand_k, config.expand_v, config.conv_size,
                                         config.gate_low_rank_dim, config.gate_logit_normalizer, config.norm_eps)
        self.cmix = SwiGLU(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, state: GLAState | None = None, *, path: str = "chunk"
                ) -> tuple[torch.Tensor, GLAState]:
        mixed, state = self.tmix(self.norm1(x), state, path=path)
        x = x + mixed
        x = x + self.cmix(self.norm2(x))
        return self.drop(x), state

    def pack(self, weight_format: str) -> "PackedGLABlock":
        return PackedGLABlock(self, weight_format)


class PackedGLABlock:
    def __init__(self, block: GLABlock, weight_format: str):
        self.block = block
        self.tmix = block.tmix.pack(weight_format)
        self.ffn_in = pack_linears([block.cmix.p_in], weight_format)
        self.ffn_out = pack_linears([block.cmix.p_out], weight_format)

    def step(self, x: torch.Tensor, state: GLAState) -> torch.Tensor:
        """One token [B, d]; ``state`` advances in place."""
        x = x + self.tmix.step(_layer_norm(self.block.norm1, x), state)
        (hidden,) = self.ffn_in(_layer_norm(self.block.norm2, x))
        gate, value = hidden.chunk(2, dim=-1)
        (y,) = self.ffn_out(F.silu(gate) * value)
        return x + y.to(x.dtype)


# -- text encoder ---------------------------------------------------------------------------------------

class RotaryEmbedding(nn.Module):
    """Rotary positions on the first ``2·len(freqs)`` features of each head, rotating interleaved pairs
    (x[2i], x[2i+1]) — the layout of rotary-embedding-torch, whose ``freqs`` this holds."""

    def __init__(self, rotated_dim: int):
        super().__init__()
        exponents = torch.arange(0, rotated_dim, 2)[: rotated_dim // 2].float() / rotated_dim
        self.freqs = nn.Parameter(1.0 / (10000 ** exponents), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, H, T, head_dim], positions 0..T−1."""
        positions = torch.arange(x.shape[-2], device=x.device, dtype=self.freqs.dtype)
        angles = (positions[:, None] * self.freqs[None, :]).repeat_interleave(2, dim=-1)
        rotated = 2 * self.freqs.shape[0]
        head, tail = x[..., :rotated], x[..., rotated:]
        pairs = head.unflatten(-1, (-1, 2))
        turned = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
        head = head * angles.cos().to(x.dtype) + turned * angles.sin().to(x.dtype)
        return torch.cat([head, tail], dim=-1)


class SelfAttention(nn.Module):
    """Non-causal multi-head self-attention, one Linear for q|k|v, rotary on q and k."""

    def __init__(self, dim: int, heads: int, rotary: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"text width {dim} is not divisible by {heads} heads")
        self.qkv = nn.Linear(dim, 3 * dim)
        self.heads = heads
        self.rotary = RotaryEmbedding(dim // heads // 2) if rotary else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return y.transpose(1, 2).flatten(-2)


class TextBlock(nn.Module):
    def __init__(self, dim: int, heads: int, rotary: bool, dropout: float):
        super().__init__()
        self.tmix = SelfAttention(dim, heads, rotary)
        self.cmix = SwiGLU(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.tmix(self.norm1(x), mask)
        x = x + self.cmix(self.norm2(x))
        return self.drop(x)


class TextEncoder(nn.Module):
    def __init__(self, config: LinaConfig):
        super().__init__()
        self.sa = nn.ModuleList([TextBlock(config.d_model, config.text_heads, config.text_rotary,
                                           config.text_dropout) for _ in range(config.text_layers)])

    def forward(self, x: torch.Tensor, text_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: embedded text [B, N, d]; text_mask [B, N] (True = token) or None for unpadded text. Padded
        positions attend to themselves only, as the reference's ``mask | eye``."""
        mask = None
        if text_mask is not None:
            mask = text_mask[:, None, :, None] & text_mask[:, None, None, :]
            mask = mask | torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
        for block in self.sa:
            x = block(x, mask)
        return x


# -- blind cross-attention ------------------------------------------------------------------------------

class ConvPos(nn.Module):
    """Learned position embeddings smoothed by a depth-wise convolution ("same" zero padding)."""

    def __init__(self, dim: int, max_len: int, kernel_size: int):
        super().__init__()
        self.embed = nn.Embedding(max_len, dim)
        self.dw_conv = nn.Conv1d(dim, dim, kernel_size, groups=dim, padding="same")

    def forward(self, length: int) -> torch.Tensor:
        """The embeddings of positions 0..length−1 [length, dim]; rows near the end depend on ``length``."""
        if length > self.embed.num_embeddings:
            raise ValueError(f"the text has {length} tokens; the model reads at most {self.embed.num_embeddings}")
        return self.dw_conv(self.embed.weight[:length].T.unsqueeze(0)).squeeze(0).T


@dataclass
class TextContext:
    """What the cross-attention reads of the text, computed once per text: keys and values of the encoded
    text [B or 1, N, d], the position embeddings [N, d_blind] and the text mask [B, N] (None: no padding)."""

    keys: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor
    text_mask: torch.Tensor | None


def _attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
            dropout: float) -> tuple[torch.Tensor, torch.Tensor]:
    scores = query @ keys.transpose(-1, -2) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -torch.finfo(scores.dtype).max)
    weights = scores.softmax(dim=-1)
    return F.dropout(weights, dropout, training=dropout > 0) @ values, weights


class BlindCrossAttention(nn.Module):
    """Audio positions find "where am I in the text" without seeing the text's content: stage 1 attends
    from the audio query to the text keys and reads *position embeddings*; a GLA block (``pos_net``)
    tracks that position over time; stage 2 attends from it to the position embeddings and reads the
    text values. One head."""

    def __init__(self, config: LinaConfig):
        super().__init__()
        dim = config.d_model
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.pos_net = GLABlock(config.blind_dim, config)
        self.pos_embed = ConvPos(config.blind_dim, config.pos_max_len, config.pos_kernel)
        self.ln_q = nn.LayerNorm(dim)
        self.ln_k = nn.LayerNorm(dim)
        self.ln_v = nn.LayerNorm(dim)
        self.dropout_att = config.dropout_att

    def context(self, encoded_text: torch.Tensor, text_mask: torch.Tensor | None) -> TextContext:
        return TextContext(self.ln_k(self.k(encoded_text)), self.ln_v(self.v(encoded_text)),
                           self.pos_embed(encoded_text.shape[1]), text_mask)

    def attend(self, query: torch.Tensor, context: TextContext, mask: torch.Tensor | None,
               track) -> tuple[torch.Tensor, torch.Tensor]:
        """Both stages from the normed query [B, T, d]; ``track`` is the pos_net path (sequence or step)."""
        dropout = self.dropout_att if self.training else 0.0
        where, first = _attend(query, context.keys, context.positions, mask, dropout)
        tracked = track(where)
        out, second = _attend(tracked, context.positions, context.values, mask, dropout)
        return out, torch.stack([first, second], dim=1)

    def forward(self, x: torch.Tensor, context: TextContext, pos_state: GLAState, mask: torch.Tensor | None,
                *, path: str = "chunk") -> tuple[torch.Tensor, torch.Tensor, GLAState]:
        """x [B, T, d]; mask [B, T, N] or None. Returns (output, attention [B, 2, T, N], pos_net state)."""
        states = []

        def track(where):
            tracked, new_state = self.pos_net(where, pos_state, path=path)
            states.append(new_state)
            return tracked

        out, attention = self.attend(self.ln_q(self.q(x)), context, mask, track)
        return out, attention, states[0]


class PackedCrossAttention:
    def __init__(self, cross: BlindCrossAttention, weight_format: str):
        self.cross = cross
        self.query = pack_linears([cross.q], weight_format)
        self.pos_net = cross.pos_net.pack(weight_format)

    def step(self, x: torch.Tensor, context: TextContext, pos_state: GLAState
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One token [B, d] → (output [B, d], attention [B, 2, N]); ``pos_state`` advances in place."""
        (query,) = self.query(x)
        query = _layer_norm(self.cross.ln_q, query.to(x.dtype)).unsqueeze(1)
        mask = None if context.text_mask is None else context.text_mask[:, None, :]
        out, attention = self.cross.attend(query, context, mask,
                                           lambda where: self.pos_net.step(where.squeeze(1), pos_state).unsqueeze(1))
        return out.squeeze(1), attention.squeeze(2)


# -- the recurrent core ---------------------------------------------------------------------------------

@dataclass
class LinaState:
    """Everything decoding carries between tokens, fixed in size: one :class:`GLAState` per GLA block
    (the blocks before the cross-attention, then those after it) and one for ``pos_net``."""

    layers: list[GLAState]
    pos_net: GLAState

    @property
    def batch_size(self) -> int:
        return self.pos_net.recurrent.shape[0]

    def clone(self) -> "LinaState":
        return LinaState([layer.clone() for layer in self.layers], self.pos_net.clone())

    def select(self, rows: torch.Tensor) -> "LinaState":
        return LinaState([layer.select(rows) for layer in self.layers], self.pos_net.select(rows))


class AttentiveGLA(nn.Module):
    def __init__(self, config: LinaConfig):
        super().__init__()
        self.encoder = nn.ModuleList([GLABlock(config.d_model, config) for _ in range(config.n_layer)])
        self.decoder = nn.ModuleList([GLABlock(config.d_model, config) for _ in range(config.n_layer)])
        self.cross_att = BlindCrossAttention(config)

    @property
    def blocks(self) -> list[GLABlock]:
        return [*self.encoder, *self.decoder]

    def empty_state(self, batch_size: int, device: torch.device | str | None = None) -> LinaState:
        return LinaState([block.tmix.empty_state(batch_size, device) for block in self.blocks],
                         self.cross_att.pos_net.tmix.empty_state(batch_size, device))

    def forward(self, x: torch.Tensor, context: TextContext, state: LinaState, mask: torch.Tensor | None,
                *, path: str = "chunk") -> tuple[torch.Tensor, torch.Tensor, LinaState]:
        """x: embedded audio tokens [B, T, d]. Returns (hidden [B, T, d], attention, state after T)."""
        new_layers = []
        blocks = self.blocks
        for block, layer_state in zip(blocks[: len(self.encoder)], state.layers):
            x, layer_state = block(x, layer_state, path=path)
            new_layers.append(layer_state)
        read, attention, pos_state = self.cross_att(x, context, state.pos_net, mask, path=path)
        x = x + read
        for block, layer_state in zip(blocks[len(self.encoder):], state.layers[len(self.encoder):]):
            x, layer_state = block(x, layer_state, path=path)
            new_layers.append(layer_state)
        return x, attention, LinaState(new_layers, pos_state)


class PackedAttentiveGLA:
    def __init__(self, core: AttentiveGLA, weight_format: str):
        self.encoder = [block.pack(weight_format) for block in core.encoder]
        self.decoder = [block.pack(weight_format) for block in core.decoder]
        self.cross_att = PackedCrossAttention(core.cross_att, weight_format)

    def step(self, x: torch.Tensor, context: TextContext, state: LinaState) -> tuple[torch.Tensor, torch.Tensor]:
        layers = iter(state.layers)
        for block in self.encoder:
            x = block.step(x, next(layers))
        read, attention = self.cross_att.step(x, context, state.pos_net)
        x = x + read
        for block in self.decoder:
            x = block.step(x, next(layers))
        return x, attention
