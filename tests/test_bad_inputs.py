"""The bad-input corpus (tests/data/bad, made by make_corpus.py): every broken file gives a typed error that
names the file and the problem, unusual-but-valid files load, and an unwritable output folder is an
OutputError. Nothing may crash or leave partial files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from engine.audio import dsp, io
from engine.audio.clip import Clip
from engine.errors import BadInputError, OutputError
from tests.conftest import DATA, REPO, require_tools
from tests.synth import dominant_frequency

BAD = DATA / "bad"

# Damage that only decoding the samples can reveal; io.info reads the (intact) header alone.
FOUND_WHEN_DECODING = {"nan_samples.wav", "truncated.flac"}

BROKEN = {
    "empty.wav": "is empty (0 bytes)",
    "zero_length.wav": "contains no audio (0 frames)",
    "truncated.wav": "is truncated: the header promises 16000 bytes of audio, the file holds 7978",
    "truncated.flac": "is damaged: decoding failed",
    "text_renamed.wav": "is not audio: it is a text file named .wav",
    "nan_samples.wav": "contains NaN or infinite samples (first at 0.050 s, frame 800)",
    "missing.wav": "does not exist",
}


@pytest.mark.parametrize("name, problem", sorted(BROKEN.items()))
def test_broken_files_give_a_clear_error_naming_the_file(name, problem):
    for read in (io.load, io.info, lambda path: list(io.blocks(path))):
        if name in FOUND_WHEN_DECODING and read is io.info:
            continue
        with pytest.raises(BadInputError) as caught:
            read(BAD / name)
        assert caught.value.path == BAD / name
        assert str(caught.value) == f"{BAD / name}: {caught.value.problem}"
        assert problem in caught.value.problem


@pytest.mark.parametrize("suffix, problem", [(".wav", "is truncated"), (".aiff", "is truncated"),
                                             (".au", "is truncated"), (".caf", "is damaged")])
def test_files_cut_in_half_are_refused_in_every_container(tmp_path, suffix, problem):
    whole = tmp_path / f"whole{suffix}"
    with sf.SoundFile(whole, "w", 16_000, 1, subtype="PCM_16") as handle:
        handle.write(np.full(16_000, 0.25, np.float32))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert io.load(whole).frames == 16_000
    with pytest.raises(BadInputError, match=problem) as caught:
        io.load(cut)
    assert caught.value.path == cut


def test_a_folder_is_not_an_audio_file():
    with pytest.raises(BadInputError, match="is a folder"):
        io.load(BAD)


def test_eight_channels_load_and_keep_their_channels():
    clip = io.load(BAD / "eight_channels.wav")
    assert (clip.channels, clip.frames, clip.sample_rate) == (8, 800, 16_000)
    for k, channel in enumerate(clip.samples):
        assert abs(dominant_frequency(channel, 16_000) - 200 * (k + 1)) < 10


def test_384_khz_loads_and_resamples():
    clip = io.load(BAD / "rate_384k.wav")
    assert (clip.sample_rate, clip.frames) == (384_000, 38_400)
    down = dsp.resample(clip, 44_100)
    assert down.frames == 4410
    assert abs(dominant_frequency(down.samples[0], 44_100) - 1000) < 5


def test_non_ascii_file_names_load_and_save(tmp_path):
    source = BAD / "chanson_été_日本.wav"
    clip = io.load(source)
    assert clip.name == "chanson_été_日本" and clip.frames == 3200
    copy = io.save(clip, tmp_path / "копия_été.flac")
    np.testing.assert_allclose(io.load(copy).samples, clip.samples, atol=1 / 32768)


def test_the_corpus_is_never_modified():
    before = {path.name: path.read_bytes() for path in BAD.iterdir()}
    for name in before:
        try:
            io.load(BAD / name)
        except BadInputError:
            pass
    assert {path.name: path.read_bytes() for path in BAD.iterdir()} == before


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder nobody may create files in. Root ignores permission bits, so as root the folder is one
    under /sys, which refuses new files to everyone."""
    if os.geteuid() == 0:
        yield "/sys/vocalis-output"
        return
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_unwritable_output_folder_is_an_output_error(unwritable_folder):
    clip = Clip(np.zeros((1, 100), np.float32), 8000)
    target = os.path.join(unwritable_folder, "out.wav")
    with pytest.raises(OutputError) as caught:
        io.save(clip, target)
    assert str(caught.value).startswith(f"cannot write {target}: ")
    assert not os.path.exists(target)


def test_vocalis_info_reports_each_file_and_exits_1():
    names = ["eight_channels.wav", "empty.wav", "nan_samples.wav", "rate_384k.wav", "chanson_été_日本.wav"]
    result = subprocess.run([sys.executable, "-m", "engine", "info", *(str(BAD / name) for name in names)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [entry["path"] for entry in entries] == [str(BAD / name) for name in names]
    assert entries[0]["channels"] == 8 and entries[0]["frames"] == 800
    assert entries[1]["error"] == f"{BAD / 'empty.wav'}: is empty (0 bytes)"
    assert "NaN or infinite" in entries[2]["error"]
    assert entries[3]["sample_rate"] == 384_000
    assert entries[4]["peak_dbfs"] == pytest.approx(-6.021, abs=0.01)
    assert f"{BAD / 'empty.wav'}: is empty" in result.stderr and "nan_samples.wav" in result.stderr


def test_corpus_stays_small():
    assert sum(path.stat().st_size for path in BAD.iterdir()) < 300_000


def test_fallback_decoder_also_refuses_binary_junk(tmp_path):
    require_tools("ffprobe")  # checks the ffmpeg fallback's refusal
    junk = tmp_path / "junk.wav"
    junk.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(BadInputError, match="is not audio: no decoder recognises its contents .*ffmpeg finds "
                                            "no audio stream"):
        io.info(junk)


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".m4a"])
def test_a_text_file_renamed_as_audio_is_called_text_not_a_missing_file(tmp_path, suffix):
    """libsndfile's mp3 reader answers "File does not exist or is not a regular file (possibly a pipe?)"
    for text; the user must read that the file is not audio."""
    renamed = tmp_path / f"notes{suffix}"
    shutil.copy(BAD / "text_renamed.wav", renamed)
    for read in (io.info, io.load):
        with pytest.raises(BadInputError) as caught:
            read(renamed)
        assert caught.value.problem == f"is not audio: it is a text file named {suffix}"
        assert "does not exist" not in str(caught.value)
