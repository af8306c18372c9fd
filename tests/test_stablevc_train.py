"""StableVC's recipe and conversion for real on espeak-ng speech with a tiny random WavLM (saved in the
Hugging Face format), a random CAM++ and the reduced golden BigVGAN: the CFM loss falls, a seeded run
repeats, an interrupted run resumes bit for bit, and ``vocalis train`` / ``vocalis vc --model RUN_DIR``
work as subprocesses."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio.clip import Clip
from engine.models.campplus import CAMPPlus
from engine.models.stablevc import TINY, train
from engine.models.stablevc.run import WEIGHTS_NAME, is_run
from tests.conftest import GOLDEN
from tests.synth import speak
from tests.test_vc import require_espeak

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [("The birch canoe slid on the smooth planks.", "en-us", 30),
             ("Glue the sheet to the dark blue background.", "en-us+f3", 75),
             ("It is easy to tell the depth of a well.", "en-us+m3", 50),
             ("These days a chicken leg is a rare dish.", "en-us+f2", 60)]
STEPS = 30


def save_tiny_wavlm(folder: Path) -> Path:
    from transformers import WavLMConfig, WavLMModel

    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         num_buckets=16, max_bucket_distance=100)
    WavLMModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """Speech files, the encoders and vocoder, and a tiny config naming them."""
    require_espeak()
    root = tmp_path_factory.mktemp("stablevc")
    data = root / "data" / "speaker"
    data.mkdir(parents=True)
    for index, (text, voice, pitch) in enumerate(SENTENCES):
        sf.write(data / f"{index}.wav", speak(text, voice, 22050, pitch=pitch), 22050)
    (root / "data" / "notes.txt").write_text("not audio")
    torch.manual_seed(0)
    torch.save(CAMPPlus().state_dict(), root / "campplus.pt")
    vocoder = root / "bigvgan"
    vocoder.mkdir()
    shutil.copy(GOLDEN / "bigvgan" / "tiny_0_generator.pt", vocoder / "bigvgan_generator.pt")
    shutil.copy(GOLDEN / "bigvgan" / "config_0.json", vocoder / "config.json")
    config = TINY.with_changes(content_encoder=str(save_tiny_wavlm(root / "wavlm")),
                               speaker_encoder=str(root / "campplus.pt"), vocoder=str(vocoder), log_every=1)
    config.save(root / "tiny.json")
    return {"root": root, "data": root / "data", "config": root / "tiny.json", "speech": data}


@pytest.fixture(scope="module")
def straight(setup, tmp_path_factory) -> Path:
    """A run trained for STEPS steps in one go."""
    return train.train(setup["data"], tmp_path_factory.mktemp("straight") / "run", setup["config"], max_steps=STEPS,
                       report=lambda line: None)


def with_cached_features(straight: Path, run: Path) -> Path:
    """A new run folder holding the straight run's feature cache and units (what a resumed recipe reuses)."""
    shutil.copytree(straight / train.FEATURES_DIR, run / train.FEATURES_DIR)
    shutil.copy(straight / train.KMEANS_NAME, run / train.KMEANS_NAME)
    return run


def losses(run: Path, column: str = "flow_loss") -> list[float]:
    with open(run / "log.csv", newline="") as file:
        return [float(row[column]) for row in csv.DictReader(file)]


