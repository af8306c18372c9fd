"""Gated Linear Attention (Yang et al., 2023) as Lina uses it, in plain PyTorch with three equivalent paths.

Per head, with decays ``a_t = exp(g_t)`` (one per key channel, ``g_t = logsigmoid(·) / 16``)::

    S_t = diag(a_t) S_{t-1} + k_tᵀ v_t          (state: d_k × d_v)
    o_t = (q_t / √d_k) S_t

* :func:`gla_recurrent`: the recurrence itself, one token at a time; :func:`gla_decode_step_` is the same
  step for decoding, with the state update deferred over a few tokens (:class:`PendingTokens`).
* :func:`gla_chunked`: chunk-parallel (prompts, training): inside a chunk the outputs are an attention-like
  product with the pairwise decays ``exp(b_t − b_s)`` (``b`` = cumulative log-decay, every factor ≤ 1, so
  nothing overflows whatever the gates); between chunks the state is carried.
* :func:`gla_parallel`: the whole sequence as one chunk (quadratic; for checks).

On CUDA, :func:`gla_sequence` uses flash-linear-attention's ``chunk_gla`` kernel when the ``fla`` package
is importable. States are float32 whatever the weights.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.lina.packed import pack_linears


# -- the operator -------------------------------------------------------------------------------------

def gla_recurrent(q, k, v, g, initial_state=None, scale=None):
    """q, k, g: [B, H, T, K]; v: [B, H, T, V]; initial_state: [B, H, K, V] or None.
    Returns (o [B, H, T, V], final state)."""
    batch, heads, length, key_dim = q.shape
    scale = key_dim ** -0.5 if scale is None else scale
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1]) if initial_state is None else initial_state
    outputs = []
    for t in range(length):
        state = state * g[:, :, t, :, None].exp() + k[:, :, t, :, None] * v[:, :, t, None, :]
        outputs.append(((q[:, :, t, None, :] * scale) @ state).squeeze(-2))
    return torch.stack(outputs, dim=2), state


def gla_chunked(q, k, v, g, initial_state=None, scale=None, chunk_size=16):
    """Same contract as :func:`gla_recurrent`, computed chunk by chunk."""
    batch, heads, length, key_dim = q.shape
    scale = key_dim ** -0.5 if scale is None else scale
    state = q.new_zeros(batch, heads, key_dim, v.shape[-1]) if initial_state is None else initial_state
    outputs = []
    for start in range(0, length, chunk_size):
        qc, kc, vc = q[:, :, start:start + chunk_size] * scale, k[:, :, start:start + chunk_size], \
            v[:, :, start:start + chunk_size]
        decay = g[:, :, start:start + chunk_size].cumsum(dim=2)  # b_t, from the chunk start
        size = qc.shape[2]
        causal = torch.ones(size, size, dtype=torch.bool, device=q.device).tril()
        pairwise = (decay[:, :, :, None, :] - decay[:, :, None, :, :]).masked_fill(~causal[..., None], -torch.inf)
        scores = (qc[:, :, :, None, :] * kc[:, :, None, :, :] * pairwise.exp()).sum(-1)  # [B, H, C, C]
        total = decay[:, :, -1:, :]
        inside = scores @ vc
        carried = (qc * decay.exp()) @ state
        outputs.append(inside + carried)
        state = total.transpose(-1, -2).exp() * state + (kc * (total - decay).exp()).transpose(-1, -2) @ vc
    return torch.cat(outputs, dim=2), state


def gla_parallel(q, k, v, g, initial_state=None, scale=None):
    """The whole sequence as a single chunk."""
    return gla_chunked(q, k, v, g, initial_state, scale, chunk_size=max(q.shape[2], 1))


@functools.cache
def _fla_chunk_gla():
    """flash-linear-attention's chunk kernel and whether it wants ``head_first=False``, or None."""
    try:
        from fla.ops.gla import chunk_gla
    except Exception:  # noqa: BLE001 - not installed, or no usable Triton: the torch path serves
        return None
    return chunk_gla, "head_first" in inspect.signature(chunk_gla).parameters


