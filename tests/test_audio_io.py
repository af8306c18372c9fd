"""engine.audio.io: round trips per format, partial and block reads, the ffmpeg fallback, output errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from engine.audio import io
from engine.audio.clip import Clip
from engine.errors import BadInputError, Cancelled, OutputError
from engine.fileio import TEMP_MARK
from engine.jobs import CancelToken
from tests.conftest import REPO, require_tools
from tests.synth import dominant_frequency, tone


def _noise_clip(channels: int = 2, frames: int = 48_000, rate: int = 48_000, amplitude: float = 0.8) -> Clip:
    rng = np.random.default_rng(7)
    return Clip(rng.uniform(-amplitude, amplitude, (channels, frames)).astype(np.float32), rate)


def test_float_wav_round_trip_is_bit_exact(tmp_path):
    clip = _noise_clip()
    path = io.save(clip, tmp_path / "float.wav", subtype="FLOAT")
    loaded = io.load(path)
    assert loaded.sample_rate == 48_000 and loaded.samples.dtype == np.float32
    np.testing.assert_array_equal(loaded.samples, clip.samples)
    assert loaded.source == path and loaded.name == "float"


@pytest.mark.parametrize("subtype, bits", [("PCM_16", 16), ("PCM_24", 24)])
def test_pcm_wav_round_trip_within_quantisation(tmp_path, subtype, bits):
    clip = _noise_clip()
    loaded = io.load(io.save(clip, tmp_path / f"{bits}.wav", subtype=subtype))
    error = np.abs(loaded.samples - clip.samples).max()
    assert 0 < error <= 1.0 / 2 ** (bits - 1)
    assert io.info(tmp_path / f"{bits}.wav").subtype == subtype


@pytest.mark.parametrize("subtype, bits", [("PCM_16", 16), ("PCM_24", 24)])
def test_flac_is_lossless_for_samples_on_its_grid(tmp_path, subtype, bits):
    """Samples that are exact multiples of the PCM step come back bit for bit."""
    rng = np.random.default_rng(3)
    steps = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (2, 40_000))
    clip = Clip((steps / 2.0 ** (bits - 1)).astype(np.float32), 44_100)
    loaded = io.load(io.save(clip, tmp_path / "exact.flac", subtype=subtype))
    np.testing.assert_array_equal(loaded.samples, clip.samples)


@pytest.mark.parametrize("suffix", [".mp3", ".ogg"])
def test_lossy_formats_keep_duration_and_pitch(tmp_path, suffix):
    rate = 44_100
    clip = Clip(np.stack([tone(440, 2.0, rate), tone(660, 2.0, rate)]), rate)
    loaded = io.load(io.save(clip, tmp_path / f"tones{suffix}"))
    assert loaded.channels == 2 and loaded.sample_rate == rate
    assert abs(loaded.duration - 2.0) < 0.06
    assert abs(dominant_frequency(loaded.samples[0], rate) - 440) < 2
    assert abs(dominant_frequency(loaded.samples[1], rate) - 660) < 2


def test_aiff_round_trip(tmp_path):
    clip = _noise_clip(channels=1)
    loaded = io.load(io.save(clip, tmp_path / "mono.aiff", subtype="PCM_24"))
    np.testing.assert_allclose(loaded.samples, clip.samples, atol=2.0 ** -23)


def test_pcm_export_clips_instead_of_wrapping(tmp_path):
    clip = Clip(np.array([[0.5, 1.7, -2.5, 0.25]], dtype=np.float32), 8000)
    loaded = io.load(io.save(clip, tmp_path / "loud.wav", subtype="PCM_16"))
    np.testing.assert_allclose(loaded.samples[0], [0.5, 1.0, -1.0, 0.25], atol=1 / 32768)


def test_info_reads_the_header(tmp_path):
    io.save(_noise_clip(channels=3, frames=12_345, rate=22_050), tmp_path / "three.flac")
    description = io.info(tmp_path / "three.flac")
    assert (description.frames, description.sample_rate, description.channels) == (12_345, 22_050, 3)
    assert description.format == "FLAC" and description.decoder == "soundfile"
    assert description.duration == pytest.approx(12_345 / 22_050)


def test_partial_load_and_stream_reads_match_the_full_load(tmp_path):
    clip = _noise_clip(frames=200_003)
    path = io.save(clip, tmp_path / "long.wav", subtype="FLOAT")
    part = io.load(path, start=70_001, frames=65_537)
    np.testing.assert_array_equal(part.samples, clip.samples[:, 70_001:135_538])
    with io.open_stream(path) as stream:
        np.testing.assert_array_equal(stream.read(199_990, 250_000), clip.samples[:, 199_990:])
        np.testing.assert_array_equal(stream.read(5, 9), clip.samples[:, 5:9])
    pieces = list(io.blocks(path, 30_000, start=10, stop=100_010))
    assert [piece.shape[1] for piece in pieces] == [30_000, 30_000, 30_000, 10_000]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), clip.samples[:, 10:100_010])


def test_load_reports_progress_and_leaves_the_input_untouched(tmp_path):
    path = io.save(_noise_clip(frames=300_000), tmp_path / "in.wav")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    fractions = []
    io.load(path, progress=lambda fraction, message: fractions.append(fraction))
    assert fractions[-1] == 1.0 and fractions == sorted(fractions) and len(fractions) == 5
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_cancelled_load_stops_with_cancelled(tmp_path):
    path = io.save(_noise_clip(frames=300_000), tmp_path / "in.wav")
    token = CancelToken()
    seen = []

    def cancel_after_first_block(fraction, message):
        seen.append(fraction)
        token.cancel()

    with pytest.raises(Cancelled):
        io.load(path, progress=cancel_after_first_block, cancel=token)
    assert len(seen) == 1


def test_formats_outside_libsndfile_decode_through_ffmpeg(tmp_path):
    require_tools("ffmpeg")  # the m4a fallback decodes through ffmpeg
    rate = 48_000
    source = io.save(Clip(np.stack([tone(500, 1.5, rate), tone(750, 1.5, rate)]), rate), tmp_path / "src.wav")
    m4a = tmp_path / "tones.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "aac", str(m4a)], check=True)
    description = io.info(m4a)
    assert description.decoder == "ffmpeg" and description.subtype == "AAC" and description.channels == 2
    loaded = io.load(m4a)
    assert abs(loaded.duration - 1.5) < 0.05
    assert abs(dominant_frequency(loaded.samples[0], rate) - 500) < 2
    assert abs(dominant_frequency(loaded.samples[1], rate) - 750) < 2


def test_vbr_mp3_without_a_length_tag_loads_all_its_audio(tmp_path):
    """libsndfile guesses such a file's length from its first frames' bitrate; the load must neither
    call it truncated nor pad it, but read what the decoder delivers."""
    require_tools("ffmpeg")  # ffmpeg writes the mp3 without a length tag
    rate = 44_100
    source = io.save(Clip(tone(440, 3.0, rate) * np.linspace(0, 1, 3 * rate, dtype=np.float32), rate),
                     tmp_path / "src.wav")
    mp3 = tmp_path / "untagged.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "libmp3lame", "-q:a", "4",
                    "-write_xing", "0", str(mp3)], check=True)
    loaded = io.load(mp3)
    assert abs(loaded.duration - 3.0) < 0.06
    assert abs(dominant_frequency(loaded.samples[0], rate) - 440) < 2
    assert np.abs(loaded.samples[0, -8820:]).max() > 0.45  # the loud end (amplitude 0.5) is there


def test_save_is_atomic_and_rejects_formats_it_cannot_write(tmp_path):
    clip = _noise_clip(channels=8, frames=1000)
    with pytest.raises(OutputError, match="mp3 holds 1 or 2 channels"):
        io.save(clip, tmp_path / "eight.mp3")
    with pytest.raises(OutputError, match=r"unknown audio format '\.xyz'"):
        io.save(clip, tmp_path / "eight.xyz")
    with pytest.raises(OutputError, match="cannot hold PCM_8"):
        io.save(clip, tmp_path / "eight.flac", subtype="PCM_8")
    with pytest.raises(OutputError, match="MP3 cannot store this clip"):
        io.save(Clip(clip.samples[:2], 96_000), tmp_path / "fast.mp3")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    io.save(clip, tmp_path / "eight.wav")
    assert [p.name for p in tmp_path.iterdir()] == ["eight.wav"]
    assert not any(TEMP_MARK in p.name for p in tmp_path.iterdir())


@pytest.mark.slow
def test_loading_a_long_file_needs_at_most_about_its_decoded_size(tmp_path):
    """Ten minutes of stereo 44.1 kHz (212 MB as float32), loaded in a fresh process: the peak resident
    memory may grow by less than 2.2x the decoded size (soundfile's float64 read would need 3x)."""
    rate, seconds, channels = 44_100, 600, 2
    path = tmp_path / "ten_minutes.wav"
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as handle:
        block = np.stack([tone(440, 10.0, rate), tone(220, 10.0, rate)], axis=1)
        for _ in range(seconds // 10):
            handle.write(block)
    decoded = rate * seconds * channels * 4
    script = textwrap.dedent(f"""
        import sys
        from engine.audio import io
        def rss_kib(field):
            for line in open("/proc/self/status"):
                if line.startswith(field):
                    return int(line.split()[1])
        with open("/proc/self/clear_refs", "w") as reset:  # restart the peak (VmHWM) from now
            reset.write("5")
        before = rss_kib("VmRSS:")
        clip = io.load(sys.argv[1])
        assert clip.frames == {rate * seconds}
        print(rss_kib("VmHWM:") - before)
    """)
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                            cwd=REPO, check=True)
    growth = int(result.stdout.strip()) * 1024
    assert growth < 2.2 * decoded, f"peak memory grew {growth / decoded:.2f}x the decoded size"
    assert growth >= 0.9 * decoded


def test_non_ascii_names_round_trip(tmp_path):
    clip = _noise_clip(channels=1, frames=1000)
    path = io.save(clip, tmp_path / "Überspielung_声音.flac")
    assert io.load(path).name == "Überspielung_声音"


def test_reads_outside_the_file_are_rejected(tmp_path):
    path = io.save(_noise_clip(frames=1000), tmp_path / "short.wav")
    with pytest.raises(BadInputError, match="outside the file's 1000 frames"):
        io.load(path, start=1000)
