"""Seed-VC's log-mel front end (the BigVGAN v2 recipe): what the prompt mel is made of and what the DiT
generates, so it must match the vocoder's training features exactly.

Reflect-pad ``(n_fft − hop)/2`` samples on both sides, STFT without centring (periodic Hann window),
magnitude ``sqrt(re² + im² + 1e-9)``, Slaney mel filters (librosa), ``log(max(·, 1e-5))``. A clip of L samples
gives ``L // hop`` frames.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from engine.models.seedvc.config import MelSettings

MAGNITUDE_EPS = 1e-9
LOG_FLOOR = 1e-5


@functools.lru_cache(maxsize=8)
def _mel_basis(settings: MelSettings) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels,
                                fmin=settings.fmin, fmax=settings.fmax)
    return torch.from_numpy(np.asarray(basis, dtype=np.float32))


def log_mel(wave: torch.Tensor | np.ndarray, settings: MelSettings) -> torch.Tensor:
    """``(B, n_mels, L // hop)`` float32 log-mel of float audio ``(L,)`` or ``(B, L)`` in [-1, 1] at
    ``settings.sample_rate`` (computed on the audio's device)."""
    wave = torch.as_tensor(wave, dtype=torch.float32)
    if wave.ndim == 1:
        wave = wave[None]
    pad = (settings.n_fft - settings.hop_length) // 2
    if wave.shape[-1] <= pad:
        raise ValueError(f"a mel needs more than {pad} samples, got {wave.shape[-1]}")
    padded = F.pad(wave[:, None], (pad, pad), mode="reflect")[:, 0]
    window = torch.hann_window(settings.win_length, device=wave.device)
    spectrum = torch.stft(padded, settings.n_fft, hop_length=settings.hop_length, win_length=settings.win_length,
                          window=window, center=False, normalized=False, onesided=True, return_complex=True)
    magnitude = torch.sqrt(torch.view_as_real(spectrum).pow(2).sum(-1) + MAGNITUDE_EPS)
    mel = torch.matmul(_mel_basis(settings).to(wave.device), magnitude)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))
