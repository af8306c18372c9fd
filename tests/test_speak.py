"""The Speak task end to end with the tiny golden Lina and WavTokenizer models installed in a models folder
under the released ids (so the catalog → store → family loader path runs): text → tokens → audio of the
expected length, the stop token honoured, same seed same audio, long text chunked with the voice carried,
a prompt clip trimmed from the output, and the text normalisation and splitting rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine.models.lina as lina
import engine.models.lina.synthesis as synthesis
from engine.audio.clip import Clip
from engine.errors import BadInputError, Cancelled, MissingModelError
from engine.jobs import CancelToken, Progress
from engine.models.lina import STOP_TOKEN
from engine.tasks.speak import (PromptVoice, SpeakSettings, join_with_crossfades, normalize_text, number_words,
                                speak, split_text)
from tests.tiny_speech import install_tiny_speech_models

HOP = 320  # samples per codec frame at 24 kHz


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    install_tiny_speech_models(root / "models", root / "staging")
    return root / "models"


@pytest.fixture
def models(tiny_models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("VOCALIS_MODELS", str(tiny_models_dir))
    monkeypatch.setenv("VOCALIS_VOICES", str(tmp_path / "voices"))
    torch.set_num_threads(1)
    return tiny_models_dir


def stop_after(monkeypatch, frames: int) -> None:
    """Every sequence emits ``frames`` audio tokens, then the stop token (the tiny random model never stops
    by itself)."""
    real = synthesis.sample_top_k
    count = {"step": 0}

    def sample(logits, top_k, temperature, generator=None):
        count["step"] += 1
        tokens = real(logits, top_k, temperature, generator).clamp_min(3)
        if count["step"] > frames:
            tokens[:] = STOP_TOKEN
        return tokens

    def counting_generate(*args, **kwargs):
        count["step"] = 0
        return real_generate(*args, **kwargs)

    real_generate = lina.generate
    monkeypatch.setattr(synthesis, "sample_top_k", sample)
    monkeypatch.setattr(lina, "generate", counting_generate)


def run(text, voice=None, **settings):
    messages = []
    clips = speak(text, voice, SpeakSettings(**settings), Progress(lambda u: messages.append(u.message)),
                  CancelToken())
    return clips, messages


def test_text_becomes_audio_of_the_decoded_length(models):
    clips, messages = run("Hello world.", max_tokens=24)
    assert len(clips) == 1
    clip = clips[0]
    assert clip.sample_rate == 24000 and clip.channels == 1
    assert clip.frames == 24 * HOP  # no stop token from the random model: the whole budget
    assert np.isfinite(clip.samples).all() and np.abs(clip.samples).max() > 0
    assert any("tokens/s" in m for m in messages)


def test_the_stop_token_ends_the_speech(models, monkeypatch):
    stop_after(monkeypatch, 9)
    clips, _ = run("Hello world.", max_tokens=200, variants=2)
    assert [c.frames for c in clips] == [9 * HOP, 9 * HOP]


def test_same_seed_same_audio_other_seed_other_audio(models):
    first, _ = run("Same seed.", max_tokens=16, seed=3, variants=2)
    again, _ = run("Same seed.", max_tokens=16, seed=3, variants=2)
    other, _ = run("Same seed.", max_tokens=16, seed=4, variants=2)
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(first, again))
    assert not np.array_equal(first[0].samples, other[0].samples)
    assert not np.array_equal(first[0].samples, first[1].samples)  # variants differ


def test_long_text_is_chunked_and_the_first_chunk_carries_the_voice(models, monkeypatch):
    stop_after(monkeypatch, 10)
    prompts = []
    real_generate = lina.generate

    def spy(model, text_ids, **kwargs):
        prompts.append(None if kwargs.get("prompt_codes") is None else kwargs["prompt_codes"].shape[-1])
        return real_generate(model, text_ids, **kwargs)

    monkeypatch.setattr(lina, "generate", spy)
    text = "The first sentence is here. A second one follows it. A third ends it."
    clips, messages = run(text, max_tokens=60, chunk_chars=30, crossfade_ms=10)
    assert prompts == [None, 10, 10]  # chunks 2 and 3 continue chunk 1's audio
    fade = 240
    assert clips[0].frames == 3 * 10 * HOP - 2 * fade
    assert any("chunk 3/3" in m for m in messages)


def test_a_prompt_clip_is_teacher_forced_and_trimmed(models, monkeypatch):
    stop_after(monkeypatch, 7)
    seen = {}
    real_generate = lina.generate

    def spy(model, text_ids, **kwargs):
        seen["prompt"], seen["text"] = kwargs["prompt_codes"].shape, text_ids.numel()
        return real_generate(model, text_ids, **kwargs)

    monkeypatch.setattr(lina, "generate", spy)
    rng = np.random.default_rng(0)
    clip = Clip((0.1 * rng.standard_normal((1, 3 * 16000))).astype(np.float32), 16000, name="prompt")
    clips, _ = run("Go on.", PromptVoice(clip, "This is what the clip says."), max_tokens=400)
    assert seen["prompt"] == (1, 225)  # 3 s at 75 frames/s, resampled to 24 kHz first
    assert clips[0].frames == 7 * HOP  # only the new speech
    assert clips[0].name.startswith("prompt:")
    with pytest.raises(BadInputError, match="3–10 s"):
        run("Go on.", PromptVoice(Clip(clip.samples[:, :8000], 16000), "Too short."), max_tokens=400)


def test_cancel_between_tokens(models):
    token = CancelToken()
    calls = {"n": 0}

    def progress(update):
        calls["n"] += 1
        if calls["n"] == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        speak("Cancel me please.", None, SpeakSettings(max_tokens=200), Progress(progress), token)


def test_missing_models_are_named_together(tmp_path, monkeypatch):
    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path / "empty"))
    with pytest.raises(MissingModelError) as error:
        run("Hello.")
    for model_id in ("lina-speech-gigaspeech", "wavtokenizer-medium-speech", "lina-speech-tokenizer"):
        assert model_id in str(error.value)


def test_unreadable_characters_are_named(models):
    with pytest.raises(BadInputError, match="'€'"):
        run("It costs 5 €.", max_tokens=10)


def test_numbers_are_spelled_and_text_is_split_at_sentences():
    assert number_words(1984) == "one thousand nine hundred eighty-four"
    assert number_words(0) == "zero" and number_words(1_000_000) == "one million"
    assert normalize_text("It is 3.5% of 1,200 & more") == \
        "It is three point five percent of one thousand two hundred and more"
    text = "One two. Three four five six seven eight nine ten eleven, twelve thirteen. End!"
    chunks = split_text(text, 30)
    assert all(len(c) <= 30 for c in chunks)
    assert " ".join(chunks) == text
    assert chunks[0] == "One two."


def test_crossfade_joins_pieces_with_a_unity_sum():
    joined = join_with_crossfades([np.ones(100, np.float32), np.ones(50, np.float32)], 20)
    assert joined.size == 130
    np.testing.assert_allclose(joined, 1.0, atol=1e-6)


@pytest.mark.slow
def test_a_prompt_without_transcript_is_transcribed_by_whisper(models, monkeypatch):
    from tests.synth import speak as espeak

    stop_after(monkeypatch, 5)
    texts = []
    real_generate = lina.generate

    def spy(model, text_ids, **kwargs):
        texts.append(text_ids.tolist())
        return real_generate(model, text_ids, **kwargs)

    monkeypatch.setattr(lina, "generate", spy)
    audio = espeak("Good morning everyone, the weather is lovely today.", "en", sample_rate=16000)
    clip = Clip(audio.reshape(1, -1), 16000, name="espeak")
    assert 3.0 <= clip.duration <= 10.0
    clips, _ = run("Thank you.", PromptVoice(clip), max_tokens=900)
    from engine.models.lina import TextTokenizer
    from tests.tiny_speech import LINA

    tokenizer = TextTokenizer(LINA / "bpe256.json")
    heard = "".join(tokenizer._tokenizer.decode(texts[0]).lower().split())  # BPE pieces, spaces dropped
    assert "morning" in heard and heard.endswith("thankyou.")  # the transcript, then the text
    assert clips[0].frames == 5 * HOP
