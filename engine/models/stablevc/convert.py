"""Conversion with a trained StableVC run: the words of ``source``, the voice of ``timbre``, the prosody of
``style``.

1. Content: the source's WavLM layer → k-means units → adjacent duplicates removed; the duration predictor,
   given the style reference's speaking rate, re-expands them onto mel frames (times ``length``), so the
   rhythm follows the style reference.
2. Timbre: the reference's CAM++ embedding and normalised log-mel (first 25 s). Style: the style reference's
   pitch/voicing/energy frames and its speaking rate.
3. The flow is integrated (Euler or midpoint, optional sway sampling, separate guidance scales for timbre
   and style) in windows of at most 30 s of frames overlapping by 16, each window attending to the part of
   the style contour at the same relative position; BigVGAN renders each window and the joins are
   crossfaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.audio import dsp
from engine.audio.clip import Clip
from engine.audio.stitch import crossfade_windows
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.seedvc.config import MelSettings
from engine.models.seedvc.mel import log_mel
from engine.models.stablevc import features as front
from engine.models.stablevc.model import Conditions, StableVC
from engine.models.stablevc.units import assign_units, deduplicate, expand, rescale_durations

REFERENCE_MAX_SECONDS = 25.0
GRIFFIN_LIM = "griffin-lim"  # a config's ``vocoder`` naming the weight-free phase reconstruction
GRIFFIN_LIM_ITERATIONS = 48
WINDOW_SECONDS = 30
OVERLAP_FRAMES = 16
RHYTHMS = ("style", "source")


class RunModels(torch.nn.Module):
    """A trained run and the encoders and vocoder it converts with (one module, so a model cache sees its
    size)."""

    def __init__(self, model: StableVC, content: front.WavLMContent, speaker: Any, vocoder: Any):
        super().__init__()
        self.model, self.content, self.speaker, self.vocoder = model, content, speaker, vocoder


class GriffinLimVocoder:
    """Audio from the run's log-mel without a neural vocoder: the magnitude spectrum by non-negative least
    squares through the mel filters, its phase by Griffin-Lim. Duller than BigVGAN, but it needs no weights,
    so a run trained with small or unusual mel settings can be listened to (and measured) at once."""

    def __init__(self, mel: MelSettings, iterations: int = GRIFFIN_LIM_ITERATIONS):
        self.mel, self.iterations = mel, iterations
        self.sample_rate, self.hop_length = mel.sample_rate, mel.hop_length

    def vocode_long(self, mel: torch.Tensor, cancel: CancelToken | None = None) -> torch.Tensor:
        """``(B, n_mels, T)`` log-mel → ``(B, 1, T·hop)`` float32 audio."""
        import librosa

        settings = self.mel
        waves = []
        for item in torch.exp(mel.float()).cpu().numpy():
            if cancel is not None:
                cancel.check()
            magnitude = librosa.feature.inverse.mel_to_stft(item, sr=settings.sample_rate, n_fft=settings.n_fft,
                                                            power=1.0, fmin=settings.fmin, fmax=settings.fmax)
            wave = librosa.griffinlim(magnitude, n_iter=self.iterations, hop_length=settings.hop_length,
                                      win_length=settings.win_length, n_fft=settings.n_fft, random_state=0)
            length = item.shape[-1] * settings.hop_length
            waves.append(np.pad(wave, (0, max(0, length - len(wave))))[:length].astype(np.float32))
        return torch.from_numpy(np.stack(waves))[:, None]


def load_run_models(run_dir: str, device: str | torch.device = "cpu") -> RunModels:
    from engine.models import bigvgan, campplus
    from engine.models.stablevc.run import load_run

    model = load_run(run_dir, device)
    config = model.config
    content = front.content_encoder(config.content_encoder, config.content_layer, device)
    speaker = front.resolve_model(config.speaker_encoder, campplus.load_model, device)
    if config.vocoder == GRIFFIN_LIM:
        vocoder = GriffinLimVocoder(config.mel)
    else:
        vocoder = front.resolve_model(config.vocoder, lambda p: bigvgan.load_model(p, device=device), device)
    if (vocoder.sample_rate, vocoder.hop_length) != (config.mel.sample_rate, config.mel.hop_length):
        raise BadInputError(run_dir, f"the vocoder ({vocoder.sample_rate} Hz, hop {vocoder.hop_length}) does not fit "
                                     f"the run's mel ({config.mel.sample_rate} Hz, hop {config.mel.hop_length})")
    return RunModels(model, content, speaker, vocoder)


def _mono(clip: Clip, rate: int, seconds: float | None = None) -> np.ndarray:
    wave = dsp.resample(dsp.to_mono(clip), rate).samples[0]
    return wave if seconds is None else wave[:int(seconds * rate)]


def convert(source: Clip, timbre: Clip, style: Clip, models: RunModels, *, steps: int = 10,
            timbre_scale: float = 0.7, style_scale: float = 0.7, length: float = 1.0, seed: int = 0,
            method: str = "euler", sway: float | None = None, rhythm: str = "style", progress: Progress | None = None,
            cancel: CancelToken | None = None) -> Clip:
    """``source`` said with ``timbre``'s voice and ``style``'s prosody, mono at the source's sample rate.
    ``rhythm``: "style" (durations predicted at the style reference's speaking rate) or "source" (the
    source's own unit durations: the output is as long as the source times ``length``)."""
    if rhythm not in RHYTHMS:
        raise ValueError(f"rhythm must be one of {', '.join(RHYTHMS)}, not {rhythm!r}")
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    model, config = models.model, models.model.config
    rate, hop = config.mel.sample_rate, config.mel.hop_length
    for clip, what in ((timbre, "timbre"), (style, "style")):
        if clip.duration < 0.5:
            raise BadInputError(clip.source, f"the {what} reference is {clip.duration:.2f} s long; it needs at least "
                                             f"0.5 s")

    progress(0.0, "references")
    reference = _mono(timbre, rate, REFERENCE_MAX_SECONDS)
    reference_mel = model.normalize(log_mel(reference, config.mel))
    speaker = models.speaker.embed_waveform(reference, rate, source=timbre.source).float().reshape(1, -1)
    _, register = front.style_features(reference, config.mel, len(reference) // hop)
    style_wave = _mono(style, rate, REFERENCE_MAX_SECONDS)
    style_frames, _ = front.style_features(style_wave, config.mel, len(style_wave) // hop)
    style_units = assign_units(models.content.features(_mono(style, front.WAVLM_RATE, REFERENCE_MAX_SECONDS)),
                               model.centroids.cpu())
    style_rate = front.speaking_rate(style_units, len(style_wave) / rate)
    cancel.check()

    progress(0.05, "content")
    source_units = assign_units(models.content.features(_mono(source, front.WAVLM_RATE), cancel=cancel.check),
                                model.centroids.cpu())
    if source_units.numel() == 0:
        raise BadInputError(source.source, "the source is too short for its content to be read")
    unique, counts = deduplicate(source_units)
    if rhythm == "style":
        durations = model.predict_durations(unique, style_rate)
        durations = torch.clamp(torch.round(durations.double() * length), min=1).long()
    else:  # the source's runs, re-timed from WavLM's 50 frames/s onto mel frames
        durations = rescale_durations(counts, length * config.frames_per_second * front.WAVLM_HOP / front.WAVLM_RATE)
    units = expand(unique, durations)
    frames = units.numel()
    cancel.check()

    window = int(WINDOW_SECONDS * rate / hop)
    chunks = max(1, -(-max(frames - OVERLAP_FRAMES, 1) // (window - OVERLAP_FRAMES)))
    sampling = progress.sub(0.1, 0.98)
    done = 0

    def render(start: int, stop: int) -> np.ndarray:
        nonlocal done
        low = min(int(style_frames.shape[0] * start / frames), style_frames.shape[0] - 1)
        high = max(low + 1, int(round(style_frames.shape[0] * stop / frames)))
        piece = style_frames[low:high]
        conditions = Conditions(speaker, reference_mel, torch.ones(1, reference_mel.shape[-1], dtype=torch.bool),
                                piece[None], torch.ones(1, piece.shape[0], dtype=torch.bool),
                                torch.tensor([style_rate]), torch.tensor([register]))
        generator = torch.Generator().manual_seed(seed * 1_000_003 + start)
        noise = torch.randn(1, config.mel.n_mels, stop - start, generator=generator)

        def on_step(step: int) -> None:
            cancel.check()
            sampling((done + step / steps) / chunks, f"chunk {done + 1}/{chunks}, step {step}/{steps}")

        mel = model.sample(units[None, start:stop], conditions, noise, steps, timbre_scale=timbre_scale,
                           style_scale=style_scale, method=method, sway=sway, on_step=on_step)
        wave = models.vocoder.vocode_long(mel, cancel=cancel)[0].numpy()
        done += 1
        return wave

    blocks = crossfade_windows(render, frames, window, OVERLAP_FRAMES, OVERLAP_FRAMES, scale=hop, cancel=cancel)
    converted = np.concatenate(list(blocks), axis=-1)
    progress(0.98, "resampling")
    out = dsp.resample(Clip(converted.reshape(1, -1), rate), source.sample_rate).samples
    progress(1.0, "converted")
    name = f"{source.name or 'source'} → {timbre.name or 'timbre'} / {style.name or 'style'}"
    return Clip(np.ascontiguousarray(out, dtype=np.float32), source.sample_rate, name=name)