def gla_sequence(q, k, v, g, initial_state=None):
    """The sequence path: FLA's Triton kernel on CUDA when available, :func:`gla_chunked` otherwise."""
    kernel = _fla_chunk_gla() if q.is_cuda else None
    if kernel is None:
        return gla_chunked(q, k, v, g, initial_state)
    chunk_gla, takes_head_first = kernel
    layout = [t.transpose(1, 2).contiguous() for t in (q, k, v, g)]  # FLA: [B, T, H, D]
    extra = {"head_first": False} if takes_head_first else {}
    o, state = chunk_gla(*layout, scale=q.shape[-1] ** -0.5, initial_state=initial_state,
                         output_final_state=True, **extra)
    return o.transpose(1, 2), state


# -- the layer ----------------------------------------------------------------------------------------

PENDING_CAPACITY = 16


@dataclass
class PendingTokens:
    """Decoding defers the state update: the last few tokens' keys, values and cumulative log-decays
    since ``recurrent`` was last brought up to date are kept here and folded in every
    :data:`PENDING_CAPACITY` tokens, so a step reads the d_k × d_v state once instead of reading and
    writing it three times (the state traffic, not the arithmetic, is what a step costs)."""

    keys: torch.Tensor  # [B, H, capacity, d_k]
    values: torch.Tensor  # [B, H, capacity, d_v]
    decays: torch.Tensor  # [B, H, capacity, d_k]: b_j = Σ of log-decays from the last fold to token j
    count: int = 0

    @classmethod
    def empty(cls, recurrent: torch.Tensor, capacity: int = PENDING_CAPACITY) -> "PendingTokens":
        batch, heads, key_dim, value_dim = recurrent.shape
        return cls(recurrent.new_zeros(batch, heads, capacity, key_dim),
                   recurrent.new_zeros(batch, heads, capacity, value_dim),
                   recurrent.new_zeros(batch, heads, capacity, key_dim))

    def clone(self) -> "PendingTokens":
        return PendingTokens(self.keys.clone(), self.values.clone(), self.decays.clone(), self.count)

    def select(self, rows: torch.Tensor) -> "PendingTokens":
        return PendingTokens(self.keys.index_select(0, rows), self.values.index_select(0, rows),
                             self.decays.index_select(0, rows), self.count)


def _fold_(recurrent: torch.Tensor, pending: PendingTokens) -> None:
    """S ← diag(exp(b_n)) S + Σ_j (k_j ⊙ exp(b_n − b_j))ᵀ v_j over the pending tokens, in place."""
    count = pending.count
    if count == 0:
        return
    batch, heads, key_dim, value_dim = recurrent.shape
    decays = pending.decays[:, :, :count]
    last = decays[:, :, -1:]
    keys = pending.keys[:, :, :count] * (last - decays).exp()
    flat = recurrent.view(batch * heads, key_dim, value_dim)
    flat.mul_(last.exp().reshape(batch * heads, key_dim, 1))
    flat.baddbmm_(keys.reshape(batch * heads, count, key_dim).transpose(1, 2),
                  pending.values[:, :, :count].reshape(batch * heads, count, value_dim))
    pending.count = 0


@dataclass
class GLAState:
    """What one GLA layer carries between tokens (float32): the last ``conv_size − 1`` inputs of its q|k|v
    short convolutions and the recurrent state, one d_k × d_v matrix per head, plus, while decoding,
    the few :class:`PendingTokens` not yet folded into it (:meth:`settled` gives the plain state)."""

    conv: torch.Tensor  # [B, 2·key_dim + value_dim, conv_size − 1]
    recurrent: torch.Tensor  # [B, H, d_k, d_v]
    pending: PendingTokens | None = None

    def clone(self) -> "GLAState":
        return GLAState(self.conv.clone(), self.recurrent.clone(), self.pending and self.pending.clone())

    def select(self, rows: torch.Tensor) -> "GLAState":
        return GLAState(self.conv.index_select(0, rows), self.recurrent.index_select(0, rows),
                        self.pending and self.pending.select(rows))

    def settled(self) -> "GLAState":
        """This state with the pending tokens folded into ``recurrent`` (a copy when there are any)."""
        if self.pending is None or self.pending.count == 0:
            return GLAState(self.conv, self.recurrent)
        state = self.clone()
        _fold_(state.recurrent, state.pending)
        return GLAState(state.conv, state.recurrent)


