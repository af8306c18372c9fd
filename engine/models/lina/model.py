"""LinaModel: text embedding and encoder, audio-token embedding, the attentive GLA core and the logits head,
with the released checkpoint's state-dict names (``model.`` prefix in the Lightning file).

Token ids are the model's own: audio code c is token c + 3; 0 = pad, 1 = start, 2 = stop. Logit index =
token id. Text ids come from :class:`engine.models.lina.tokenizer.TextTokenizer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import BadInputError
from engine.models.lina.blocks import AttentiveGLA, LinaState, PackedAttentiveGLA, TextContext, TextEncoder
from engine.models.lina.config import LinaConfig
from engine.models.lina.packed import PackedLinear, check_format

START_TOKEN, STOP_TOKEN, PAD_TOKEN = 1, 2, 0
IST_SCALE = 0.02  # S0 = 0.02 · Σ_r k_r v_rᵀ (reference get_state_from_params)


class StackedEmbedding(nn.Module):
    """One embedding table per codebook, stacked in one weight [n_quant, vocab_in, d]; summed over codebooks."""

    def __init__(self, n_quant: int, vocab: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_quant, vocab, dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [..., n_quant] → [..., d]."""
        return sum(self.weight[q][tokens[..., q]] for q in range(self.weight.shape[0]))


class StackedHead(nn.Module):
    """Bias-free logits per codebook: ``logits[..., q, l] = Σ_d y[..., d] · W[q, l, d]``."""

    def __init__(self, n_quant: int, vocab: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_quant, vocab, dim))
        nn.init.normal_(self.weight, std=dim ** -0.5)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...d,qld->...ql", y, self.weight)


@dataclass
class LinaOutput:
    logits: torch.Tensor  # [B, T, n_quant, vocab_out]
    attention: torch.Tensor  # [B, 2, T, N_text]: stage 1 (audio → text positions), stage 2 (pos_net → text)
    state: LinaState  # after the last input token


class PackedLina:
    """The decoding step on packed weights in one format."""

    def __init__(self, model: "LinaModel", weight_format: str):
        self.weight_format = weight_format
        self.core = PackedAttentiveGLA(model.attentive_rnn, weight_format)
        head = model.logits_head.weight
        self.head = PackedLinear(head.reshape(-1, head.shape[-1]), None, weight_format)
        self.head_shape = head.shape[:2]


