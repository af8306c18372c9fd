"""The ``separate`` task end to end: clip and file front ends, ClearerVoice-equivalent pre/post-processing,
channels, rates, CLI and batch, errors, and memory bounded by the window rather than the file length."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio.clip import Clip
from engine.cli import main as cli_main
from engine.errors import BadInputError
from engine.models.mossformer2 import load_model
from engine.tasks.separate import SeparateSettings, separate_speakers
from tests.conftest import GOLDEN, REPO
from tests.synth import speak

TINY = GOLDEN / "mossformer2" / "tiny_0.safetensors"


def settings(**overrides) -> SeparateSettings:
    values = dict(checkpoint=str(TINY), device="cpu", window=2.0, overlap=0.5)
    values.update(overrides)
    return SeparateSettings(**values)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return np.concatenate((speak("Hello there, how are you today?", "en+m3"),
                           speak("I am fine, thank you very much.", "en-us+f3", pitch=70)))


def test_single_window_matches_clearervoice_processing(speech):
    """A clip no longer than the window is one model pass with ClearerVoice's input normalisation and
    output rescaling; compute that here independently and compare."""
    mixture = speech[:16000 * 2]
    (first, second) = separate_speakers(Clip(mixture, 16000, name="talk"), settings())

    scalar = 10 ** (-25 / 20) / np.sqrt(np.mean(mixture.astype(np.float64) ** 2))
    power = (mixture * scalar).astype(np.float64) ** 2
    normalised = mixture * scalar * (10 ** (-25 / 20) / np.sqrt(power[power > power.mean()].mean()))
    with torch.inference_mode():
        raw = load_model(TINY, num_layers=2)(torch.from_numpy(normalised.astype(np.float32))[None])[0].numpy()
    rms_in = np.sqrt(np.mean(mixture.astype(np.float64) ** 2))
    expected = [track / np.sqrt(np.mean(track.astype(np.float64) ** 2)) * rms_in for track in raw]

    assert first.name == "talk speaker 1" and second.name == "talk speaker 2"
    assert np.abs(first.samples[0] - expected[0]).max() < 1e-4
    assert np.abs(second.samples[0] - expected[1]).max() < 1e-4


def test_any_input_rate_comes_back_at_that_rate_and_length():
    rate = 44100
    voice = speak("Separation at forty four kilohertz.", "en", rate)
    tracks = separate_speakers(Clip(np.stack((voice, 0.5 * voice)), rate, name="hi-fi"), settings(window=1.5))
    assert [(c.samples.shape, c.sample_rate) for c in tracks] == [((1, voice.size), rate)] * 2


def test_stereo_mixed_or_per_channel_keeps_input_levels(speech):
    stereo = np.stack((speech, 0.5 * speech))[:, : 16000 * 3]
    clip = Clip(stereo, 16000, name="stereo")

    mixed = separate_speakers(clip, settings())
    rms_mix = np.sqrt(np.mean(stereo.mean(axis=0) ** 2))
    for track in mixed:  # each speaker rescaled to the RMS of the mono mix
        assert track.samples.shape == (1, stereo.shape[1])
        assert np.sqrt(np.mean(track.samples ** 2)) == pytest.approx(rms_mix, rel=1e-3)

    each = separate_speakers(clip, settings(channels="each"))
    for track in each:  # channels separated independently, each rescaled to its own channel's RMS
        assert track.samples.shape == stereo.shape
        assert np.sqrt(np.mean(track.samples ** 2, axis=1)) == pytest.approx(
            np.sqrt(np.mean(stereo ** 2, axis=1)), rel=1e-3)


def test_cancel_stops_the_task(speech):
    from engine.errors import Cancelled
    from engine.jobs import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        separate_speakers(Clip(speech, 16000), settings(), cancel=token)


def test_overlap_longer_than_window_is_a_clear_error(speech):
    with pytest.raises(BadInputError, match="overlap"):
        separate_speakers(Clip(speech, 16000), settings(window=1.0, overlap=1.0))


def test_cli_writes_one_wav_per_speaker(tmp_path, speech, capsys):
    source = tmp_path / "dialogue.flac"
    sf.write(source, np.stack((speech, speech)).T, 22050)
    before = source.read_bytes()
    code = cli_main(["separate", str(source), "--out", str(tmp_path / "out"), "--checkpoint", str(TINY),
                     "--window", "1.5", "--device", "cpu", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    outputs = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in outputs] == ["dialogue_spk1.wav", "dialogue_spk2.wav"]
    assert report["files"][0]["outputs"] == [str(p) for p in outputs]
    for path in outputs:
        data, rate = sf.read(path, always_2d=True)
        assert rate == 22050 and data.shape == (len(speech), 1) and np.abs(data).max() > 0
    assert source.read_bytes() == before  # input untouched


def test_batch_separates_a_folder(tmp_path, speech):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        sf.write(folder / f"{name}.wav", speech[: 16000 * 3], 16000)
    code = cli_main(["batch", "separate", str(folder), str(tmp_path / "out"), "--checkpoint", str(TINY),
                     "--device", "cpu"])
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.wav"))
    assert written == ["a_spk1.wav", "a_spk2.wav", "b_spk1.wav", "b_spk2.wav"]


def test_unreadable_input_fails_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    code = cli_main(["separate", str(bad), "--out", str(tmp_path / "out"), "--checkpoint", str(TINY),
                     "--device", "cpu", "--json"])
    assert code == 1
    record = json.loads(capsys.readouterr().out)["files"][0]
    assert record["status"] == "failed" and "notes.wav" in record["error"]
    assert not list(tmp_path.rglob("*_spk*.wav"))


def _peak_rss_mb(tmp_path, minutes: float, checkpoint) -> float:
    """Separate a synthetic file of ``minutes`` in a fresh process and return its peak RSS."""
    source = tmp_path / f"long_{minutes}.wav"
    rate = 16000
    with sf.SoundFile(source, "w", samplerate=rate, channels=1, subtype="PCM_16") as handle:
        rng = np.random.default_rng(0)
        for _ in range(int(minutes * 6)):
            t = np.arange(rate * 10) / rate
            handle.write(0.2 * np.sin(2 * np.pi * 220 * t) * (rng.random() + 0.2) + 0.01 * rng.standard_normal(t.size))
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from engine.jobs import CancelToken, null_progress
        from engine.tasks.separate import SeparateSettings, process_file
        settings = SeparateSettings(checkpoint={str(checkpoint)!r}, device="cpu", window=4.0, overlap=0.5)
        process_file(Path({str(source)!r}), Path({str(tmp_path / f"out_{minutes}")!r}), settings,
                     null_progress(), CancelToken())
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_is_bounded_by_the_window_not_the_file(tmp_path):
    """1 min and 10 min of audio through a small model: the peak RSS must not grow with the length.
    Holding the 9 extra minutes of input and two outputs at 16 kHz would take 100 MB more; the allocator's
    run-to-run noise here is about ±30 MB."""
    from safetensors.torch import save_file
    from engine.models.mossformer2 import MossFormer2

    torch.manual_seed(0)
    small = tmp_path / "small.safetensors"
    save_file(MossFormer2(num_layers=1, encoder_dim=64, sequence_dim=64).state_dict(), str(small))
    short = _peak_rss_mb(tmp_path, 1, small)
    long = _peak_rss_mb(tmp_path, 10, small)
    assert long - short < 60, f"peak RSS grew from {short:.0f} MB to {long:.0f} MB"
