"""WavLM (Chen et al., 2022) as a content encoder: one hidden layer of ``transformers.WavLMModel`` read from
a Hugging Face folder (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``, as
``microsoft/wavlm-large`` and ``microsoft/wavlm-base-plus`` publish them) at 50 frames/s. Long inputs run in
windows with one second of context on each side, dropped after encoding.

``load_model(path, config=None, device="cpu", layer=None)`` loads a folder; ``layer`` picks the hidden state
read (None: the last one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.errors import ModelLoadError

SAMPLE_RATE = 16000
HOP = 320  # samples per feature frame
WINDOW_SECONDS = 20.0
CONTEXT_SECONDS = 1.0
RECEPTIVE_SAMPLES = 400  # the convolutional front end's window


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
        frames = wave.shape[-1] // HOP
        window, context = int(WINDOW_SECONDS * 50), int(CONTEXT_SECONDS * 50)
        pieces = []
        for start in range(0, max(frames, 1), window):
            if cancel is not None:
                cancel()
            left = max(0, start - context)
            stop = min(frames, start + window)
            piece = wave[left * HOP:(stop + context) * HOP + RECEPTIVE_SAMPLES - HOP]
            piece = torch.nn.functional.pad(piece, (0, max(0, RECEPTIVE_SAMPLES - piece.shape[-1])))
            pieces.append(self._encode(piece)[start - left:stop - left])
        out = torch.cat(pieces)[:frames]
        if 0 < out.shape[0] < frames:  # the last frame lacks its full 400-sample window: repeat the one before
            out = torch.cat([out, out[-1:].expand(frames - out.shape[0], -1)])
        return out


def load_model(path: str | Path, config: None = None, device: str | torch.device = "cpu",
               layer: int | None = None) -> WavLMContent:
    """A WavLM from a Hugging Face folder (``preprocessor_config.json``'s ``do_normalize`` is honoured:
    wavlm-large expects zero-mean unit-variance input, base-plus raw audio). ``config`` is not used: the
    folder's own ``config.json`` describes the model."""
    from transformers import WavLMModel

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder}: not a WavLM folder (config.json missing)")
    safetensors = (folder / "model.safetensors").is_file()
    if not safetensors and not (folder / "pytorch_model.bin").is_file():
        raise ModelLoadError(f"{folder}: no WavLM weights (model.safetensors or pytorch_model.bin)")
    try:
        # A .bin is a pickle: transformers reads it with torch.load(weights_only=True).
        model = WavLMModel.from_pretrained(str(folder), use_safetensors=safetensors)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: WavLM did not load ({exc})") from exc
    normalize = False
    preprocessor = folder / "preprocessor_config.json"
    if preprocessor.is_file():
        normalize = bool(json.loads(preprocessor.read_text(encoding="utf-8")).get("do_normalize", False))
    layer = model.config.num_hidden_layers if layer is None else layer
    return WavLMContent(model, layer, normalize).to(device)