def test_training_lowers_the_loss_repeats_with_a_seed_and_resumes_exactly(setup, straight, tmp_path):
    quiet = lambda line: None  # noqa: E731
    flow_losses = losses(straight)
    assert len(flow_losses) == STEPS
    assert np.mean(flow_losses[-5:]) < 0.8 * np.mean(flow_losses[:5])
    assert losses(straight, "duration_loss")[-1] < losses(straight, "duration_loss")[0]
    assert is_run(straight) and (straight / "kmeans.safetensors").is_file()
    assert len(list((straight / "features").glob("*.safetensors"))) == len(SENTENCES)
    assert (straight / "log.csv").is_file() and (straight / "state.pt").is_file()

    # Interrupted at half way, then resumed: the same log and the same weights as the straight run (so a
    # seeded run repeats, and the cached features give what freshly computed ones gave).
    halted = train.train(setup["data"], with_cached_features(straight, tmp_path / "b"), setup["config"],
                         max_steps=STEPS // 2, report=quiet)
    with pytest.raises(Exception, match="--resume"):
        train.train(setup["data"], halted, setup["config"], max_steps=STEPS, report=quiet)
    messages = []
    train.train(setup["data"], halted, max_steps=STEPS, resume=True, report=messages.append)
    assert not any(message.startswith("features") for message in messages)  # the cache was reused
    assert any("notes.txt" in message and message.startswith("skipped") for message in messages)
    assert losses(halted) == flow_losses
    from safetensors.torch import load_file

    first, second = load_file(str(straight / WEIGHTS_NAME)), load_file(str(halted / WEIGHTS_NAME))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOCALIS_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_vocalis_train_and_vc_with_the_run_for_real(setup, straight, tmp_path):
    run = with_cached_features(straight, tmp_path / "run")
    trained = run_cli("train", "stablevc", str(setup["data"]), "--out", str(run), "--config", str(setup["config"]),
                      "--max-steps", "6", "--device", "cpu", home=tmp_path / "home")
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.strip() == str(run) and is_run(run)
    assert "step 6/6" in trained.stderr
    again = run_cli("train", "stablevc", str(setup["data"]), "--out", str(run), "--max-steps", "6",
                    home=tmp_path / "home")
    assert again.returncode == 1 and "--resume" in again.stderr

    speech = setup["speech"]
    out = tmp_path / "out"
    converted = run_cli("vc", str(speech / "0.wav"), "--timbre", str(speech / "1.wav"), "--style", str(speech / "2.wav"),
                        "--model", str(run), "--out", str(out), "--steps", "2", "--device", "cpu", "--json",
                        home=tmp_path / "home")
    assert converted.returncode == 0, converted.stderr
    document = json.loads(converted.stdout)
    assert document["counts"] == {"ok": 1, "failed": 0}
    audio, rate = sf.read(out / "0_vc.wav")
    assert rate == 22050 and audio.ndim == 1 and len(audio) > 22050 // 2 and np.isfinite(audio).all()
    report = json.loads((out / "0_vc.json").read_text())
    assert report["style"] == str(speech / "2.wav") and report["model"] == str(run)
    assert set(report["similarity"]) == {"output_to_timbre", "source_to_timbre"}


def test_convert_voice_with_a_run_follows_the_style_reference_rhythm(setup, straight, monkeypatch):
    from engine.models.cache import model_cache
    from engine.models.stablevc import convert as stablevc_convert
    from engine.tasks import vc

    run = straight
    speech = {name: sf.read(setup["speech"] / f"{name}.wav", dtype="float32")[0] for name in ("0", "1", "2")}
    clip = {name: Clip(wave[None], 22050, name=name) for name, wave in speech.items()}
    settings = vc.VCSettings(model=str(run), steps=2, device="cpu")
    models = vc.run_models(settings)
    assert vc.run_models(settings) is models  # cached: a batch loads the run once
    first = vc.convert_with_run(clip["0"], clip["1"], clip["2"], settings, vc.null_progress(), vc.CancelToken(),
                                models=models)
    again = vc.convert_voice(clip["0"], clip["1"], settings, style=clip["2"])
    np.testing.assert_array_equal(first.samples, again.samples)
    assert first.sample_rate == 22050 and first.channels == 1
    # The duration predictor reads the style reference's speaking rate: twice the length ratio, twice the frames.
    longer = vc.convert_with_run(clip["0"], clip["1"], clip["2"], vc.VCSettings(model=str(run), steps=2, device="cpu",
                                                                                length=2.0),
                                 vc.null_progress(), vc.CancelToken(), models=models)
    assert longer.frames == pytest.approx(2 * first.frames, rel=0.05)
    # With the source's rhythm the output is as long as the source (to a mel frame and the resampling).
    from engine.models.stablevc.convert import convert

    kept = convert(clip["0"], clip["1"], clip["2"], models, steps=1, rhythm="source", method="midpoint", sway=-1.0)
    assert abs(kept.frames - clip["0"].frames) <= 2 * 256
    # Long outputs run in overlapping windows (here of 0.6 s), each attending to its part of the style contour.
    monkeypatch.setattr(stablevc_convert, "WINDOW_SECONDS", 0.6)
    windows = []
    sample = models.model.sample
    monkeypatch.setattr(models.model, "sample", lambda units, *a, **k: windows.append(units.shape[1]) or
                        sample(units, *a, **k))
    chunked = convert(clip["0"], clip["1"], clip["2"], models, steps=1, rhythm="source")
    assert len(windows) > 3 and max(windows) == int(0.6 * 22050 / 256)
    assert chunked.frames == kept.frames and np.isfinite(chunked.samples).all()
    from engine.errors import BadInputError

    with pytest.raises(BadInputError, match="style reference is 0.10 s long"):
        convert(clip["0"], clip["1"], Clip(clip["2"].samples[:, :2205], 22050), models, steps=1)
    with pytest.raises(ValueError, match="rhythm must be one of"):
        convert(clip["0"], clip["1"], clip["2"], models, steps=1, rhythm="free")
    model_cache.clear()
