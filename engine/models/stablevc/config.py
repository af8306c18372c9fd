"""StableVC hyper-parameters: the architecture, the content/timbre/style front ends and the training recipe,
in one JSON-able dataclass that a run folder stores next to its weights (``config.json``).

``TINY`` trains end to end on a CPU in a minute (tests, smoke runs); at 2000 steps on a small espeak-ng
corpus it already separates style from timbre (``tests/test_stablevc_separability.py``; at 64 wide and 2
blocks it did not render pitch at all in that time). ``RECOMMENDED`` is the documented size
for a real model (README, "StableVC"): a 16-layer, 512-wide DiT (122 M parameters with its attention
branches), WavLM-large layer 6 quantised to 1024 units, trained on a few thousand hours of multi-speaker
speech (LibriTTS-R + a slice of Emilia) for 400 k steps of 32 × 4 s segments.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.errors import ModelLoadError
from engine.models.seedvc.config import MelSettings

FAMILY = "stablevc"
CONFIG_NAME = "config.json"
SPEAKER_DIM = 192  # CAM++
STYLE_FEATURES = 3  # per frame: log-f0 relative to the clip's median, voicing, log energy relative to its mean


@dataclass(frozen=True)
class StableVCConfig:
    # flow model
    dim: int = 512
    depth: int = 16
    heads: int = 8
    ff_mult: int = 4
    # content
    content_encoder: str = "wavlm-large"  # a Hugging Face WavLM folder (path) or a catalog id
    content_layer: int = 6  # hidden state index (0 = after the feature projection)
    units: int = 1024  # k-means clusters
    duration_channels: int = 256
    duration_layers: int = 3
    # timbre and style
    speaker_encoder: str = "campplus-cn-common"  # a CAM++ checkpoint (path) or a catalog id
    vocoder: str = "bigvgan-v2-22khz-80band"  # a BigVGAN release folder (path) or a catalog id
    style_positions: int = 16  # sinusoid pairs encoding a style frame's relative time
    # training recipe
    segment_frames: int = 344  # ≈ 4 s of mel at 22.05 kHz / 256
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_steps: int = 2000
    max_steps: int = 400_000
    ema_decay: float = 0.9999
    drop_timbre: float = 0.2  # condition dropout: what classifier-free guidance needs
    drop_style: float = 0.2
    sigma_min: float = 1e-5
    duration_weight: float = 0.1
    kmeans_iterations: int = 50
    kmeans_max_frames: int = 200_000
    checkpoint_every: int = 5000
    log_every: int = 100
    seed: int = 0
    mel: MelSettings = field(default_factory=MelSettings)
    # the data's log-mel statistics, set by the recipe before training (the DiT works on normalised mel)
    mel_mean: float = -5.0
    mel_std: float = 2.5

    @property
    def frames_per_second(self) -> float:
        return self.mel.sample_rate / self.mel.hop_length

    def with_changes(self, **changes: Any) -> "StableVCConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["family"] = FAMILY
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: object = "config") -> "StableVCConfig":
        values = dict(values)
        values.pop("family", None)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelLoadError(f"{source}: unknown StableVC config keys: {', '.join(unknown)}")
        if isinstance(values.get("mel"), Mapping):
            values["mel"] = MelSettings(**values["mel"])
        try:
            config = cls(**values)
        except TypeError as exc:
            raise ModelLoadError(f"{source}: not a StableVC config ({exc})") from exc
        if config.dim % config.heads or (config.dim // config.heads) % 2:
            raise ModelLoadError(f"{source}: dim {config.dim} must split into {config.heads} heads of even width")
        return config

    def save(self, path: Path) -> None:
        from engine.fileio import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def read_config(config: "StableVCConfig | Mapping[str, Any] | str | Path") -> StableVCConfig:
    """A config from itself, a mapping, a built-in name (``tiny``, ``recommended``) or a JSON file whose keys
    override the recommended values."""
    if isinstance(config, StableVCConfig):
        return config
    if isinstance(config, Mapping):
        return StableVCConfig.from_dict(config)
    if str(config) in PRESETS:
        return PRESETS[str(config)]
    path = Path(config)
    if path.is_dir():
        path = path / CONFIG_NAME
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: StableVC config not found (or use one of: {', '.join(PRESETS)})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not a readable StableVC config ({exc})") from exc
    if not isinstance(values, Mapping):
        raise ModelLoadError(f"{path}: a StableVC config must be a JSON object")
    return StableVCConfig.from_dict(values, source=path)


RECOMMENDED = StableVCConfig()
TINY = StableVCConfig(dim=96, depth=3, heads=4, ff_mult=2, content_layer=2, units=16, duration_channels=32,
                      duration_layers=2, style_positions=4, segment_frames=96, batch_size=4, learning_rate=2e-3,
                      warmup_steps=10, max_steps=200, ema_decay=0.9, kmeans_iterations=20, checkpoint_every=50,
                      log_every=5)
PRESETS = {"tiny": TINY, "recommended": RECOMMENDED}
