"""StableVC separates style from timbre, measured on a tiny model trained for real.

A corpus of espeak-ng speech in four voices (timbre) × three SSML pitch ranges, flat to wide (style) × a
few sentences trains the tiny configuration with the recipe itself (random WavLM content features, the
real CAM++ speaker embedding, Griffin-Lim in place of a neural vocoder). One source is then converted with
(timbre A, style B), (timbre A', style B) and (timbre A, style B'), where A and A' are other voices and B
and B' the same voice with a wide and a flat pitch range. Swapping the style reference must move the
output's pitch contour (librosa pyin, log-f0 relative to its median, so the register that belongs to the
timbre does not count) more than swapping the timbre reference does, and swapping the timbre reference
must move the output's CAM++ embedding more than swapping the style reference does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio.clip import Clip
from engine.models.cache import model_cache
from engine.models.campplus import cosine_similarity
from engine.models.stablevc import TINY, train
from engine.models.stablevc.convert import GRIFFIN_LIM, convert, load_run_models
from tests.conftest import require_tools
from tests.test_campplus import campplus_weights  # noqa: F401  (the session fixture: the real CAM++ weights)
from tests.test_stablevc_train import save_tiny_wavlm

VOICES = ("en-us+m1", "en-us+f2", "en-us+m4", "en-us+f4")
RANGES = ("x-low", "medium", "x-high")
SENTENCES = ("The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
             "Rice is often served in round bowls.", "The juice of lemons makes fine punch.")
TRAINING_STEPS = 2000


def say(path: Path, text: str, voice: str, pitch_range: str) -> None:
    ssml = f'<speak><prosody range="{pitch_range}">{text}</prosody></speak>'
    subprocess.run(["espeak-ng", "-m", "-v", voice, "-w", str(path), ssml], check=True, capture_output=True)


def relative_contour(wave: np.ndarray, rate: int) -> np.ndarray:
    """Per frame log-f0 minus the clip's median voiced log-f0 (NaN where pyin hears no voice)."""
    import librosa

    f0, voiced, _ = librosa.pyin(wave, fmin=60, fmax=800, sr=rate, frame_length=1024, hop_length=256)
    log_f0 = np.where(voiced & np.isfinite(f0), np.log(np.where(np.isfinite(f0), f0, 1.0)), np.nan)
    return log_f0 - np.nanmedian(log_f0)


def contour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two relative contours over the frames voiced in both."""
    both = np.isfinite(a) & np.isfinite(b)
    assert both.sum() >= 20, f"only {both.sum()} frames voiced in both outputs"
    return float(np.mean(np.abs(a[both] - b[both])))


@pytest.mark.slow
def test_style_swap_moves_the_contour_and_timbre_swap_moves_the_speaker(tmp_path, campplus_weights):  # noqa: F811
    require_tools("espeak-ng")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains little from more threads on a shared machine
    try:
        measure_separation(tmp_path, campplus_weights)
    finally:
        torch.set_num_threads(threads)
        model_cache.clear()


def measure_separation(tmp_path: Path, campplus_weights: Path) -> None:  # noqa: F811
    data = tmp_path / "data"
    data.mkdir()
    for voice in VOICES:
        for pitch_range in RANGES:
            for index, text in enumerate(SENTENCES):
                say(data / f"{voice}_{pitch_range}_{index}.wav", text, voice, pitch_range)
    config = TINY.with_changes(content_encoder=str(save_tiny_wavlm(tmp_path / "wavlm")),
                               speaker_encoder=str(campplus_weights), vocoder=GRIFFIN_LIM)
    run = train.train(data, tmp_path / "run", config, max_steps=TRAINING_STEPS, report=lambda line: None)
    models = load_run_models(str(run))

    def clip(name: str) -> Clip:
        wave, rate = sf.read(data / f"{name}.wav", dtype="float32")
        return Clip(wave[None], rate, name=name)

    source = clip("en-us+m4_medium_2")
    timbre, other_timbre = clip("en-us+m1_medium_0"), clip("en-us+f2_medium_0")
    style, other_style = clip("en-us+m4_x-high_3"), clip("en-us+m4_x-low_3")
    outputs = {name: convert(source, t, s, models, steps=10, rhythm="source", seed=0).samples[0]
               for name, (t, s) in {"base": (timbre, style), "timbre swapped": (other_timbre, style),
                                    "style swapped": (timbre, other_style)}.items()}
    contours = {name: relative_contour(wave, source.sample_rate) for name, wave in outputs.items()}
    embeddings = {name: models.speaker.embed_waveform(wave, source.sample_rate).reshape(-1)
                  for name, wave in outputs.items()}
    contour_after_style_swap = contour_distance(contours["base"], contours["style swapped"])
    contour_after_timbre_swap = contour_distance(contours["base"], contours["timbre swapped"])
    speaker_after_style_swap = float(cosine_similarity(embeddings["base"], embeddings["style swapped"]))
    speaker_after_timbre_swap = float(cosine_similarity(embeddings["base"], embeddings["timbre swapped"]))
    print(f"contour distance: style swapped {contour_after_style_swap:.4f}, timbre swapped "
          f"{contour_after_timbre_swap:.4f}; CAM++ similarity: style swapped {speaker_after_style_swap:.4f}, "
          f"timbre swapped {speaker_after_timbre_swap:.4f}")
    assert contour_after_style_swap > contour_after_timbre_swap
    assert speaker_after_timbre_swap < speaker_after_style_swap
