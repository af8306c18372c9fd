"""Playback mixing (engine.audio.mix): gains, mute and solo as Audacity applies them, tracks of other rates
and channel counts, live level changes, and block reads that add up to the whole mix."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio import dsp
from engine.audio.clip import Clip
from engine.audio.mix import Mix, TrackLevel, linear_gains

RATE = 8000


def const(value: float, frames: int, channels: int = 1, rate: int = RATE) -> Clip:
    return Clip(np.full((channels, frames), value, np.float32), rate)


@pytest.mark.parametrize("levels, expected", [
    ([TrackLevel(), TrackLevel(gain_db=-6.0)], [1.0, 10 ** (-6 / 20)]),
    ([TrackLevel(mute=True), TrackLevel()], [0.0, 1.0]),
    ([TrackLevel(solo=True), TrackLevel(), TrackLevel(solo=True, gain_db=6.0)], [1.0, 0.0, 10 ** (6 / 20)]),
    ([TrackLevel(solo=True, mute=True), TrackLevel()], [0.0, 0.0]),  # soloed but muted: silent, and
    ([TrackLevel(mute=True), TrackLevel(mute=True)], [0.0, 0.0]),    # it still silences the others
])
def test_gain_mute_and_solo_rules(levels, expected):
    np.testing.assert_allclose(linear_gains(levels), expected, rtol=1e-6)


def test_mix_sums_tracks_with_their_gains_and_pads_shorter_ones():
    mix = Mix([const(0.25, 100), const(0.5, 60), const(0.125, 80)],
              [TrackLevel(), TrackLevel(gain_db=20 * np.log10(0.5)), TrackLevel(mute=True)])
    rendered = mix.render().samples[0]
    assert mix.frames == 100 and mix.duration == pytest.approx(100 / RATE)
    np.testing.assert_allclose(rendered[:60], 0.25 + 0.25, rtol=1e-6)
    np.testing.assert_allclose(rendered[60:], 0.25, rtol=1e-6)


def test_solo_compares_a_stem_with_its_source():
    """Solo the source, then the stem: each alone is heard exactly as it is."""
    rng = np.random.default_rng(0)
    source = Clip(rng.standard_normal((2, 400)).astype(np.float32) * 0.1, RATE, name="song")
    stem = Clip(source.samples * 0.5, RATE, name="song vocals")
    mix = Mix([source, stem])
    mix.set_levels([TrackLevel(solo=True), TrackLevel()])
    np.testing.assert_array_equal(mix.render().samples, source.samples)
    mix.set_levels([TrackLevel(), TrackLevel(solo=True)])
    np.testing.assert_array_equal(mix.render().samples, stem.samples)


def test_other_rates_are_resampled_once_and_mono_is_spread():
    slow = Clip(np.sin(np.linspace(0, 20, 4000, dtype=np.float32))[None], RATE // 2)
    stereo = const(0.0, RATE, channels=2)
    mix = Mix([stereo, slow])
    assert (mix.sample_rate, mix.channels, mix.frames) == (RATE, 2, RATE)
    expected = dsp.resample(slow, RATE).samples[0]
    rendered = mix.render().samples
    np.testing.assert_allclose(rendered[0], expected, atol=1e-6)
    np.testing.assert_array_equal(rendered[0], rendered[1])
    again = Mix([slow])  # the resampled copy is remembered with the clip
    assert again.with_format(RATE, 1)._tracks[0] is mix._tracks[1]


def test_more_channels_than_the_output_are_mixed_down():
    stereo = Clip(np.stack([np.full(50, 0.2, np.float32), np.full(50, 0.6, np.float32)]), RATE)
    np.testing.assert_allclose(Mix([stereo], channels=1).render().samples, 0.4, rtol=1e-6)


def test_blocks_add_up_to_the_whole_mix_and_level_changes_apply_from_the_next_block():
    rng = np.random.default_rng(1)
    clips = [Clip(rng.standard_normal((1, 1000)).astype(np.float32), RATE),
             Clip(rng.standard_normal((2, 700)).astype(np.float32), RATE)]
    mix = Mix(clips, [TrackLevel(gain_db=-3.0), TrackLevel()])
    whole = mix.render().samples
    block = np.empty((256, 2), np.float32)
    pieces = []
    for start in range(0, 1024, 256):
        mix.read_into(block, start)
        pieces.append(block.T.copy())
    np.testing.assert_allclose(np.concatenate(pieces, axis=1)[:, :1000], whole, rtol=1e-6)
    assert not np.concatenate(pieces, axis=1)[:, 1000:].any()  # silence after the end

    shared = mix.with_format(RATE // 2, 2)
    mix.set_levels([TrackLevel(mute=True), TrackLevel(mute=True)])
    assert not shared.render().samples.any()  # a mix in another format follows the same levels
    with pytest.raises(ValueError, match="levels"):
        mix.set_levels([TrackLevel()])
