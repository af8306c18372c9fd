"""Whisper's audio encoder as a content (linguistic) feature extractor: Seed-VC v1's content encoder
(``openai/whisper-small``, 768-d, 50 frames/s), through ``transformers``.

``load_model(path, config=None, device="cpu")`` reads a Hugging Face Whisper folder (``config.json``,
``model.safetensors`` or ``pytorch_model.bin``, optionally ``preprocessor_config.json``) and keeps only the
encoder (the decoder's tensors are never read into memory). ``encoder.encode(wave_16k)`` gives the features of
up to 30 s of 16 kHz audio the way Seed-VC takes them: Whisper log-mel of the clip padded to 30 s, the
encoder's last hidden state, cut to ``samples // 320 + 1`` frames. ``encode_long`` covers any length in
30 s windows overlapping by 5 s.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from engine.errors import ModelLoadError
from engine.models.checkpoint import load_strict
from engine.models.packed_linear import pack_linears

__all__ = ["FRAME_SAMPLES", "SAMPLE_RATE", "WhisperContentEncoder", "load_model"]

SAMPLE_RATE = 16000
FRAME_SAMPLES = 320  # encoder frames are 20 ms
WINDOW_SECONDS = 30  # Whisper's fixed input length
OVERLAP_SECONDS = 5
CHECKPOINT_NAMES = ("model.safetensors", "pytorch_model.bin")
ENCODER_PREFIXES = ("model.encoder.", "encoder.")


def _encoder_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors of a full Whisper checkpoint, names relative to the encoder."""
    def encoder_name(name: str) -> str | None:
        for prefix in ENCODER_PREFIXES:
            if name.startswith(prefix):
                return name[len(prefix):]
        return None

    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                return {inner: handle.get_tensor(name) for name in handle.keys()
                        if (inner := encoder_name(name)) is not None}
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file for the user
            raise ModelLoadError(f"{path}: not a valid safetensors file ({exc})") from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # noqa: BLE001 - refused pickles and damaged files alike
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint of tensors only ({exc})") from exc
    if not isinstance(data, Mapping):
        raise ModelLoadError(f"{path}: not a Whisper state dict")
    return {inner: tensor for name, tensor in data.items()
            if isinstance(tensor, torch.Tensor) and (inner := encoder_name(name)) is not None}


class WhisperContentEncoder(nn.Module):
    """Whisper encoder + its feature extractor; ``output_dim`` features per 20 ms frame."""

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(self, encoder: nn.Module, feature_extractor: Any):
        super().__init__()
        self.encoder = pack_linears(encoder)  # its attention and feed-forward products on the packed CPU path
        self.feature_extractor = feature_extractor

    @property
    def output_dim(self) -> int:
        return int(self.encoder.config.d_model)

    @staticmethod
    def frames_for(samples: int) -> int:
        return samples // FRAME_SAMPLES + 1

    @torch.inference_mode()
    def encode(self, wave_16k: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``(samples // 320 + 1, output_dim)`` float32 features of mono 16 kHz audio of at most 30 s."""
        wave = np.asarray(torch.as_tensor(wave_16k, dtype=torch.float32).cpu(), dtype=np.float32)
        if wave.ndim != 1 or wave.size > WINDOW_SECONDS * SAMPLE_RATE:
            raise ValueError(f"encode takes mono audio of at most {WINDOW_SECONDS} s; got shape {wave.shape}")
        weight = self.encoder.conv1.weight
        features = self.feature_extractor([wave], sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        hidden = self.encoder(features.to(device=weight.device, dtype=weight.dtype)).last_hidden_state
        return hidden[0, :self.frames_for(wave.size)].float()

    def encode_long(self, wave_16k: np.ndarray | torch.Tensor, *, overlap_seconds: float = OVERLAP_SECONDS,
                    cancel: Callable[[], None] | None = None) -> torch.Tensor:
        """Features of audio of any length: 30 s windows overlapping by ``overlap_seconds``; each overlap is
        split at its middle, so every frame comes from a window that saw at least half the overlap of context
        on both sides. ``cancel()`` is called before each window. Returns ``(samples // 320 + 1, dim)`` on the CPU."""
        wave = torch.as_tensor(wave_16k, dtype=torch.float32).cpu()
        samples = wave.shape[-1]
        window = WINDOW_SECONDS * SAMPLE_RATE
        if samples <= window:
            if cancel is not None:
                cancel()
            return self.encode(wave).cpu()
        overlap_frames = int(overlap_seconds * SAMPLE_RATE) // FRAME_SAMPLES
        hop_frames = window // FRAME_SAMPLES - overlap_frames
        total = self.frames_for(samples)
        out = torch.empty(total, self.output_dim)
        start = 0  # first frame of the current window
        kept = 0  # frames of ``out`` already final
        while kept < total:
            if cancel is not None:
                cancel()
            features = self.encode(wave[start * FRAME_SAMPLES:start * FRAME_SAMPLES + window]).cpu()
            last = start + features.shape[0] >= total
            keep_until = total if last else start + hop_frames + overlap_frames // 2
            out[kept:keep_until] = features[kept - start:keep_until - start]
            kept = keep_until
            start += hop_frames
        return out


def _feature_extractor(folder: Path, mel_bins: int) -> Any:
    from transformers import WhisperFeatureExtractor

    settings = folder / "preprocessor_config.json"
    if settings.is_file():
        return WhisperFeatureExtractor.from_pretrained(str(folder), local_files_only=True)
    return WhisperFeatureExtractor(feature_size=mel_bins)


def load_model(path: str | Path, config: Mapping[str, Any] | str | Path | None = None,
               device: str | torch.device = "cpu") -> WhisperContentEncoder:
    """The encoder of the Whisper model in folder ``path`` (or checkpoint file ``path`` with its
    ``config.json`` beside it or given as ``config``), in eval mode on ``device``."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    checkpoint = next((folder / name for name in CHECKPOINT_NAMES if (folder / name).is_file()), None) \
        if path.is_dir() else path
    if checkpoint is None or not checkpoint.is_file():
        raise ModelLoadError(f"{path}: no Whisper weights ({' or '.join(CHECKPOINT_NAMES)})")
    if config is None or not isinstance(config, Mapping):
        config_path = Path(config) if config is not None else folder / "config.json"
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{config_path}: not a readable Whisper config.json ({exc})") from exc
    whisper_config = WhisperConfig(**{key: value for key, value in config.items() if not key.startswith("_")})
    whisper_config._attn_implementation = "sdpa"
    encoder = WhisperEncoder(whisper_config)
    tensors = _encoder_tensors(checkpoint)
    if not tensors:
        raise ModelLoadError(f"{checkpoint}: holds no Whisper encoder tensors (model.encoder.*)")
    load_strict(encoder, tensors, source=checkpoint)
    model = WhisperContentEncoder(encoder, _feature_extractor(folder, whisper_config.num_mel_bins))
    return model.eval().to(torch.device(device))
