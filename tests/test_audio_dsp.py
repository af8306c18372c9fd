"""engine.audio.dsp: sample-exact edits and measured levels."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio import dsp
from engine.audio.clip import Clip
from engine.errors import BadInputError
from tests.synth import dominant_frequency, tone


def _ramp_clip(channels: int = 2, frames: int = 1000, rate: int = 8000) -> Clip:
    """Every sample distinct (value = channel * 10000 + frame), so any off-by-one shows."""
    samples = np.arange(frames, dtype=np.float32)[None, :] + 10_000 * np.arange(channels, dtype=np.float32)[:, None]
    return Clip(samples, rate)


@pytest.mark.parametrize("old_rate, new_rate, frames", [(44_100, 16_000, 88_200), (16_000, 48_000, 16_001),
                                                        (384_000, 44_100, 38_400), (22_050, 22_051, 10_007)])
def test_resample_keeps_frequency_and_has_exact_length(old_rate, new_rate, frames):
    clip = Clip(np.stack([tone(1000, frames / old_rate, old_rate)] * 2)[:, :frames], old_rate)
    out = dsp.resample(clip, new_rate)
    assert out.sample_rate == new_rate and out.channels == 2
    assert out.frames == round(frames * new_rate / old_rate)
    assert abs(dominant_frequency(out.samples[1], new_rate) - 1000) < 1.0
    middle = out.samples[0, out.frames // 4: 3 * out.frames // 4]
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.01)


def test_resample_to_the_same_rate_is_the_same_clip():
    clip = _ramp_clip()
    assert dsp.resample(clip, clip.sample_rate) is clip


def test_crop_returns_exactly_the_frames():
    clip = _ramp_clip()
    out = dsp.crop(clip, 123, 457)
    np.testing.assert_array_equal(out.samples, clip.samples[:, 123:457])
    assert out.frames == 334 and out.samples.flags.c_contiguous
    seconds = dsp.crop_seconds(clip, 0.01, 0.02)  # 8 kHz: frames 80..160
    np.testing.assert_array_equal(seconds.samples[0], np.arange(80, 160, dtype=np.float32))
    with pytest.raises(BadInputError, match="not a range inside the clip"):
        dsp.crop(clip, 900, 1001)
    with pytest.raises(BadInputError, match="not a range inside the clip"):
        dsp.crop(clip, 10, 10)


def test_time_frame_helpers_round_to_the_nearest_frame():
    assert dsp.seconds_to_frame(1.00006, 8000) == 8000
    assert dsp.seconds_to_frame(1.00007, 8000) == 8001
    assert dsp.frame_to_seconds(12_000, 8000) == 1.5
    assert dsp.frame_range(_ramp_clip(), -1.0, 99.0) == (0, 1000)


def test_delete_replace_and_insert_ranges():
    clip = _ramp_clip(channels=1, frames=10)
    np.testing.assert_array_equal(dsp.delete_range(clip, 2, 5).samples[0], [0, 1, 5, 6, 7, 8, 9])
    patch = Clip(np.full((1, 2), -1.0, dtype=np.float32), clip.sample_rate)
    np.testing.assert_array_equal(dsp.replace_range(clip, 3, 8, patch).samples[0], [0, 1, 2, -1, -1, 8, 9])
    np.testing.assert_array_equal(dsp.replace_range(clip, 10, 10, patch).samples[0], [*range(10), -1, -1])
    with pytest.raises(BadInputError, match="empty clip"):
        dsp.delete_range(clip, 0, 10)
    with pytest.raises(BadInputError, match="has 2 channels"):
        dsp.replace_range(clip, 0, 1, _ramp_clip(channels=2, frames=3))


def test_concatenate_joins_in_order_and_checks_rate_and_channels():
    a, b = _ramp_clip(frames=5), _ramp_clip(frames=3)
    joined = dsp.concatenate([a, b, a])
    assert joined.frames == 13
    np.testing.assert_array_equal(joined.samples[1], [10000, 10001, 10002, 10003, 10004, 10000, 10001, 10002,
                                                      10000, 10001, 10002, 10003, 10004])
    with pytest.raises(BadInputError, match="is at 16000 Hz"):
        dsp.concatenate([a, _ramp_clip(frames=5, rate=16_000)])
    with pytest.raises(BadInputError, match="has 1 channels"):
        dsp.concatenate([a, _ramp_clip(channels=1, frames=5)])


def test_channel_operations():
    clip = _ramp_clip(channels=3, frames=4)
    np.testing.assert_array_equal(dsp.to_mono(clip).samples, [[10000, 10001, 10002, 10003]])
    parts = dsp.split_channels(clip)
    assert [part.channels for part in parts] == [1, 1, 1]
    np.testing.assert_array_equal(parts[2].samples[0], [20000, 20001, 20002, 20003])
    np.testing.assert_array_equal(dsp.merge_channels(parts).samples, clip.samples)
    np.testing.assert_array_equal(dsp.select_channel(clip, 1).samples, clip.samples[1:2])
    stereo = dsp.to_channels(parts[0], 2)
    np.testing.assert_array_equal(stereo.samples, np.repeat(parts[0].samples, 2, axis=0))
    with pytest.raises(BadInputError, match="has no channel 4"):
        dsp.select_channel(clip, 3)
    with pytest.raises(BadInputError, match="only mono can be spread"):
        dsp.to_channels(clip, 2)


def test_mix_sums_with_gains_and_pads_the_shorter_clip():
    a = Clip(np.full((1, 4), 0.25, dtype=np.float32), 8000)
    b = Clip(np.full((1, 2), 0.5, dtype=np.float32), 8000)
    mixed = dsp.mix([a, b], gains_db=[0.0, -6.0206])
    np.testing.assert_allclose(mixed.samples[0], [0.5, 0.5, 0.25, 0.25], atol=1e-5)


def test_gain_and_levels_are_measured_in_dbfs():
    clip = Clip(tone(1000, 1.0, 16_000, amplitude=1.0), 16_000)
    assert dsp.peak_dbfs(clip) == pytest.approx(0.0, abs=1e-3)
    assert dsp.rms_dbfs(clip) == pytest.approx(-3.0103, abs=1e-3)
    quieter = dsp.gain_db(clip, -12.0)
    assert dsp.peak_dbfs(quieter) == pytest.approx(-12.0, abs=1e-3)
    assert dsp.rms_dbfs(quieter) == pytest.approx(-15.0103, abs=1e-3)
    assert dsp.peak_dbfs(Clip(np.zeros((1, 10), np.float32), 8000)) == float("-inf")


def test_normalize_peak_hits_the_target():
    clip = Clip(np.stack([tone(300, 1.0, 16_000, 0.1), tone(500, 1.0, 16_000, 0.3)]), 16_000)
    out = dsp.normalize_peak(clip, -1.0)
    assert dsp.peak_dbfs(out) == pytest.approx(-1.0, abs=1e-4)
    assert np.abs(out.samples[0]).max() / np.abs(out.samples[1]).max() == pytest.approx(1 / 3, rel=1e-4)
    with pytest.raises(BadInputError, match="silent"):
        dsp.normalize_peak(Clip(np.zeros((1, 100), np.float32), 8000))


@pytest.mark.parametrize("target", [-23.0, -14.0])
def test_normalize_loudness_hits_the_target_within_half_a_lu(target):
    rng = np.random.default_rng(5)
    music = np.stack([tone(220, 5.0, 44_100, 0.2) + 0.05 * rng.standard_normal(220_500).astype(np.float32),
                      tone(330, 5.0, 44_100, 0.1)])
    out = dsp.normalize_loudness(Clip(music, 44_100), target)
    assert abs(dsp.loudness_lufs(out) - target) < 0.5


def test_loudness_needs_enough_audio_and_handles_many_channels():
    with pytest.raises(BadInputError, match="too short to measure loudness"):
        dsp.loudness_lufs(Clip(tone(440, 0.2, 16_000), 16_000))
    eight = Clip(np.stack([tone(440, 1.0, 16_000)] * 8), 16_000)
    assert dsp.loudness_lufs(eight) == pytest.approx(dsp.loudness_lufs(Clip(eight.samples[:1], 16_000)), abs=1e-6)


def test_trim_silence_removes_quiet_edges_only():
    rate = 16_000
    body = tone(440, 1.0, rate)
    padded = Clip(np.concatenate([np.zeros(8000, np.float32), body, np.zeros(4000, np.float32)]), rate)
    trimmed = dsp.trim_silence(padded, top_db=40, frame_length=512, hop_length=128)
    # Whole frames are kept: the tone plus less than one 512-frame window of silence on each side.
    assert rate <= trimmed.frames < rate + 2 * 512
    assert np.square(trimmed.samples, dtype=np.float64).sum() == pytest.approx(np.square(body, dtype=np.float64).sum())
    assert trimmed.samples[0, 0] == 0.0 and trimmed.samples[0, -1] == 0.0


@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_fades_have_the_documented_shape(shape):
    clip = Clip(np.ones((2, 100), np.float32), 8000)
    ramp = np.arange(10) / 10
    expected = ramp if shape == "linear" else 0.5 - 0.5 * np.cos(np.pi * ramp)
    faded_in = dsp.fade_in(clip, 10, shape)
    np.testing.assert_allclose(faded_in.samples[:, :10], np.stack([expected] * 2), atol=1e-7)
    np.testing.assert_array_equal(faded_in.samples[:, 10:], 1.0)
    faded_out = dsp.fade_out(clip, 10, shape)
    np.testing.assert_allclose(faded_out.samples[1, -10:], expected[::-1], atol=1e-7)
    assert faded_out.samples[0, -1] == 0.0 and faded_out.samples[0, 89] == 1.0
    np.testing.assert_array_equal(clip.samples, 1.0)  # the input clip is unchanged
    with pytest.raises(BadInputError, match="does not fit"):
        dsp.fade_in(clip, 101)
