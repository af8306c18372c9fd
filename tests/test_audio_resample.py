"""The one resampling entry point keeps the quality its docstring guarantees, measured on sines: amplitude
and phase of a passband tone, and how far a tone above the new Nyquist frequency is pushed down."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.resample import output_frames, resample, resample_blocks

RATES = [(44100, 16000), (16000, 44100), (48000, 44100), (22050, 16000), (24000, 22050), (16000, 22050)]
PHASE = 0.3
EDGE_S = 0.005  # the filter sees the signal's edges this close to them


def streamed(samples: np.ndarray, old: int, new: int, quality: str) -> np.ndarray:
    assert quality == "hq"  # the streaming path is the HQ filter
    blocks = [samples[i:i + 3001] for i in range(0, samples.size, 3001)]
    return np.concatenate(list(resample_blocks(blocks, old, new)))


PATHS = {"whole": lambda x, old, new, quality: resample(x, old, new, quality), "stream": streamed}


def fit(frequency: float, old: int, new: int, path: str, quality: str) -> tuple[float, float, float]:
    """(gain dB, phase error rad, output level dB) of a unit sine at ``frequency`` after resampling."""
    x = np.sin(2 * np.pi * frequency * np.arange(old) / old + PHASE).astype(np.float32)
    y = PATHS[path](x, old, new, quality).astype(np.float64)
    t = np.arange(y.size) / new
    inner = slice(int(EDGE_S * new) + 1, y.size - int(EDGE_S * new) - 1)
    basis = np.stack([np.sin(2 * np.pi * frequency * t[inner]), np.cos(2 * np.pi * frequency * t[inner])], 1)
    (s, c), *_ = np.linalg.lstsq(basis, y[inner], rcond=None)
    level = 10 * np.log10(2 * np.mean(y[inner] ** 2) + 1e-30)
    return 20 * np.log10(np.hypot(s, c)), float(np.angle(np.exp(1j * (np.arctan2(c, s) - PHASE)))), level


CASES = [("hq", "whole"), ("hq", "stream"), ("reference", "whole")]
# (passband fractions of the lower Nyquist, max |gain| dB), phase bound, alias bounds by fraction of new Nyquist
BOUNDS = {"hq": ([(0.8, 0.01)], 1e-3, {1.2: -100.0, 1.5: -100.0, 2.0: -100.0}),
          "reference": ([(0.7, 0.05), (0.8, 0.6)], 1e-3, {1.2: -25.0, 1.5: -50.0, 2.0: -50.0})}


@pytest.mark.parametrize("quality, path", CASES)
@pytest.mark.parametrize("old, new", RATES)
def test_passband_amplitude_and_phase(quality, path, old, new):
    bands, phase_bound, _ = BOUNDS[quality]
    nyquist = min(old, new) / 2
    for top, gain_bound in bands:
        for fraction in np.linspace(0.02, top, 6):
            gain, phase, _ = fit(fraction * nyquist, old, new, path, quality)
            assert abs(gain) <= gain_bound, (fraction, gain)
            assert abs(phase) <= phase_bound, (fraction, phase)


@pytest.mark.parametrize("quality, path", CASES)
@pytest.mark.parametrize("old, new", [(44100, 16000), (48000, 22050), (22050, 16000)])
def test_alias_rejection_when_downsampling(quality, path, old, new):
    for fraction, bound in BOUNDS[quality][2].items():
        frequency = fraction * new / 2
        if frequency < 0.98 * old / 2:
            assert fit(frequency, old, new, path, quality)[2] <= bound, fraction


@pytest.mark.parametrize("quality", ["hq", "reference"])
def test_exact_length_for_any_shape_and_near_coprime_rates(quality):
    stereo = np.random.default_rng(0).standard_normal((2, 12_345)).astype(np.float32)
    for old, new in [(44100, 16000), (22050, 22051), (8000, 48000)]:
        out = resample(stereo, old, new, quality)
        assert out.shape == (2, output_frames(12_345, old, new)) and out.dtype == np.float32
        assert resample(stereo[0], old, new, quality).shape == (output_frames(12_345, old, new),)
    with pytest.raises(ValueError, match="quality"):
        resample(stereo, 8000, 16000, "best")