def gla_decode_step_(q, k, v, g, state: GLAState, scale=None):
    """One token: q, k, g [B, H, K], v [B, H, V]; ``state`` advances in place (pending tokens included).
    Returns o [B, H, V]: ``(q ⊙ exp(b_t)) S + Σ_j (Σ_k q_k k_jk exp(b_tk − b_jk)) v_j`` over the pending j."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    if state.pending is None:
        state.pending = PendingTokens.empty(state.recurrent)
    pending = state.pending
    n = pending.count
    decay = g if n == 0 else pending.decays[:, :, n - 1] + g
    pending.keys[:, :, n] = k
    pending.values[:, :, n] = v
    pending.decays[:, :, n] = decay
    pending.count = n + 1
    q = q * scale
    o = ((q * decay.exp()).unsqueeze(-2) @ state.recurrent).squeeze(-2)
    weights = (q.unsqueeze(-2) * pending.keys[:, :, :n + 1] * (decay.unsqueeze(-2) - pending.decays[:, :, :n + 1]).exp()).sum(-1)
    o = o + (weights.unsqueeze(-2) @ pending.values[:, :, :n + 1]).squeeze(-2)
    if pending.count == pending.keys.shape[2]:
        _fold_(state.recurrent, pending)
    return o


class ShortConvolution(nn.Module):
    """Causal depth-wise convolution (no bias) followed by SiLU; weight layout of ``nn.Conv1d``."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)


