"""Seed-VC v1 hyper-parameters, read from the ``model_params`` section of the official preset YAMLs (or a
golden ``config_<n>.json``, which wraps the same schema), plus the mel settings of ``preprocess_params``.

Only the values the inference graph depends on are kept; training knobs (dropouts, loss types) and keys the
reference ignores at inference (``content_type``, ``n_codebooks`` of a continuous length regulator) are
accepted and dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.errors import ModelLoadError

MEL_CHANNELS = 80
STYLE_DIM = 192


@dataclass(frozen=True)
class MelSettings:
    """Seed-VC's log-mel: 22.05 kHz, 1024-point STFT, hop 256, 80 Slaney bands from ``fmin`` to ``fmax``
    (None: Nyquist)."""

    sample_rate: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = MEL_CHANNELS
    fmin: float = 0.0
    fmax: float | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "MelSettings":
        """From a golden ``mel`` block or a preset's ``preprocess_params`` (``sr`` + ``spect_params``)."""
        spect = values.get("spect_params", values)
        fmax = spect.get("fmax")
        return cls(sample_rate=int(values.get("sr", values.get("sampling_rate", 22050))),
                   n_fft=int(spect.get("n_fft", 1024)),
                   win_length=int(spect.get("win_length", spect.get("win_size", 1024))),
                   hop_length=int(spect.get("hop_length", spect.get("hop_size", 256))),
                   n_mels=int(spect.get("n_mels", spect.get("num_mels", MEL_CHANNELS))),
                   fmin=float(spect.get("fmin", 0)),
                   fmax=None if fmax in (None, "None", "null") else float(fmax))


@dataclass(frozen=True)
class SeedVCConfig:
    """The DiT estimator, its output head and the length regulator."""

    hidden_dim: int
    num_heads: int
    depth: int
    content_dim: int  # what ``cond_projection`` reads: the length regulator's channels
    content_codebook_size: int  # size of the (unused at inference) ``cond_embedder``
    final_layer: str  # "wavenet" or "mlp"
    long_skip: bool
    time_as_token: bool
    style_as_token: bool
    uvit_skip: bool
    regulator_channels: int
    regulator_in_channels: int  # width of the content features (768 Whisper-small, 1024 XLS-R)
    regulator_codebook_size: int
    wavenet_hidden: int = 0
    wavenet_layers: int = 0
    wavenet_kernel: int = 0
    wavenet_dilation_rate: int = 1
    in_channels: int = MEL_CHANNELS
    style_dim: int = STYLE_DIM
    mel: MelSettings = field(default_factory=MelSettings)

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    @property
    def prefix_tokens(self) -> int:
        """Tokens put before the mel frames in the transformer's sequence (time and/or style)."""
        return int(self.time_as_token) + int(self.style_as_token)

    @classmethod
    def from_model_params(cls, params: Mapping[str, Any], mel: MelSettings | None = None,
                          source: object = "config") -> "SeedVCConfig":
        try:
            dit = params["DiT"]
            regulator = params["length_regulator"]
            final_layer = str(dit.get("final_layer_type", "wavenet"))
            wavenet = params.get("wavenet", {}) if final_layer == "wavenet" else {}
            if final_layer not in ("wavenet", "mlp"):
                raise ModelLoadError(f"{source}: unknown DiT final_layer_type {final_layer!r} (wavenet or mlp)")
            if regulator.get("is_discrete", False) or dit.get("f0_condition", False) or \
                    regulator.get("f0_condition", False):
                raise ModelLoadError(f"{source}: discrete or f0-conditioned Seed-VC models are not supported "
                                     f"(v1 speech models only)")
            if regulator.get("vector_quantize", False) or any(int(r) != 1 for r in
                                                              regulator.get("sampling_ratios", [1])):
                raise ModelLoadError(f"{source}: only length regulators without quantizer or resampling stages "
                                     f"(sampling_ratios all 1) are supported")
            if dit.get("is_causal", False):
                raise ModelLoadError(f"{source}: causal DiTs are not supported")
            config = cls(
                hidden_dim=int(dit["hidden_dim"]), num_heads=int(dit["num_heads"]), depth=int(dit["depth"]),
                content_dim=int(dit.get("content_dim", dit["hidden_dim"])),
                content_codebook_size=int(dit.get("content_codebook_size", 1024)),
                final_layer=final_layer, long_skip=bool(dit.get("long_skip_connection", False)),
                time_as_token=bool(dit.get("time_as_token", False)),
                style_as_token=bool(dit.get("style_as_token", False)),
                uvit_skip=bool(dit.get("uvit_skip_connection", False)),
                regulator_channels=int(regulator["channels"]), regulator_in_channels=int(regulator["in_channels"]),
                regulator_codebook_size=int(regulator.get("content_codebook_size", 1024)),
                wavenet_hidden=int(wavenet.get("hidden_dim", 0)), wavenet_layers=int(wavenet.get("num_layers", 0)),
                wavenet_kernel=int(wavenet.get("kernel_size", 0)),
                wavenet_dilation_rate=int(wavenet.get("dilation_rate", 1)),
                in_channels=int(dit.get("in_channels", MEL_CHANNELS)),
                style_dim=int(params.get("style_encoder", {}).get("dim", STYLE_DIM)),
                mel=mel or MelSettings())
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{source}: not a Seed-VC model_params section ({exc!r})") from exc
        if config.hidden_dim % config.num_heads or config.head_dim % 2:
            raise ModelLoadError(f"{source}: hidden_dim {config.hidden_dim} must split into {config.num_heads} "
                                 f"heads of even width")
        if final_layer == "wavenet" and not (config.wavenet_hidden and config.wavenet_layers and config.wavenet_kernel):
            raise ModelLoadError(f"{source}: the wavenet final layer needs a wavenet section")
        return config


