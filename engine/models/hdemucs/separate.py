"""Chunked Hybrid Demucs inference: bounded memory for songs of any length, and the vocal stem as a Clip.

A whole song does not fit through HDemucs at once (its activations grow with the input), so the song is
cut into segments that overlap (:func:`engine.audio.stitch.window_starts`) and joined by
:func:`engine.audio.stitch.crossfade_windows` with a linear crossfade across the overlap. The two gains of
every sample add up to one: wherever two segments agree the result is exactly their value, and where they
differ (edge effects of the model) the result fades linearly from one to the other instead of jumping.

HDemucs runs in fp32 on every device: its spectrogram branch builds complex masks with
``torch.view_as_complex`` and inverts them with ``istft``, which bf16 does not support at all and fp16 only
as experimental ComplexHalf (no CPU FFT), so half precision would trade correctness for little speed.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from engine.audio.clip import Clip
from engine.audio.resample import resample
from engine.audio.stitch import crossfade_windows
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.devices import out_of_memory_as_error
from engine.models.hdemucs.model import AUDIO_CHANNELS, SAMPLE_RATE, SOURCES

# HDemucs's spectrogram branch needs at least about 1000 frames; one STFT window is a safe floor.
MIN_MODEL_FRAMES = 4096

SourceModel = Callable[[torch.Tensor], torch.Tensor]  # (1, channels, frames) -> (1, sources, channels, frames)


def separate_chunked(model: SourceModel, audio: torch.Tensor, *, segment: int, overlap: int,
                     keep: Sequence[int], device: str | torch.device = "cpu",
                     progress: Progress | None = None, cancel: CancelToken | None = None) -> torch.Tensor:
    """Run ``model`` over ``audio`` (channels, frames) in overlapping segments of ``segment`` frames and
    return the sources listed in ``keep`` as (len(keep), channels, frames) on the CPU.

    Only the kept sources are kept and only one segment is on the device at a time, so memory is bounded
    by the segment length, not the song length.
    """
    device = torch.device(device)
    if not 0 <= overlap < segment:
        raise ValueError(f"overlap ({overlap}) must be shorter than the segment ({segment})")
    keep = list(keep)
    frames = audio.shape[-1]
    # The crossfade needs room for itself on both sides of a segment; a longer overlap is only margin.
    fade = min(overlap, (segment - overlap) // 2)

    def render(start: int, stop: int) -> np.ndarray:
        with torch.inference_mode(), out_of_memory_as_error(device, f"separating a {segment} frame segment",
                                                            "choose a shorter segment"):
            out = model(audio[:, start:stop].unsqueeze(0).to(device))
        return out[0, keep].float().cpu().numpy()

    blocks = crossfade_windows(render, frames, segment, overlap, fade, ramp_shape="linear",
                               progress=progress or null_progress(), cancel=cancel)
    return torch.from_numpy(np.concatenate(list(blocks), axis=-1))


def separate_vocals(clip: Clip, model: SourceModel, *, sources: Sequence[str] = SOURCES,
                    segment_s: float = 10.0, overlap_s: float = 1.0, device: str | torch.device = "cpu",
                    progress: Progress | None = None, cancel: CancelToken | None = None) -> Clip:
    """The vocal stem of ``clip`` at the clip's own rate and channel count.

    The mix is brought to the model's format (44.1 kHz stereo) and standardised by the whole song's mean
    and standard deviation (as Demucs does), so every segment is scaled alike; the stem is scaled back,
    then returned to the input's rate and channels. A clip too short for the model is padded with silence
    and the stem cut back. ``sources`` names the model's outputs in order.
    """
    progress = progress or null_progress()
    audio = torch.from_numpy(np.ascontiguousarray(clip.samples))
    if clip.sample_rate != SAMPLE_RATE:
        audio = torch.from_numpy(resample(clip.samples, clip.sample_rate, SAMPLE_RATE))
    if audio.shape[0] != AUDIO_CHANNELS:
        audio = audio.mean(dim=0, keepdim=True).expand(AUDIO_CHANNELS, -1)
    reference = audio.mean(dim=0)
    mean, std = reference.mean(), reference.std(correction=0).clamp_min(1e-8)
    standardised = torch.nn.functional.pad((audio - mean) / std, (0, max(0, MIN_MODEL_FRAMES - audio.shape[-1])))
    stems = separate_chunked(model, standardised, segment=round(segment_s * SAMPLE_RATE),
                             overlap=round(overlap_s * SAMPLE_RATE), keep=[list(sources).index("vocals")],
                             device=device, progress=progress.sub(0.0, 0.95), cancel=cancel)
    vocals = stems[0] * std + mean
    if clip.channels != AUDIO_CHANNELS:
        vocals = vocals.mean(dim=0, keepdim=True).expand(clip.channels, -1)
    if clip.sample_rate != SAMPLE_RATE:
        vocals = torch.from_numpy(resample(vocals.contiguous().numpy(), SAMPLE_RATE, clip.sample_rate))
    vocals = vocals[:, :clip.frames]
    if vocals.shape[-1] < clip.frames:
        vocals = torch.nn.functional.pad(vocals, (0, clip.frames - vocals.shape[-1]))
    progress(1.0, "vocals separated")
    return Clip(vocals.contiguous().numpy(), clip.sample_rate, source=clip.source, name=f"{clip.name} vocals".strip())
