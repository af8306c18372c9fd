"""StableVC's front ends: what the flow model is conditioned on.

- **Content**: one hidden layer of WavLM (``transformers.WavLMModel`` from a Hugging Face folder, e.g.
  ``microsoft/wavlm-large``) at 50 frames/s, later quantised to k-means units (:mod:`.units`). Long inputs
  run in windows with one second of context on each side, dropped after encoding.
- **Timbre**: the CAM++ 192-d embedding of the timbre reference plus its log-mel frames (attended to).
- **Style**: per mel frame the pyin log-f0 relative to the clip's median voiced f0, the voicing flag and the
  log energy relative to the clip's mean; plus the speaking rate (deduplicated units per second). The paper
  takes style from a factorized codec (FACodec's prosody codes); no FACodec weights are open here, and the
  explicit contour/energy/rate triple is the prosody FACodec's prosody branch is trained to capture, made
  speaker-independent by the per-clip normalisation (the register stays with the timbre).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine.errors import ModelLoadError
from engine.models.seedvc.config import MelSettings

WAVLM_RATE = 16000
WAVLM_HOP = 320
WINDOW_SECONDS = 20.0
CONTEXT_SECONDS = 1.0
PYIN_FMIN, PYIN_FMAX = 60.0, 800.0
ENERGY_FLOOR = 1e-5


class WavLMContent(torch.nn.Module):
    """A WavLM whose ``features(wave_16k)`` gives the chosen layer ``(T, C)`` at 50 frames/s."""

    def __init__(self, model: torch.nn.Module, layer: int, normalize: bool):
        super().__init__()
        self.model = model.eval()
        self.layer = layer
        self.normalize = normalize
        if not 0 <= layer <= model.config.num_hidden_layers:
            raise ModelLoadError(f"WavLM has hidden states 0..{model.config.num_hidden_layers}, not {layer}")
        # Layers past the one read are never needed: keep one more than it (the last layer's output would get
        # the final layer norm of the stable-layer-norm variants, which the full model's layer ``layer`` lacks).
        del model.encoder.layers[layer + 1:]

    @property
    def output_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def _encode(self, wave: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            wave = (wave - wave.mean()) / torch.sqrt(wave.var() + 1e-7)
        parameter = next(self.model.parameters())
        out = self.model(wave[None].to(parameter), output_hidden_states=True)
        return out.hidden_states[self.layer][0].float().cpu()

    def features(self, wave_16k: np.ndarray | torch.Tensor, cancel: Callable[[], None] | None = None) -> torch.Tensor:
        """``(len // 320, C)`` features of mono 16 kHz audio (padded to at least 400 samples)."""
        wave = torch.as_tensor(np.asarray(wave_16k, dtype=np.float32))
        frames = wave.shape[-1] // WAVLM_HOP
        window, context = int(WINDOW_SECONDS * 50), int(CONTEXT_SECONDS * 50)
        pieces = []
        for start in range(0, max(frames, 1), window):
            if cancel is not None:
                cancel()
            left = max(0, start - context)
            stop = min(frames, start + window)
            piece = wave[left * WAVLM_HOP:(stop + context) * WAVLM_HOP + 80]
            piece = torch.nn.functional.pad(piece, (0, max(0, 400 - piece.shape[-1])))
            pieces.append(self._encode(piece)[start - left:stop - left])
        out = torch.cat(pieces)[:frames]
        if 0 < out.shape[0] < frames:  # the last frame lacks its full 400-sample window: repeat the one before
            out = torch.cat([out, out[-1:].expand(frames - out.shape[0], -1)])
        return out


def load_wavlm(folder: str | Path, layer: int, device: str | torch.device = "cpu") -> WavLMContent:
    """A WavLM from a Hugging Face folder (``config.json`` + weights; ``preprocessor_config.json``'s
    ``do_normalize`` is honoured: wavlm-large expects zero-mean unit-variance input, base-plus raw audio)."""
    from transformers import WavLMModel

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: not a WavLM folder (config.json missing)")
    try:
        model = WavLMModel.from_pretrained(str(folder), use_safetensors=(folder / "model.safetensors").is_file())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: WavLM did not load ({exc})") from exc
    normalize = False
    preprocessor = folder / "preprocessor_config.json"
    if preprocessor.is_file():
        normalize = bool(json.loads(preprocessor.read_text(encoding="utf-8")).get("do_normalize", False))
    return WavLMContent(model, layer, normalize).to(device)


def resolve_model(spec: str, family_loader: Callable[[Path], Any], device: str | torch.device = "cpu") -> Any:
    """``spec`` is a path (loaded with ``family_loader``) or a catalog id (loaded through the store)."""
    path = Path(spec).expanduser()
    if path.exists():
        return family_loader(path)
    from engine.models import loading

    return loading.load_catalog_model(spec, device=device, precision="fp32")


def style_features(wave: np.ndarray, mel: MelSettings, frames: int) -> torch.Tensor:
    """``(frames, 3)`` style frames of mono audio at ``mel.sample_rate``, aligned with its mel frames: log-f0
    minus the clip's median voiced log-f0 (0 where unvoiced), voicing (0/1), log RMS minus its mean."""
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    f0, voiced, _ = librosa.pyin(wave, fmin=PYIN_FMIN, fmax=PYIN_FMAX, sr=mel.sample_rate,
                                 frame_length=mel.win_length, hop_length=mel.hop_length, center=True)
    rms = librosa.feature.rms(y=wave, frame_length=mel.win_length, hop_length=mel.hop_length, center=True)[0]

    def fit(values: np.ndarray) -> np.ndarray:
        values = values[:frames]
        return np.pad(values, (0, frames - len(values)), mode="edge") if 0 < len(values) < frames else values

    voiced = fit(voiced.astype(np.float32))
    log_f0 = np.log(np.where(np.isfinite(fit(f0)), fit(f0), 1.0))
    relative = np.zeros(frames, dtype=np.float32)
    if voiced.any():
        relative = np.where(voiced > 0, log_f0 - np.median(log_f0[voiced > 0]), 0.0)
    log_energy = np.log(fit(rms) + ENERGY_FLOOR)
    energy = log_energy - log_energy.mean()
    return torch.from_numpy(np.stack([relative, voiced, energy], axis=1).astype(np.float32))


def speaking_rate(units: torch.Tensor, seconds: float) -> float:
    """Deduplicated units per second (what the duration predictor's rhythm follows)."""
    return float(torch.unique_consecutive(units).numel()) / max(seconds, 1e-3)
