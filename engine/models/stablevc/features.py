"""StableVC's front ends: what the flow model is conditioned on.

- **Content**: one hidden layer of WavLM (:mod:`engine.models.wavlm`: the catalog's ``wavlm-large`` or
  ``wavlm-base-plus``, or a Hugging Face folder) at 50 frames/s, later quantised to k-means units
  (:mod:`.units`).
- **Timbre**: the CAM++ 192-d embedding of the timbre reference plus its log-mel frames (attended to).
- **Style**: per mel frame the pyin log-f0 relative to the clip's median voiced f0, the voicing flag and the
  log energy relative to the clip's mean; plus the speaking rate (deduplicated units per second). The paper
  takes style from a factorized codec (FACodec's prosody codes); no FACodec weights are open here, and the
  explicit contour/energy/rate triple is the prosody FACodec's prosody branch is trained to capture, made
  speaker-independent by the per-clip normalisation (the register stays with the timbre).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.models import wavlm
from engine.models.seedvc.config import MelSettings
from engine.models.wavlm import WavLMContent

WAVLM_RATE = wavlm.SAMPLE_RATE
WAVLM_HOP = wavlm.HOP
PYIN_FMIN, PYIN_FMAX = 60.0, 800.0
ENERGY_FLOOR = 1e-5
NEUTRAL_REGISTER = float(np.log(150.0))  # the register of a reference pyin hears no voice in


def content_encoder(spec: str, layer: int, device: str | torch.device = "cpu") -> WavLMContent:
    """The WavLM of a config's ``content_encoder``: a catalog id (``wavlm-large``, ``wavlm-base-plus``,
    installed through the model store) or a Hugging Face WavLM folder; reading hidden state ``layer``."""
    from engine.models import loading

    return loading.load_catalog_or_local("wavlm", spec, device=device, precision="fp32", layer=layer)


def resolve_model(spec: str, family_loader: Callable[[Path], Any], device: str | torch.device = "cpu") -> Any:
    """``spec`` is a path (loaded with ``family_loader``) or a catalog id (loaded through the store)."""
    path = Path(spec).expanduser()
    if path.exists():
        return family_loader(path)
    from engine.models import loading

    return loading.load_catalog_model(spec, device=device, precision="fp32")


def style_features(wave: np.ndarray, mel: MelSettings, frames: int) -> tuple[torch.Tensor, float]:
    """``(frames, 3)`` style frames of mono audio at ``mel.sample_rate``, aligned with its mel frames: log-f0
    minus the clip's median voiced log-f0 (0 where unvoiced), voicing (0/1), log RMS minus its mean; and that
    median log-f0, the clip's register (:data:`NEUTRAL_REGISTER` when nothing is voiced), which belongs to
    the timbre."""
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    f0, voiced, _ = librosa.pyin(wave, fmin=PYIN_FMIN, fmax=PYIN_FMAX, sr=mel.sample_rate,
                                 frame_length=mel.win_length, hop_length=mel.hop_length, center=True)
    rms = librosa.feature.rms(y=wave, frame_length=mel.win_length, hop_length=mel.hop_length, center=True)[0]

    def fit(values: np.ndarray) -> np.ndarray:
        values = values[:frames]
        return np.pad(values, (0, frames - len(values)), mode="edge") if 0 < len(values) < frames else values

    voiced = fit(voiced.astype(np.float32))
    log_f0 = np.log(np.where(np.isfinite(fit(f0)), fit(f0), 1.0))
    register = float(np.median(log_f0[voiced > 0])) if voiced.any() else NEUTRAL_REGISTER
    relative = np.where(voiced > 0, log_f0 - register, 0.0)
    log_energy = np.log(fit(rms) + ENERGY_FLOOR)
    energy = log_energy - log_energy.mean()
    return torch.from_numpy(np.stack([relative, voiced, energy], axis=1).astype(np.float32)), register


def aligned_style(style: torch.Tensor, style_mask: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, T, 3)``: each row's valid style frames ``style (B, Ts, 3)`` stretched linearly over its valid
    output frames (``mask (B, T)``), so frame i of n takes the style at the same relative time; padding 0."""
    rows = []
    for row, style_valid, valid in zip(style, style_mask.sum(1).tolist(), mask.sum(1).tolist()):
        frames = row[:max(int(style_valid), 1)].T[None]
        stretched = torch.nn.functional.interpolate(frames, size=max(int(valid), 1), mode="linear",
                                                    align_corners=True)[0].T
        rows.append(torch.nn.functional.pad(stretched, (0, 0, 0, mask.shape[1] - stretched.shape[0])))
    return torch.stack(rows) * mask[..., None]


HARMONIC_WIDTH_BINS = 1.0  # a harmonic's spread in STFT bins (a Hann window's main lobe is ±2)
EXCITATION_FLOOR = 1e-2


def harmonic_excitation(style: torch.Tensor, register: torch.Tensor, mel: MelSettings,
                        basis: torch.Tensor) -> torch.Tensor:
    """``(B, T, n_mels)`` log-mel of a unit harmonic comb at each voiced frame's pitch, exp(register +
    relative log-f0), from frame-aligned ``style (B, T, 3)``; 0 where unvoiced. What the flow model is told
    about pitch: the contour comes from the style, the register from the timbre, and the comb shows where
    in the mel each harmonic lies, so even a small model renders the pitch instead of averaging it away.
    ``basis (n_mels, n_fft // 2 + 1)``: the mel filters."""
    frequencies = torch.arange(basis.shape[1], device=style.device, dtype=torch.float32) * mel.sample_rate / mel.n_fft
    f0 = torch.exp(register.float()[:, None] + style[..., 0].float())[..., None]  # (B, T, 1)
    nearest = torch.round(frequencies / f0).clamp(min=1)
    width = HARMONIC_WIDTH_BINS * mel.sample_rate / mel.n_fft
    comb = torch.exp(-0.5 * ((frequencies - nearest * f0) / width) ** 2) * (frequencies > 0.5 * f0)
    excitation = torch.log1p(comb @ basis.T.to(comb) / EXCITATION_FLOOR)
    return excitation * (style[..., 1:2] > 0.5)


def speaking_rate(units: torch.Tensor, seconds: float) -> float:
    """Deduplicated units per second (what the duration predictor's rhythm follows)."""
    return float(torch.unique_consecutive(units).numel()) / max(seconds, 1e-3)
