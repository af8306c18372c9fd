"""Mute, solo and gain in the track headers (pytest-qt, offscreen): Play plays every track mixed by the
engine, and a header change while playing reaches the mix being played. The sound device is replaced by
a recorder of what the window asks it to play (the real device path is in tests/test_devices.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.clip import Clip
from engine.audio.mix import Mix, TrackLevel
from gui import transport
from gui.main_window import MainWindow

RATE = 8000


class FakePlayer:
    """Stands in for engine.audio.devices.Player: keeps what it was asked to play."""

    played: list["FakePlayer"] = []

    def __init__(self, device=None):
        self.source = None
        self.playing = False
        self.paused = False
        self.position = 0.0
        FakePlayer.played.append(self)

    def play(self, source, start_s=0.0, end_s=None, loop=False):
        self.source, self.range, self.loop, self.playing = source, (start_s, end_s), loop, True

    def stop(self):
        self.playing = False

    def set_loop(self, *args, **kwargs):
        pass


@pytest.fixture
def window(qtbot, monkeypatch):
    FakePlayer.played = []
    monkeypatch.setattr(transport, "Player", FakePlayer)
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.playback.stop()


def clip(value: float, frames: int, rate: int = RATE, channels: int = 1, name: str = "") -> Clip:
    return Clip(np.full((channels, frames), value, np.float32), rate, name=name)


def test_play_plays_all_tracks_mixed_with_their_header_levels(window):
    song = window.add_track(clip(0.5, RATE, channels=2, name="song"))
    vocals = window.add_track(clip(0.25, RATE // 2, rate=RATE // 2, name="song vocals"))
    song.header.gain_box.setValue(-6.0)
    window.toggle_play()
    player = FakePlayer.played[-1]
    assert isinstance(player.source, Mix) and player.source.clips == [song.clip, vocals.clip]
    expected = Mix([song.clip, vocals.clip], [TrackLevel(gain_db=-6.0), TrackLevel()]).render().samples
    np.testing.assert_allclose(player.source.render().samples, expected, rtol=1e-6)
    assert player.source.channels == 2 and player.source.sample_rate == RATE

    vocals.header.solo_button.click()  # while playing: only the vocals are heard from now on
    assert vocals.level == TrackLevel(solo=True)
    np.testing.assert_allclose(player.source.gains, [0.0, 1.0])
    song.header.solo_button.click()
    song.header.mute_button.click()
    np.testing.assert_allclose(player.source.gains, [0.0, 1.0])
    song.header.mute_button.click()
    np.testing.assert_allclose(player.source.gains, [10 ** (-6 / 20), 1.0], rtol=1e-6)


def test_playing_a_selection_of_the_mix_and_a_track_longer_than_the_current_one(window):
    window.add_track(clip(0.1, 2 * RATE, name="long"))
    window.add_track(clip(0.2, RATE, name="short"))  # current, but the mix lasts as long as the longest
    window.track_area.axis.set_cursor(1.5)
    window.toggle_play()
    player = FakePlayer.played[-1]
    assert player.range == (1.5, None) and player.source.duration == pytest.approx(2.0)
    window.stop()
    window.track_area.selection.set(0.25, 0.75)
    window.toggle_play()
    assert FakePlayer.played[-1].range == (0.25, 0.75)


def test_mute_solo_and_gain_are_kept_in_projects_and_count_as_changes(qtbot, window, tmp_path):
    song = window.add_track(clip(0.5, RATE, name="song"))
    vocals = window.add_track(clip(0.25, RATE, name="song vocals"))
    path = tmp_path / "compare.vocalis"
    assert window.save_project(path) and window.unsaved_tracks() == []
    vocals.header.solo_button.click()
    song.header.gain_box.setValue(-12.0)
    assert set(window.unsaved_tracks()) == {song, vocals} and "•" in window.windowTitle()
    assert window.save_project(path)

    other = MainWindow()
    qtbot.addWidget(other)
    other.open_project(path)
    qtbot.waitUntil(lambda: len(other.tracks()) == 2, timeout=10000)
    assert [track.level for track in other.tracks()] == [TrackLevel(gain_db=-12.0), TrackLevel(solo=True)]
    assert other.unsaved_tracks() == []
