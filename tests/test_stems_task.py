"""The ``stems`` task: a small randomly initialised Hybrid Demucs saved in torchaudio's official layout
(a plain state dict, sources drums/bass/other/vocals) drives the task, the CLI and batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torchaudio.models import HDemucs

from engine.audio.clip import Clip
from engine.cli import main as cli_main
from engine.errors import BadInputError, Cancelled
from engine.jobs import CancelToken
from engine.models.hdemucs import SOURCES, separate_sources
from engine.tasks.stems import StemsSettings, separate_stems
from tests.synth import tone

RATE = 22050


def save_small_hdemucs(folder) -> tuple[HDemucs, object]:
    """HDemucs with hdemucs_high's layout at 4 channels instead of 48 (same tensor names, tiny shapes),
    saved as torchaudio's file is: a plain ``torch.save`` of the state dict."""
    torch.manual_seed(0)
    reference = HDemucs(sources=list(SOURCES), nfft=4096, depth=6, channels=4).eval()
    path = folder / "hdemucs_high_trained.pt"
    torch.save(reference.state_dict(), path)
    return reference, path


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory):
    return save_small_hdemucs(tmp_path_factory.mktemp("ckpt"))


def settings(checkpoint, **overrides) -> StemsSettings:
    return StemsSettings(**{"checkpoint": str(checkpoint), "device": "cpu", "segment": 1.0, "overlap": 0.1,
                            **overrides})


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    left = tone(220.0, 1.5, RATE, amplitude=0.3) + tone(1760.0, 1.5, RATE, amplitude=0.1)
    return np.stack((left, 0.8 * left)).astype(np.float32)


def test_four_stems_are_the_models_sources_at_the_input_format(small_checkpoint, song):
    reference, path = small_checkpoint
    clip = Clip(song, RATE, name="song")
    stems = separate_stems(clip, settings(path))
    assert [s.name for s in stems] == ["song vocals", "song drums", "song bass", "song other"]
    expected = separate_sources(clip, reference, segment_s=1.0, overlap_s=0.1)
    for stem in stems:
        assert stem.sample_rate == RATE and stem.samples.shape == song.shape
        np.testing.assert_allclose(stem.samples, expected[stem.name.split()[-1]].samples, atol=1e-5)


def test_accompaniment_is_the_sum_of_everything_but_the_vocals(small_checkpoint, song):
    _, path = small_checkpoint
    clip = Clip(song[:1], RATE, name="mono")
    four = separate_stems(clip, settings(path))
    vocals, accompaniment = separate_stems(clip, settings(path, stems="2"))
    assert vocals.name == "mono vocals" and accompaniment.name == "mono accompaniment"
    np.testing.assert_allclose(vocals.samples, four[0].samples, atol=1e-6)
    np.testing.assert_allclose(accompaniment.samples, sum(s.samples for s in four[1:]), atol=1e-5)
    assert accompaniment.samples.shape == (1, song.shape[1])


def test_cancel_and_bad_settings(small_checkpoint, song):
    _, path = small_checkpoint
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        separate_stems(Clip(song, RATE), settings(path), cancel=token)
    with pytest.raises(BadInputError, match="overlap"):
        settings(path, segment=1.0, overlap=1.0)
    with pytest.raises(BadInputError, match="not found"):
        separate_stems(Clip(song, RATE), settings(path.with_name("absent.pt")))


def test_cli_writes_one_file_per_stem(small_checkpoint, song, tmp_path, capsys):
    _, path = small_checkpoint
    source = tmp_path / "track.flac"
    sf.write(source, song.T, RATE)
    before = source.read_bytes()
    code = cli_main(["stems", str(source), "--out", str(tmp_path / "out"), "--checkpoint", str(path),
                     "--segment", "1", "--overlap", "0.1", "--device", "cpu", "--stems", "2",
                     "--format", "flac", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    outputs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outputs] == ["track_accompaniment.flac", "track_vocals.flac"]
    assert sorted(report["files"][0]["outputs"]) == [str(p) for p in outputs]
    for output in outputs:
        info = sf.info(output)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (RATE, 2, song.shape[1], "PCM_24")
    assert source.read_bytes() == before


def test_batch_splits_a_folder_and_goes_on_after_a_bad_file(small_checkpoint, song, tmp_path):
    _, path = small_checkpoint
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "a.wav", song.T, RATE)
    (folder / "b.wav").write_text("not audio")
    code = cli_main(["batch", "stems", str(folder), str(tmp_path / "out"), "--checkpoint", str(path),
                     "--segment", "1", "--overlap", "0.1", "--device", "cpu"])
    assert code == 1  # one input failed
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.wav"))
    assert written == ["a_bass.wav", "a_drums.wav", "a_other.wav", "a_vocals.wav"]
    data, rate = sf.read(tmp_path / "out" / "a_vocals.wav", always_2d=True)
    assert rate == RATE and data.shape == song.T.shape and sf.info(tmp_path / "out" / "a_vocals.wav").subtype == "FLOAT"


def test_the_installed_model_comes_from_the_store_and_a_missing_one_says_how_to_get_it(small_checkpoint, song,
                                                                                         tmp_path, monkeypatch):
    from engine.errors import MissingModelError
    from engine.models.install.importer import import_path
    from engine.models.store import default_store

    reference, path = small_checkpoint
    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path / "empty"))
    clip = Clip(song, RATE, name="song")
    with pytest.raises(MissingModelError, match="hdemucs-high"):
        separate_stems(clip, StemsSettings(device="cpu", segment=1.0, overlap=0.1))

    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path / "store"))
    import_path(default_store(), "hdemucs-high", path, link=True)
    vocals, accompaniment = separate_stems(clip, StemsSettings(stems="2", device="cpu", segment=1.0, overlap=0.1))
    expected = separate_sources(clip, reference, segment_s=1.0, overlap_s=0.1)
    np.testing.assert_allclose(vocals.samples, expected["vocals"].samples, atol=1e-5)
    np.testing.assert_allclose(accompaniment.samples, expected["drums"].samples + expected["bass"].samples
                               + expected["other"].samples, atol=1e-5)
