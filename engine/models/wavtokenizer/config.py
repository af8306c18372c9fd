"""WavTokenizer hyper-parameters and where they come from.

The release describes the codec with a LightningCLI yaml (``model.init_args`` holding ``feature_extractor``,
``backbone`` and ``head`` class paths with their ``init_args``). The SEANet encoder/decoder sizes are not in
that file: the reference ``EncodecFeatures`` hard-codes them (32 filters, 512 dimensions), so they are
fields here with those defaults, and a config may override them (``seanet_overrides`` / ``seanet_fixed`` in
the golden ``config_*.json`` layout). Only the architecture variants the reference actually builds for
WavTokenizer are accepted; anything else is refused with the offending key named, never guessed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from engine.errors import ModelLoadError


@dataclass(frozen=True)
class SeanetConfig:
    """The EnCodec SEANet encoder (and the stored, unused decoder), non-causal, weight-normed, ELU."""

    n_filters: int = 32
    dimension: int = 512
    ratios: tuple[int, ...] = (8, 5, 4, 2)           # the encoder applies them in reverse order
    decoder_ratios: tuple[int, ...] = (8, 5, 4, 2)   # hard-coded in the reference, whatever ``ratios`` are
    n_residual_layers: int = 1
    kernel_size: int = 7
    residual_kernel_size: int = 3
    last_kernel_size: int = 7
    dilation_base: int = 2
    compress: int = 2
    lstm: int = 2
    true_skip: bool = False
    channels: int = 1


@dataclass(frozen=True)
class WavTokenizerConfig:
    """Every size the codec is built from; the defaults are the released 75-token/s speech model."""

    seanet: SeanetConfig = field(default_factory=SeanetConfig)
    codebook_size: int = 4096
    num_quantizers: int = 1
    backbone_dim: int = 768
    intermediate_dim: int = 2304
    num_layers: int = 12
    adanorm_num_embeddings: int = 4
    n_fft: int = 1280
    hop_length: int = 320
    sample_rate: int = 24000
    bandwidth_id: int = 0    # which AdaLayerNorm row conditions the decoder; Lina uses 0

    def validate(self, source: str) -> WavTokenizerConfig:
        """Refuse sizes the architecture cannot honour, so a bad config fails at load, not mid-synthesis."""
        problems = []
        if math.prod(self.seanet.ratios) != self.hop_length:
            problems.append(f"the encoder downsamples by {math.prod(self.seanet.ratios)} "
                            f"(dowmsamples {list(self.seanet.ratios)}) but the head hops {self.hop_length} samples")
        if self.n_fft <= self.hop_length:
            problems.append(f"n_fft {self.n_fft} must exceed hop_length {self.hop_length} for frames to overlap")
        if (self.n_fft - self.hop_length) % 2:
            problems.append(f"n_fft - hop_length must be even for 'same' padding (n_fft {self.n_fft}, "
                            f"hop_length {self.hop_length})")
        if self.backbone_dim % 32:
            problems.append(f"backbone dim {self.backbone_dim} is not a multiple of the 32 GroupNorm groups")
        if not 0 <= self.bandwidth_id < self.adanorm_num_embeddings:
            problems.append(f"bandwidth_id {self.bandwidth_id} is outside the {self.adanorm_num_embeddings} "
                            f"AdaLayerNorm embeddings")
        if self.num_quantizers < 1:
            problems.append(f"num_quantizers must be at least 1, got {self.num_quantizers}")
        if min(self.seanet.n_filters, self.seanet.dimension, self.seanet.compress, *self.seanet.ratios) < 1:
            problems.append("SEANet n_filters, dimension, compress and ratios must be positive")
        if problems:
            raise ModelLoadError(f"{source}: unusable WavTokenizer config: " + "; ".join(problems))
        return self


RELEASED_CONFIG = WavTokenizerConfig()

# SEANet arguments the reference fixes; a config may restate them but not change them.
_FIXED_SEANET = {"causal": False, "norm": "weight_norm", "pad_mode": "reflect", "activation": "ELU"}
_CLASSES = {"feature_extractor": "EncodecFeatures", "backbone": "VocosBackbone", "head": "ISTFTHead"}


def read_config(config: str | Path | Mapping[str, Any] | WavTokenizerConfig | None) -> WavTokenizerConfig:
    """The codec config from a mapping, a ``.json`` file (golden layout), a ``.yaml`` file (release layout,
    parsed with ``yaml.safe_load``, which builds plain data only), or the released defaults for ``None``."""
    if config is None:
        return RELEASED_CONFIG
    if isinstance(config, WavTokenizerConfig):
        return config.validate("config")
    if isinstance(config, Mapping):
        return config_from_mapping(config, "config")
    path = Path(config)
    if not path.is_file():
        raise ModelLoadError(f"{path}: WavTokenizer config file not found")
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ModelLoadError(f"{path}: unknown config format (expected .json, .yaml or .yml)")
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure means the file cannot be used
        raise ModelLoadError(f"{path}: not a readable WavTokenizer config ({exc})") from exc
    if not isinstance(data, Mapping):
        raise ModelLoadError(f"{path}: not a WavTokenizer config (the top level is not a mapping)")
    return config_from_mapping(data, str(path))


def config_from_mapping(data: Mapping[str, Any], source: str) -> WavTokenizerConfig:
    """Read either layout: ``{"model": {"init_args": ...}}`` (the release yaml) or ``{"init_args": ...}``
    (the golden json, which may add ``seanet_overrides``, ``seanet_fixed``, ``bandwidth_id``,
    ``sample_rate`` at the top level)."""
    model = data.get("model", data)
    init_args = _mapping(model, "init_args", source, "model.init_args" if "model" in data else "init_args")
    parts = {}
    for part, class_name in _CLASSES.items():
        spec = _mapping(init_args, part, source, f"init_args.{part}")
        class_path = str(spec.get("class_path", class_name))
        if class_path.rsplit(".", 1)[-1] != class_name:
            raise ModelLoadError(f"{source}: {part} is {class_path}; only {class_name} is supported")
        parts[part] = spec.get("init_args") or {}
    features, backbone, head = parts["feature_extractor"], parts["backbone"], parts["head"]

    if features.get("encodec_model", "encodec_24khz") != "encodec_24khz":
        raise ModelLoadError(f"{source}: encodec_model {features['encodec_model']!r} is not supported "
                             f"(only 'encodec_24khz')")
    if head.get("padding", "same") != "same":
        raise ModelLoadError(f"{source}: head padding {head['padding']!r} is not supported (only 'same')")
    if "dim" in head and head["dim"] != backbone.get("dim", RELEASED_CONFIG.backbone_dim):
        raise ModelLoadError(f"{source}: head dim {head['dim']} differs from the backbone dim")

    seanet = _seanet(features, data.get("seanet_overrides") or {}, data.get("seanet_fixed") or {}, source)
    input_channels = backbone.get("input_channels", seanet.dimension)
    if input_channels != seanet.dimension:
        raise ModelLoadError(f"{source}: backbone input_channels {input_channels} differs from the codebook "
                             f"dimension {seanet.dimension}")
    defaults = RELEASED_CONFIG
    try:
        config = WavTokenizerConfig(
            seanet=seanet,
            codebook_size=int(features.get("vq_bins", defaults.codebook_size)),
            num_quantizers=int(features.get("num_quantizers", defaults.num_quantizers)),
            backbone_dim=int(backbone.get("dim", defaults.backbone_dim)),
            intermediate_dim=int(backbone.get("intermediate_dim", defaults.intermediate_dim)),
            num_layers=int(backbone.get("num_layers", defaults.num_layers)),
            adanorm_num_embeddings=int(backbone.get("adanorm_num_embeddings") or 0),
            n_fft=int(head.get("n_fft", defaults.n_fft)),
            hop_length=int(head.get("hop_length", defaults.hop_length)),
            sample_rate=int(data.get("sample_rate", model.get("init_args", {}).get("sample_rate",
                                                                                 defaults.sample_rate))),
            bandwidth_id=int(data.get("bandwidth_id", defaults.bandwidth_id)),
        )
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{source}: a WavTokenizer size is not an integer ({exc})") from exc
    if config.adanorm_num_embeddings < 1:
        raise ModelLoadError(f"{source}: backbone adanorm_num_embeddings must be set (WavTokenizer conditions "
                             f"its decoder on a bandwidth id)")
    return config.validate(source)


def _seanet(features: Mapping[str, Any], overrides: Mapping[str, Any], fixed: Mapping[str, Any],
            source: str) -> SeanetConfig:
    for key, required in _FIXED_SEANET.items():
        if key in fixed and fixed[key] != required:
            raise ModelLoadError(f"{source}: SEANet {key} {fixed[key]!r} is not supported (only {required!r})")
    values: dict[str, Any] = {}
    names = {f.name for f in fields(SeanetConfig)}
    for source_values in (fixed, overrides):
        values.update({k: v for k, v in source_values.items() if k in names})
    if "dowmsamples" in features:   # the reference's spelling
        values["ratios"] = features["dowmsamples"]
    try:
        for key in ("ratios", "decoder_ratios"):
            if key in values:
                values[key] = tuple(int(r) for r in values[key])
        for key in names - {"ratios", "decoder_ratios", "true_skip"}:
            if key in values:
                values[key] = int(values[key])
        if "true_skip" in values:
            values["true_skip"] = bool(values["true_skip"])
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{source}: a SEANet size is not an integer ({exc})") from exc
    if values.get("channels", 1) != 1:
        raise ModelLoadError(f"{source}: SEANet channels {values['channels']} is not supported (mono only)")
    return replace(SeanetConfig(), **values)


def _mapping(parent: Any, key: str, source: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key) if isinstance(parent, Mapping) else None
    if not isinstance(value, Mapping):
        raise ModelLoadError(f"{source}: not a WavTokenizer config ({where} is missing or not a mapping)")
    return value
