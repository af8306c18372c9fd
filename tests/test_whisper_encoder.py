"""Whisper encoder content features: loaded from a Hugging Face Whisper folder (small random weights saved by
transformers itself), equal to transformers' own encoder pipeline, cut to Seed-VC's frame count, and
windowed for long audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelLoadError
from engine.models.whisper_encoder import FRAME_SAMPLES, SAMPLE_RATE, load_model

TINY = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
            decoder_attention_heads=2, decoder_ffn_dim=64, vocab_size=128, pad_token_id=0, bos_token_id=1,
            eos_token_id=2, decoder_start_token_id=1)


def save_tiny_whisper(folder: Path, *, seed: int = 0, safetensors: bool = True, d_model: int = 32) -> Path:
    """A random Whisper in the official layout (``config.json``, ``model.safetensors`` or ``pytorch_model.bin``
    with ``model.encoder.*``/``model.decoder.*`` names, ``preprocessor_config.json``), made by transformers."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    torch.manual_seed(seed)
    config = WhisperConfig(**{**TINY, "d_model": d_model})
    model = WhisperForConditionalGeneration(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    if safetensors:
        model.save_pretrained(str(folder))
    else:
        config.save_pretrained(str(folder))
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return save_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny")


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_features_equal_the_transformers_pipeline_cut_to_seed_vc_frames(tiny_folder):
    from transformers import WhisperFeatureExtractor, WhisperModel

    encoder = load_model(tiny_folder)
    wave = speech_like(3.3)
    features = encoder.encode(wave)
    assert features.shape == (wave.size // FRAME_SAMPLES + 1, 32) == (166, 32)
    reference_model = WhisperModel.from_pretrained(str(tiny_folder)).eval()
    extractor = WhisperFeatureExtractor.from_pretrained(str(tiny_folder))
    inputs = extractor([wave], sampling_rate=SAMPLE_RATE, return_tensors="pt")
    with torch.inference_mode():
        expected = reference_model.encoder(inputs.input_features).last_hidden_state[0, :166]
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-5)


def test_pytorch_bin_layout_loads_the_same_weights(tmp_path, tiny_folder):
    folder = save_tiny_whisper(tmp_path / "bin", safetensors=False)
    wave = speech_like(1.0)
    torch.testing.assert_close(load_model(folder).encode(wave), load_model(tiny_folder).encode(wave))


def test_long_audio_is_windowed_with_overlap(tiny_folder):
    encoder = load_model(tiny_folder)
    wave = speech_like(64.0, seed=1)
    calls = []
    features = encoder.encode_long(wave, cancel=lambda: calls.append(1))
    assert features.shape == (wave.size // FRAME_SAMPLES + 1, 32)
    assert len(calls) == 3  # windows start at 0, 25 and 50 s
    assert torch.isfinite(features).all()
    # Up to the middle of the first overlap (27.5 s) the frames are the first window's.
    first = encoder.encode(wave[:30 * SAMPLE_RATE])
    torch.testing.assert_close(features[:1375], first[:1375])
    second = encoder.encode(wave[25 * SAMPLE_RATE:55 * SAMPLE_RATE])
    torch.testing.assert_close(features[1375:2625], second[125:1375])
    short = wave[:10 * SAMPLE_RATE]
    torch.testing.assert_close(encoder.encode_long(short), encoder.encode(short))


def test_missing_or_foreign_weights_are_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no Whisper weights"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    torch.save({"decoder.layer.weight": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="no Whisper encoder tensors"):
        load_model(tmp_path)
