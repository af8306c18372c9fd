"""Lina-Speech configuration: what the architecture needs, read from wherever it is known.

Three sources, in the loader's order of preference:

* the Lightning checkpoint's ``hyper_parameters`` (``TrainLina``'s constructor arguments, with the
  ``attentive_rnn`` / ``txt_encoder`` sub-modules as jsonargparse ``class_path`` + ``init_args``);
* a dict or JSON file in the golden-data format (sections ``LinaModel``, ``AttentiveGLA``, ``TextEncoder``,
  ``GatedLinearAttention_defaults``, ``BlindCrossAttention``);
* the weights themselves: every size is visible in some tensor's shape, only the split of the output
  vocabulary into codebook and special tokens is assumed (3 specials, as the reference).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ModelLoadError

SPECIAL_TOKENS = 3  # 0 pad, 1 start, 2 stop; audio code c is token c + 3


@dataclass(frozen=True)
class LinaConfig:
    """Every size of a Lina model with blind cross-attention, convolutional positions and short convs."""

    d_model: int
    n_layer: int  # GLA blocks before the cross-attention, and again after it
    heads: int
    text_layers: int
    text_heads: int
    n_quant: int = 1
    n_codebook: int = 4096
    n_special_token_in: int = SPECIAL_TOKENS
    n_special_token_out: int = SPECIAL_TOKENS
    n_txt_vocab: int = 256
    d_blind: int | None = None  # width of pos_net and the positional embeddings; None = d_model
    expand_k: float = 1.0
    expand_v: float = 2.0
    conv_size: int = 4
    gate_low_rank_dim: int = 16
    gate_logit_normalizer: float = 16.0
    norm_eps: float = 1e-5
    text_rotary: bool = True
    pos_max_len: int = 2000
    pos_kernel: int = 31
    dropout: float = 0.0  # after each GLA block (training only)
    dropout_att: float = 0.0  # on the cross-attention maps (training only)
    text_dropout: float = 0.1  # after each text-encoder block (training only)

    @property
    def blind_dim(self) -> int:
        return self.d_blind or self.d_model

    @property
    def vocab_in(self) -> int:
        return self.n_codebook + self.n_special_token_in

    @property
    def vocab_out(self) -> int:
        return self.n_codebook + self.n_special_token_out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The released 169M model (lina_gla_gigaspeech_d1024l12_convblind_shortconv): see the golden README for
# how certain each size is; the text-encoder depth is read from the checkpoint whenever it can be.
RELEASED = LinaConfig(d_model=1024, n_layer=6, heads=4, text_layers=6, text_heads=4)


def _unsupported(source: str, what: str) -> ModelLoadError:
    return ModelLoadError(f"{source}: unsupported Lina variant ({what}); only the released architecture "
                          f"(blind cross-attention, convolutional positions, short convolutions) is implemented")


def _check_variant(source: str, attentive: Mapping[str, Any], model: Mapping[str, Any],
                   gla: Mapping[str, Any] | None = None) -> None:
    if not attentive.get("blind", False):
        raise _unsupported(source, "cross-attention is not blind")
    if attentive.get("pos_type", "sinusoidal") != "convolutional":
        raise _unsupported(source, f"pos_type {attentive.get('pos_type', 'sinusoidal')!r}")
    if attentive.get("rotary", False) or attentive.get("cross_att_pp", False):
        raise _unsupported(source, "rotary or PP cross-attention")
    if not attentive.get("use_short_conv", False):
        raise _unsupported(source, "no short convolutions")
    if model.get("tie_embed", False):
        raise _unsupported(source, "tied embeddings")
    if model.get("spk_encoder") is not None:
        raise _unsupported(source, "speaker encoder")
    gla = gla or {}
    if gla.get("share_conv_kernel", False) or gla.get("gate_fn", "swish") != "swish" \
            or not gla.get("fuse_norm", True) or gla.get("clamp_min") is not None:
        raise _unsupported(source, "GLA options other than the defaults")


def from_golden(data: Mapping[str, Any], source: str = "config") -> LinaConfig:
    """The golden ``config_*.json`` format (every constructor argument of the reference modules)."""
    try:
        model, attentive, text = data["LinaModel"], data["AttentiveGLA"], data["TextEncoder"]
        gla = data.get("GatedLinearAttention_defaults", {})
        positions = data.get("BlindCrossAttention", {}).get("ConvPos", {})
        _check_variant(source, attentive, model, gla)
        return LinaConfig(
            d_model=int(model["d_model"]), n_quant=int(model["n_quant"]), n_codebook=int(model["n_codebook"]),
            n_special_token_in=int(model["n_special_token_in"]), n_special_token_out=int(model["n_special_token_out"]),
            n_txt_vocab=int(model["n_txt_vocab"]),
            n_layer=int(attentive["n_layer"]), heads=int(attentive["heads"]),
            d_blind=None if attentive.get("d_blind") is None else int(attentive["d_blind"]),
            expand_k=float(attentive.get("expand_k", 1.0)), expand_v=float(attentive.get("expand_v", 2.0)),
            dropout=float(attentive.get("dropout", 0.0)), dropout_att=float(attentive.get("dropout_att", 0.0)),
            conv_size=int(gla.get("conv_size", 4)), gate_low_rank_dim=int(gla.get("gate_low_rank_dim", 16)),
            gate_logit_normalizer=float(gla.get("gate_logit_normalizer", 16)),
            norm_eps=float(gla.get("layernorm_eps", 1e-5)),
            text_layers=int(text["n_layers"]), text_heads=int(text["heads"]),
            text_dropout=float(text.get("dropout", 0.1)), text_rotary=bool(text.get("rotary", True)),
            pos_max_len=int(positions.get("max_seq_len", 2000)), pos_kernel=int(positions.get("kernel_size", 31)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{source}: not a Lina configuration ({exc!r} missing or malformed)") from exc


def read_config(config: LinaConfig | Mapping[str, Any] | str | Path) -> LinaConfig:
    """A configuration given by the caller: a :class:`LinaConfig`, a golden-format dict, or a JSON path."""
    if isinstance(config, LinaConfig):
        return config
    if isinstance(config, Mapping):
        return from_golden(config)
    path = Path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: cannot read the configuration ({exc})") from exc
    return from_golden(data, source=str(path))


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    """A dict, or the attribute dict of a pickled (argparse/jsonargparse) Namespace."""
    state = getattr(value, "state", None)
    if isinstance(state, Mapping):
        return state
    return value if isinstance(value, Mapping) else None


def _init_args(value: Any) -> Mapping[str, Any] | None:
    """``init_args`` of a jsonargparse sub-module entry (``class_path`` + ``init_args``)."""
    entry = _as_mapping(value)
    return None if entry is None else _as_mapping(entry.get("init_args"))


def from_hparams(hparams: Mapping[str, Any], source: str = "checkpoint") -> LinaConfig | None:
    """The configuration from ``TrainLina``'s saved hyper-parameters, or None when they do not hold it in
    a readable form (e.g. the sub-modules were pickled as objects rather than as class_path/init_args)."""
    attentive = _init_args(hparams.get("attentive_rnn"))
    text = _init_args(hparams.get("txt_encoder"))
    if attentive is None or text is None:
        return None
    n_quant = len(hparams["quant_layer"]) if "quant_layer" in hparams else int(hparams.get("n_quant", 1))
    _check_variant(source, attentive, hparams)
    try:
        return LinaConfig(
            d_model=int(hparams["d_model"]), n_quant=n_quant, n_codebook=int(hparams["n_codebook"]),
            n_special_token_in=int(hparams["n_special_token_in"]),
            n_special_token_out=int(hparams["n_special_token_out"]), n_txt_vocab=int(hparams["n_txt_vocab"]),
            n_layer=int(attentive["n_layer"]), heads=int(attentive["heads"]),
            d_blind=None if attentive.get("d_blind") is None else int(attentive["d_blind"]),
            expand_k=float(attentive.get("expand_k", 1.0)), expand_v=float(attentive.get("expand_v", 2.0)),
            dropout=float(attentive.get("dropout", 0.0)), dropout_att=float(attentive.get("dropout_att", 0.0)),
            text_layers=int(text.get("n_layers", 4)), text_heads=int(text["heads"]),
            text_dropout=float(text.get("dropout", 0.1)), text_rotary=bool(text.get("rotary", True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{source}: hyper_parameters do not describe a Lina model ({exc!r})") from exc


def _count(tensors: Mapping[str, torch.Tensor], pattern: str) -> int:
    indices = {int(m.group(1)) for name in tensors if (m := re.fullmatch(pattern, name))}
    return max(indices) + 1 if indices else 0


def infer_from_weights(tensors: Mapping[str, torch.Tensor], source: str = "checkpoint") -> LinaConfig:
    """Every size from the tensor shapes of a state dict (``model.`` prefix already removed)."""
    try:
        d_model = tensors["txt_embed.weight"].shape[1]
        gla = "attentive_rnn.encoder.0.tmix."
        key_dim = tensors[gla + "q_proj.weight"].shape[0]
        value_dim = tensors[gla + "v_proj.weight"].shape[0]
        head_v_dim = tensors[gla + "g_norm_swish_gate.weight"].shape[0]
        n_quant, vocab_in, _ = tensors["rvq_embed.weight"].shape
        vocab_out = tensors["logits_head.weight"].shape[1]
        text_rotary = "txt_encoder.sa.0.tmix.rotary.freqs" in tensors
        if text_rotary:  # RotaryEmbedding(head_dim // 2) keeps head_dim // 4 frequencies
            text_heads = d_model // (4 * tensors["txt_encoder.sa.0.tmix.rotary.freqs"].shape[0])
        else:
            text_heads = RELEASED.text_heads
        positions = tensors["attentive_rnn.cross_att.pos_embed.embed.weight"]
        if gla + "q_conv1d.weight" not in tensors:
            raise _unsupported(source, "no short convolutions")
        return LinaConfig(
            d_model=d_model, n_quant=n_quant, n_codebook=vocab_in - SPECIAL_TOKENS,
            n_special_token_in=SPECIAL_TOKENS, n_special_token_out=vocab_out - (vocab_in - SPECIAL_TOKENS),
            n_txt_vocab=tensors["txt_embed.weight"].shape[0],
            n_layer=_count(tensors, r"attentive_rnn\.encoder\.(\d+)\..*"), heads=value_dim // head_v_dim,
            d_blind=positions.shape[1], expand_k=key_dim / d_model, expand_v=value_dim / d_model,
            conv_size=tensors[gla + "q_conv1d.weight"].shape[-1],
            gate_low_rank_dim=tensors[gla + "gk_proj.0.weight"].shape[0],
            text_layers=_count(tensors, r"txt_encoder\.sa\.(\d+)\..*"), text_heads=text_heads,
            text_rotary=text_rotary, pos_max_len=positions.shape[0],
            pos_kernel=tensors["attentive_rnn.cross_att.pos_embed.dw_conv.weight"].shape[-1],
        )
    except KeyError as exc:
        raise ModelLoadError(f"{source}: not a Lina checkpoint ({exc.args[0]} is missing)") from exc
