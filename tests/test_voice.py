"""Learning a voice (initial-state tuning) with the tiny golden models: the loss goes down, a loadable voice
file and its sidecar land in the voices folder, a cancelled run resumes to the same voice, voices are
renamed and deleted; and the CLI commands (`speak`, `voice learn/list`, `batch speak`) run for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import Cancelled
from engine.jobs import CancelToken, Progress
from engine.models.lina import load_voice
from engine.tasks.learn_voice import LearnVoiceSettings, learn_voice
from engine.tasks.speak import SpeakSettings, load_speech_models, speak
from engine.voices import delete_voice, find_voice, list_voices, rename_voice, training_paths
from tests.conftest import REPO
from tests.tiny_speech import install_tiny_speech_models

TEXTS = ("hello there, this is me.", "a short one.", "the voice says words.")


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    install_tiny_speech_models(root / "models", root / "staging")
    return root / "models"


@pytest.fixture
def env(tiny_models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("VOCALIS_MODELS", str(tiny_models_dir))
    monkeypatch.setenv("VOCALIS_VOICES", str(tmp_path / "voices"))
    torch.set_num_threads(1)
    return tmp_path


@pytest.fixture
def clips_folder(tmp_path):
    folder = tmp_path / "speaker"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for index, text in enumerate(TEXTS):
        seconds = 0.6 + 0.2 * index
        t = np.arange(int(seconds * 24000)) / 24000
        wave = 0.3 * np.sin(2 * np.pi * (150 + 40 * index) * t) + 0.02 * rng.standard_normal(t.size)
        audio_io.save(Clip(wave.astype(np.float32).reshape(1, -1), 24000), folder / f"clip{index}.wav")
        (folder / f"clip{index}.txt").write_text(text)
    return folder


def test_learning_lowers_the_loss_and_writes_a_loadable_voice(env, clips_folder):
    curve = []
    voice = learn_voice(clips_folder, "Test Voice", LearnVoiceSettings(updates=6),
                        Progress(lambda u: curve.append(u.message)), CancelToken())
    assert voice.path == env / "voices" / "test-voice.safetensors"
    assert voice.info["loss_after"] < voice.info["loss_before"]
    assert len(voice.loss_curve) == 6 and voice.info["utterances"] == 3
    assert any("loss" in m for m in curve)
    params = load_voice(voice.path)
    models = load_speech_models("lina-speech-gigaspeech")
    models.lina.initial_state(params)  # fits the model
    assert [v.name for v in list_voices()] == ["Test Voice"]
    assert find_voice("test voice").path == voice.path
    assert not any(p.exists() for p in training_paths("Test Voice"))
    # synthesis from the learned voice needs no prompt
    clips = speak("Hello.", voice, SpeakSettings(max_tokens=12), Progress(), CancelToken())
    assert clips[0].frames == 12 * 320 and clips[0].name.startswith("Test Voice:")


def test_a_cancelled_run_resumes_to_the_same_voice(env, clips_folder):
    settings = LearnVoiceSettings(updates=4, save_every=1)
    straight = learn_voice(clips_folder, "straight", settings, Progress(), CancelToken())

    token = CancelToken()

    def progress(update):
        if "update 2/4" in update.message:
            token.cancel()

    with pytest.raises(Cancelled, match="resume"):
        learn_voice(clips_folder, "resumed", settings, Progress(progress), token)
    state, curve = training_paths("resumed")
    assert state.exists() and curve.exists() and find_voice("resumed") is None
    resumed = learn_voice(clips_folder, "resumed", settings, Progress(), CancelToken())
    assert resumed.info["updates"] == 4 and len(resumed.loss_curve) == 4
    for name, value in load_voice(straight.path).items():
        torch.testing.assert_close(load_voice(resumed.path)[name], value)


def test_rename_and_delete(env, clips_folder):
    learn_voice(clips_folder, "first", LearnVoiceSettings(updates=1), Progress(), CancelToken())
    renamed = rename_voice("first", "Second Name")
    assert renamed.path.name == "second-name.safetensors" and find_voice("first") is None
    assert json.loads(renamed.path.with_suffix(".json").read_text())["name"] == "Second Name"
    delete_voice("Second Name")
    assert list_voices() == [] and not renamed.path.exists()


def _vocalis(*args, env_vars):
    environment = dict(os.environ, **env_vars, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=REPO,
                          env=environment, timeout=600)


@pytest.mark.slow
def test_cli_speak_voice_and_batch_run_for_real(env, clips_folder, tiny_models_dir):
    variables = {"VOCALIS_MODELS": str(tiny_models_dir), "VOCALIS_VOICES": str(env / "voices"),
                 "VOCALIS_HOME": str(env / "home")}
    learned = _vocalis("voice", "learn", str(clips_folder), "--name", "cli voice", "--updates", "2", "--json",
                       env_vars=variables)
    assert learned.returncode == 0, learned.stderr
    assert json.loads(learned.stdout)["name"] == "cli voice"
    listed = _vocalis("voice", "list", "--json", env_vars=variables)
    assert [v["name"] for v in json.loads(listed.stdout)["voices"]] == ["cli voice"]

    out = env / "spoken"
    spoken = _vocalis("speak", "Hello there.", "--voice", "cli voice", "--out", str(out), "--max-tokens", "15",
                      "--seed", "2", "--variants", "2", env_vars=variables)
    assert spoken.returncode == 0, spoken.stderr
    files = sorted(out.glob("*.wav"))
    assert [f.name for f in files] == ["hello_there_v1.wav", "hello_there_v2.wav"]
    assert audio_io.info(files[0]).frames == 15 * 320

    lines = env / "lines"
    lines.mkdir()
    (lines / "intro.txt").write_text("Welcome to the show.")
    (lines / "script.csv").write_text('id,text\nline1,"Hello, world."\nline2,Goodbye.\n')
    (lines / "broken.csv").write_text("just one column\n")
    batch_out = env / "batch"
    batch = _vocalis("batch", "speak", str(lines), str(batch_out), "--max-tokens", "10", env_vars=variables)
    assert batch.returncode == 1, batch.stderr  # broken.csv fails, the rest is written
    assert sorted(p.relative_to(batch_out).as_posix() for p in batch_out.rglob("*.wav")) == \
        ["intro.wav", "script/line1.wav", "script/line2.wav"]
    records = [json.loads(line) for line in (batch_out / "vocalis-batch.jsonl").read_text().splitlines()]
    status = {r["input"]: r["status"] for r in records if "input" in r}
    assert status == {"broken.csv": "failed", "intro.txt": "ok", "script.csv": "ok"}
    again = _vocalis("batch", "speak", str(lines), str(batch_out), "--max-tokens", "10", env_vars=variables)
    records = [json.loads(line) for line in (batch_out / "vocalis-batch.jsonl").read_text().splitlines()]
    assert again.returncode == 1
    assert {r["input"]: r["status"] for r in records[-3:]} == \
        {"broken.csv": "failed", "intro.txt": "skipped", "script.csv": "skipped"}


@pytest.mark.slow
def test_clips_without_transcripts_are_transcribed_and_cut_into_utterances(env):
    from engine.tasks.learn_voice import VoiceClip, utterances
    from tests.synth import speak as espeak

    sentences = ("Good morning, my name is Ann.", "I read the news every day.", "The weather is lovely today.")
    audio = np.concatenate([np.concatenate([espeak(s, "en", sample_rate=16000), np.zeros(8000, np.float32)])
                            for s in sentences])
    long_clip = Clip(audio.reshape(1, -1), 16000, name="ann")
    pairs = utterances([VoiceClip(long_clip)], LearnVoiceSettings(max_utterance_s=4.0), Progress(), CancelToken())
    assert len(pairs) >= 2 and all(clip.duration <= 4.5 for clip, _ in pairs)
    heard = " ".join(text for _, text in pairs).lower()
    assert "morning" in heard and "weather" in heard
    voice = learn_voice([long_clip], "ann", LearnVoiceSettings(updates=1, max_utterance_s=4.0), Progress(),
                        CancelToken())
    assert voice.info["utterances"] == len(pairs) and voice.info["source"] == "ann"