def read_config(config: "SeedVCConfig | Mapping[str, Any] | str | Path") -> SeedVCConfig:
    """A config from a :class:`SeedVCConfig`, a mapping (a preset's top level, its ``model_params``, or a
    golden ``config_<n>.json``) or a path to a JSON/YAML file holding one."""
    if isinstance(config, SeedVCConfig):
        return config
    source: object = "config"
    if not isinstance(config, Mapping):
        path = Path(config)
        source = path
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix in (".yml", ".yaml"):
                import yaml

                config = yaml.safe_load(text)
            else:
                config = json.loads(text)
        except FileNotFoundError:
            raise ModelLoadError(f"{path}: Seed-VC config not found") from None
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file for the user
            raise ModelLoadError(f"{path}: not a readable Seed-VC config ({exc})") from exc
        if not isinstance(config, Mapping):
            raise ModelLoadError(f"{path}: a Seed-VC config must be a mapping")
    params = config.get("model_params", config)
    mel_values = config.get("mel") or config.get("preprocess_params")
    return SeedVCConfig.from_model_params(params, MelSettings.from_dict(mel_values) if mel_values else None,
                                          source=source)


# The released v1 speech presets (``configs/presets/*.yml`` of the Seed-VC repository).
OFFLINE = SeedVCConfig(  # config_dit_mel_seed_uvit_whisper_small_wavenet.yml
    hidden_dim=512, num_heads=8, depth=13, content_dim=512, content_codebook_size=1024, final_layer="wavenet",
    long_skip=True, time_as_token=False, style_as_token=False, uvit_skip=True, regulator_channels=512,
    regulator_in_channels=768, regulator_codebook_size=2048, wavenet_hidden=512, wavenet_layers=8,
    wavenet_kernel=5, wavenet_dilation_rate=1, mel=MelSettings(fmax=None))
REALTIME = SeedVCConfig(  # config_dit_mel_seed_uvit_xlsr_tiny.yml
    hidden_dim=384, num_heads=6, depth=9, content_dim=384, content_codebook_size=1024, final_layer="mlp",
    long_skip=False, time_as_token=True, style_as_token=True, uvit_skip=True, regulator_channels=384,
    regulator_in_channels=1024, regulator_codebook_size=1024, mel=MelSettings(fmax=8000.0))
PRESETS = {"whisper-small-wavenet": OFFLINE, "xlsr-tiny": REALTIME}

