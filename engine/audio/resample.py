"""The one way Vocalis changes a signal's sample rate: :func:`resample` for whole signals and
:func:`resample_blocks` for streams.

Two qualities, each guaranteed on sines by ``tests/test_audio_resample.py`` (levels measured away from the
signal's first and last 5 ms, where the filter sees the edge; outputs are time-aligned with inputs):

- ``"hq"`` (the default; soxr's HQ filter, also the streaming path): amplitude within 0.01 dB and phase
  within 0.001 rad up to 0.8 × the lower Nyquist frequency; when downsampling, a sine between 1.2 and 2 ×
  the new Nyquist frequency comes out at least 100 dB down.
- ``"reference"`` (torchaudio's default windowed sinc, 6 zero crossings, roll-off 0.99): what the PyTorch
  reference code of CAM++ and Seed-VC runs, so parity data match. Amplitude within 0.05 dB up to 0.7 ×
  the lower Nyquist (0.6 dB at 0.8 ×), phase within 0.001 rad; aliases at least 25 dB down at 1.2 × the new
  Nyquist and 50 dB from 1.5 ×. Its filter bank grows with the reduced rates, so near-coprime pairs
  (22050 → 22051) go through the HQ filter instead.

:func:`resample` returns exactly ``round(frames · new / old)`` frames.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable, Iterator

import numpy as np
import soxr
import torch
import torchaudio.transforms

# Above this many polyphase filter taps (reduced new rate x reduced old rate) resampling switches to soxr.
MAX_POLYPHASE_TAPS = 1 << 20
QUALITIES = ("hq", "reference")


def output_frames(frames: int, old_rate: int, new_rate: int) -> int:
    return int(round(frames * new_rate / old_rate))


def resample(samples: np.ndarray, old_rate: int, new_rate: int, quality: str = "hq") -> np.ndarray:
    """``samples`` (time on the last axis: ``(frames,)`` or ``(channels, frames)``) at ``new_rate``, float32,
    exactly :func:`output_frames` long, in ``quality`` "hq" or "reference" (see the module docstring)."""
    if quality not in QUALITIES:
        raise ValueError(f"resampling quality must be one of {QUALITIES}, got {quality!r}")
    old_rate, new_rate = int(old_rate), int(new_rate)
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if old_rate == new_rate:
        return samples
    common = math.gcd(old_rate, new_rate)
    if quality == "reference" and (old_rate // common) * (new_rate // common) <= MAX_POLYPHASE_TAPS:
        with torch.inference_mode():
            out = _polyphase_resampler(old_rate, new_rate)(torch.from_numpy(samples)).numpy()
    else:
        out = soxr.resample(samples.T, old_rate, new_rate, quality="HQ").T
    length = output_frames(samples.shape[-1], old_rate, new_rate)
    if out.shape[-1] < length:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
    return np.ascontiguousarray(out[..., :length], dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _polyphase_resampler(old_rate: int, new_rate: int) -> torchaudio.transforms.Resample:
    """Building the filter bank costs more than applying it to a short clip (0.1 s for 44.1k -> 16k), so
    batches of files and repeated GUI edits reuse it."""
    return torchaudio.transforms.Resample(old_rate, new_rate)


def resample_blocks(blocks: Iterable[np.ndarray], old_rate: int, new_rate: int) -> Iterator[np.ndarray]:
    """Stream-resample consecutive 1-D blocks; the output blocks join into the resampled signal (block sizes
    differ from the input's; the total is within a frame of :func:`output_frames`)."""
    if old_rate == new_rate:
        yield from blocks
        return
    stream = soxr.ResampleStream(old_rate, new_rate, 1, dtype="float32", quality="HQ")
    for samples in blocks:
        yield stream.resample_chunk(np.ascontiguousarray(samples, dtype=np.float32))
    yield stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