class RMSNormSwishGate(nn.Module):
    """``rmsnorm(o) · w · g · sigmoid(g)`` over each head's value vector (weight shared by the heads)."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, o: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """o, gate: [..., head_v_dim]; computed in float32."""
        normed = F.rms_norm(o.float(), self.weight.shape, self.weight.float(), self.eps)
        return normed * F.silu(gate.float())


class GatedLinearAttention(nn.Module):
    """The GLA token mixer of Lina's blocks (layout of FLA's ``GatedLinearAttention`` with short convs)."""

    def __init__(self, hidden_size: int, heads: int, expand_k: float, expand_v: float, conv_size: int,
                 gate_low_rank_dim: int, gate_logit_normalizer: float, norm_eps: float):
        super().__init__()
        self.heads = heads
        self.key_dim = int(hidden_size * expand_k)
        self.value_dim = int(hidden_size * expand_v)
        if self.key_dim % heads or self.value_dim % heads:
            raise ValueError(f"key/value widths {self.key_dim}/{self.value_dim} are not divisible by {heads} heads")
        self.head_k_dim = self.key_dim // heads
        self.head_v_dim = self.value_dim // heads
        self.conv_size = conv_size
        self.gate_logit_normalizer = gate_logit_normalizer
        self.q_proj = nn.Linear(hidden_size, self.key_dim, bias=False)
        self.k_proj = nn.Linear(hidden_size, self.key_dim, bias=False)
        self.v_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
        self.g_proj = nn.Linear(hidden_size, self.value_dim, bias=False)
        self.gk_proj = nn.Sequential(nn.Linear(hidden_size, gate_low_rank_dim, bias=False),
                                     nn.Linear(gate_low_rank_dim, self.key_dim, bias=True))
        self.o_proj = nn.Linear(self.value_dim, hidden_size, bias=False)
        self.q_conv1d = ShortConvolution(self.key_dim, conv_size)
        self.k_conv1d = ShortConvolution(self.key_dim, conv_size)
        self.v_conv1d = ShortConvolution(self.value_dim, conv_size)
        self.g_norm_swish_gate = RMSNormSwishGate(self.head_v_dim, norm_eps)

    @property
    def conv_channels(self) -> int:
        return 2 * self.key_dim + self.value_dim

    def conv_weight(self) -> torch.Tensor:
        """The three depth-wise kernels stacked: [2·key_dim + value_dim, conv_size]."""
        return torch.cat([self.q_conv1d.weight, self.k_conv1d.weight, self.v_conv1d.weight]).squeeze(1)

    def empty_state(self, batch_size: int, device: torch.device | str | None = None) -> GLAState:
        device = device or self.q_proj.weight.device
        return GLAState(torch.zeros(batch_size, self.conv_channels, self.conv_size - 1, device=device),
                        torch.zeros(batch_size, self.heads, self.head_k_dim, self.head_v_dim, device=device))

    def _decays(self, gate_low_rank: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(self.gk_proj[1](gate_low_rank).float()) / self.gate_logit_normalizer

    def forward(self, x: torch.Tensor, state: GLAState | None = None, *, path: str = "chunk"
                ) -> tuple[torch.Tensor, GLAState]:
        """x: the normed input [B, T, d]. ``path``: "chunk" (FLA on CUDA when present), "recurrent" or
        "parallel". Returns the output and the state after the last token; ``state`` is not modified."""
        batch, length, _ = x.shape
        state = self.empty_state(batch, x.device) if state is None else state.settled()
        mixed = torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x)], dim=-1).transpose(1, 2)
        window = torch.cat([state.conv.to(mixed.dtype), mixed], dim=-1)
        convolved = F.silu(F.conv1d(window, self.conv_weight().unsqueeze(1), groups=self.conv_channels))
        q, k, v = convolved.transpose(1, 2).float().split([self.key_dim, self.key_dim, self.value_dim], dim=-1)
        g = self._decays(self.gk_proj[0](x))
        q, k, g = (t.view(batch, length, self.heads, self.head_k_dim).transpose(1, 2) for t in (q, k, g))
        v = v.view(batch, length, self.heads, self.head_v_dim).transpose(1, 2)
        operator = {"chunk": gla_sequence, "recurrent": gla_recurrent, "parallel": gla_parallel}[path]
        o, recurrent = operator(q, k, v, g, state.recurrent)
        gate = self.g_proj(x).view(batch, length, self.heads, self.head_v_dim)
        o = self.g_norm_swish_gate(o.transpose(1, 2), gate).reshape(batch, length, self.value_dim)
        new_state = GLAState(window[..., window.shape[-1] - (self.conv_size - 1):].float(), recurrent)
        return self.o_proj(o.to(x.dtype)), new_state

    def pack(self, weight_format: str) -> "PackedGLA":
        return PackedGLA(self, weight_format)


class PackedGLA:
    """The recurrent single-step path of one :class:`GatedLinearAttention`, on packed weights."""

    def __init__(self, layer: GatedLinearAttention, weight_format: str):
        self.layer = layer
        # q|k|v first, contiguous, so the convolution reads them as one slice
        self.inputs = pack_linears([layer.q_proj, layer.k_proj, layer.v_proj, layer.g_proj, layer.gk_proj[0]],
                                   weight_format, sizes=[layer.conv_channels, layer.value_dim,
                                                         layer.gk_proj[0].out_features])
        self.gate_up = pack_linears([layer.gk_proj[1]], "fp32")  # 16 → d_k: too small to gain from a format
        self.output = pack_linears([layer.o_proj], weight_format)
        self.conv_weight = layer.conv_weight().detach().float()
        self.splits = [layer.key_dim, layer.key_dim, layer.value_dim]

    def step(self, x: torch.Tensor, state: GLAState) -> torch.Tensor:
        """x: the normed input of one token [B, d]; ``state`` advances in place. Returns [B, d]."""
        layer = self.layer
        batch = x.shape[0]
        mixed, gate, low_rank = self.inputs(x)
        window = torch.cat([state.conv, mixed.float().unsqueeze(-1)], dim=-1)
        state.conv = window[..., 1:]
        q, k, v = F.silu(torch.linalg.vecdot(window, self.conv_weight)).split(self.splits, dim=-1)
        (g,) = self.gate_up(low_rank.float())
        # logsigmoid(g) = −softplus(−g): the logsigmoid CPU kernel spawns threads even for tiny inputs
        g = F.softplus(-g).div_(-layer.gate_logit_normalizer)
        shape_k = (batch, layer.heads, layer.head_k_dim)
        o = gla_decode_step_(q.reshape(shape_k), k.reshape(shape_k),
                             v.reshape(batch, layer.heads, layer.head_v_dim), g.view(shape_k), state)
        o = layer.g_norm_swish_gate(o, gate.view(batch, layer.heads, layer.head_v_dim))
        (y,) = self.output(o.view(batch, layer.value_dim))
        return y.to(x.dtype)


__all__ = ["GLAState", "GatedLinearAttention", "PackedGLA", "PendingTokens", "gla_chunked", "gla_decode_step_",
           "gla_parallel", "gla_recurrent", "gla_sequence"]