class LinaModel(nn.Module):
    def __init__(self, config: LinaConfig):
        super().__init__()
        self.config = config
        self.txt_embed = nn.Embedding(config.n_txt_vocab, config.d_model, padding_idx=PAD_TOKEN)
        self.txt_encoder = TextEncoder(config)
        self.attentive_rnn = AttentiveGLA(config)
        self.rvq_embed = StackedEmbedding(config.n_quant, config.vocab_in, config.d_model)
        self.logits_head = StackedHead(config.n_quant, config.vocab_out, config.d_model)
        self._weight_format = "fp32"
        self._packed: dict[str, PackedLina] = {}  # per format, built on first use

    # -- sequence path ----------------------------------------------------------------------------------

    def text_context(self, text_ids: torch.Tensor, text_mask: torch.Tensor | None = None) -> TextContext:
        """Encode text ids [B, N] once for the cross-attention. ``text_mask`` [B, N] (True = token) only
        matters for padded batches."""
        encoded = self.txt_encoder(self.txt_embed(text_ids), text_mask)
        return self.attentive_rnn.cross_att.context(encoded, text_mask)

    def run(self, context: TextContext, tokens: torch.Tensor, state: LinaState, *,
            cross_mask: torch.Tensor | None = None, path: str = "chunk") -> LinaOutput:
        """All audio tokens [B, T, n_quant] at once from ``state`` (not modified): logits of every position."""
        hidden, attention, state = self.attentive_rnn(self.rvq_embed(tokens), context, state, cross_mask, path=path)
        return LinaOutput(self.logits_head(hidden), attention, state)

    def forward(self, text_ids: torch.Tensor, audio_tokens: torch.Tensor, init_state: LinaState | None = None, *,
                text_mask: torch.Tensor | None = None, audio_mask: torch.Tensor | None = None,
                path: str = "chunk") -> LinaOutput:
        """Teacher-forced pass: inputs ``audio_tokens[:, :-1]``, position t predicts token t + 1.

        Masks default to "not padding" (id 0) and are only applied when some padding exists, as the
        reference's ``simple_collate`` builds them (the first text position always attended).
        """
        text_mask = text_ids != PAD_TOKEN if text_mask is None else text_mask
        audio_mask = audio_tokens[..., 0] != PAD_TOKEN if audio_mask is None else audio_mask
        cross_mask = None
        if not bool(text_mask.all()) or not bool(audio_mask.all()):
            cross_mask = audio_mask[:, :-1, None] & text_mask[:, None, :]
            cross_mask[:, :, 0] = True
        context = self.text_context(text_ids, None if bool(text_mask.all()) else text_mask)
        state = init_state if init_state is not None else self.initial_state(batch_size=text_ids.shape[0])
        return self.run(context, audio_tokens[:, :-1], state, cross_mask=cross_mask, path=path)

    def logits(self, text_ids: torch.Tensor, audio_tokens: torch.Tensor, init_state: LinaState | None = None,
               **kwargs) -> torch.Tensor:
        """Teacher-forced logits [B, Ta − 1, n_quant, vocab_out] (see :meth:`forward`)."""
        return self.forward(text_ids, audio_tokens, init_state, **kwargs).logits

    def loss(self, text_ids: torch.Tensor, audio_tokens: torch.Tensor, init_state: LinaState | None = None, *,
             audio_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """Cross-entropy of the next token over the unpadded positions (targets = start token ignored)."""
        audio_mask = audio_tokens[..., 0] != PAD_TOKEN if audio_mask is None else audio_mask
        logits = self.forward(text_ids, audio_tokens, init_state, audio_mask=audio_mask, **kwargs).logits
        valid = audio_mask[:, 1:]
        return F.cross_entropy(logits[valid].flatten(0, 1).float(), audio_tokens[:, 1:][valid].flatten(),
                               ignore_index=START_TOKEN)

    # -- states -----------------------------------------------------------------------------------------

    @property
    def gla_blocks(self) -> int:
        return 2 * self.config.n_layer

    def initial_state(self, ist_params: Mapping[str, torch.Tensor] | None = None, batch_size: int = 1) -> LinaState:
        """The state before the first token: zeros, or from initial-state-tuning parameters in the reference
        format (``layer{i}_k`` [1, r, H, d_k, 1], ``layer{i}_v`` [1, r, H, 1, d_v], i over the GLA blocks
        before then after the cross-attention): ``S0_i = 0.02 · Σ_r k_r v_rᵀ``; pos_net and the convolution
        caches start at zero. Differentiable in the parameters."""
        device = self.txt_embed.weight.device
        state = self.attentive_rnn.empty_state(batch_size, device)
        if ist_params is None:
            return state
        self._check_ist(ist_params)
        for i, layer in enumerate(state.layers):
            k, v = ist_params[f"layer{i}_k"].to(device), ist_params[f"layer{i}_v"].to(device)
            start = torch.einsum("brhkx,brhyv->bhkv", k.float(), v.float()) * IST_SCALE
            layer.recurrent = start.expand(batch_size, -1, -1, -1).clone()
        return state

    def ist_shapes(self, rank: int = 1) -> dict[str, tuple[int, ...]]:
        """The shape of every initial-state-tuning parameter of this model."""
        shapes = {}
        for i, block in enumerate(self.attentive_rnn.blocks):
            gla = block.tmix
            shapes[f"layer{i}_k"] = (1, rank, gla.heads, gla.head_k_dim, 1)
            shapes[f"layer{i}_v"] = (1, rank, gla.heads, 1, gla.head_v_dim)
        return shapes

    def _check_ist(self, ist_params: Mapping[str, torch.Tensor]) -> None:
        first = ist_params.get("layer0_k")
        rank = first.shape[1] if first is not None and first.dim() == 5 else 1
        expected = self.ist_shapes(rank)
        problems = [f"{name}: missing" for name in expected if name not in ist_params]
        problems += [f"{name}: unexpected" for name in ist_params if name not in expected]
        problems += [f"{name}: shape {tuple(ist_params[name].shape)}, this model needs {shape}"
                     for name, shape in expected.items()
                     if name in ist_params and tuple(ist_params[name].shape) != shape]
        if problems:
            raise BadInputError(None, "the voice does not fit this model (" + "; ".join(problems[:6])
                                + (" …" if len(problems) > 6 else "") + ")")

    # -- decoding step ----------------------------------------------------------------------------------

    @property
    def weight_format(self) -> str:
        return self._weight_format

    def set_weight_format(self, weight_format: str) -> None:
        """The format of the decoding step's weights: "fp32", "bf16", "fp16" (CUDA) or "int8" (CPU). The
        module's own weights, used by the sequence path, are left as they are; packed copies are kept per
        format used, so switching back and forth is free."""
        check_format(weight_format, self.txt_embed.weight.device)
        self._weight_format = weight_format

    def _packed_weights(self) -> PackedLina:
        packed = self._packed.get(self._weight_format)
        if packed is None:
            packed = self._packed[self._weight_format] = PackedLina(self, self._weight_format)
        return packed

    def _apply(self, fn, *args, **kwargs):
        self._packed = {}  # moved or cast: the packed copies are stale
        return super()._apply(fn, *args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        self._packed = {}
        return super().load_state_dict(*args, **kwargs)

    def step(self, tokens: torch.Tensor, context: TextContext, state: LinaState
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step: input tokens [B, n_quant] → (logits [B, n_quant, vocab_out] float32, attention
        [B, 2, N_text]). ``state`` advances in place."""
        packed = self._packed_weights()
        x = self.rvq_embed(tokens)
        hidden, attention = packed.core.step(x, context, state)
        (logits,) = packed.head(hidden)
        return logits.float().view(tokens.shape[0], *packed.head_shape), attention
