"""Voice-activity segmentation at 16 kHz: the ALT paper's RMS-VAD and faster-whisper's bundled Silero VAD.

Both return speech spans as ``(start, end)`` sample indices at :data:`SAMPLE_RATE`, padded, in order and
never overlapping, which is what :mod:`engine.tasks.lyrics.packing` packs into Whisper windows.

RMS-VAD (Syed et al., 2025, §4.3 of the reference notes): frame RMS (frame 2048, hop 512, centred frames,
so frame ``i`` stands for sample ``i * 512``) divided by the song's peak RMS is read as a speech
probability and run through Silero's hysteresis. A separated vocal stem is silent between phrases, so a
fixed fraction of the peak (0.1 ≈ −20 dB) marks singing reliably; on a mix it marks "loud", which is why
the learned VAD is offered as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

SAMPLE_RATE = 16000
FRAME_LENGTH = 2048
HOP_LENGTH = 512
# A silence shorter than this is not a place to split an over-long segment (Silero's value).
MIN_SPLIT_SILENCE_MS = 98

Span = tuple[int, int]


@dataclass(frozen=True)
class VadParameters:
    """The paper's defaults; every value is a user setting (``LyricsSettings.vad_*``)."""

    onset: float = 0.1
    offset: float = 0.1
    min_silence_ms: int = 1000
    speech_pad_ms: int = 200
    max_segment_s: float = 30.0


def rms_probabilities(audio: np.ndarray) -> np.ndarray:
    """Frame RMS of 16 kHz mono ``audio`` normalised by its peak: one value per hop, in 0..1."""
    rms = librosa.feature.rms(y=np.asarray(audio, dtype=np.float32), frame_length=FRAME_LENGTH,
                              hop_length=HOP_LENGTH)[0]
    peak = float(rms.max()) if rms.size else 0.0
    return rms / peak if peak > 0 else np.zeros_like(rms)


def hysteresis_spans(probs: np.ndarray, total_samples: int, params: VadParameters) -> list[Span]:
    """Unpadded speech spans from per-hop probabilities.

    Speech starts at the first frame ≥ onset and ends where the probability stays below offset for
    ``min_silence_ms``. A span reaching the maximum length is cut at the start of the last silence longer
    than 98 ms; without one, at the quietest frame of the span's second half (the paper's "min-cut").
    """
    min_silence = SAMPLE_RATE * params.min_silence_ms / 1000
    split_silence = SAMPLE_RATE * MIN_SPLIT_SILENCE_MS / 1000
    pad = SAMPLE_RATE * params.speech_pad_ms / 1000
    max_samples = SAMPLE_RATE * params.max_segment_s - HOP_LENGTH - 2 * pad

    spans: list[Span] = []
    triggered = False
    start = 0
    silence_start: int | None = None  # where the current run of quiet frames began
    split_end: int | None = None      # start of the last long-enough silence inside this span
    resume: int | None = None         # where speech resumed after that silence
    for i, prob in enumerate(probs):
        here = i * HOP_LENGTH
        if prob >= params.onset:
            if silence_start is not None:
                silence_start = None
                if split_end is not None and (resume is None or resume < split_end):
                    resume = here
            if not triggered:
                triggered, start = True, here
                continue
        if triggered and here - start > max_samples:
            if split_end is not None:
                spans.append((start, split_end))
                if resume is None or resume < split_end:  # still silent: wait for the next onset
                    triggered = False
                else:
                    start = resume
            else:
                half = start // HOP_LENGTH + (i - start // HOP_LENGTH) // 2
                cut = (half + int(np.argmin(probs[half:i + 1]))) * HOP_LENGTH
                if cut <= start:
                    cut = here
                spans.append((start, cut))
                start = cut
            silence_start = split_end = resume = None
            if not triggered:
                continue
        if triggered and prob < params.offset:
            if silence_start is None:
                silence_start = here
            if here - silence_start > split_silence:
                split_end = silence_start
            if here - silence_start >= min_silence:
                spans.append((start, silence_start))
                triggered = False
                silence_start = split_end = resume = None
    if triggered and total_samples > start:
        spans.append((start, total_samples))
    return spans


def pad_spans(spans: list[Span], total_samples: int, speech_pad_ms: int) -> list[Span]:
    """Pad each span by ``speech_pad_ms``; a gap narrower than two pads is split evenly instead."""
    pad = int(SAMPLE_RATE * speech_pad_ms / 1000)
    starts = [s for s, _ in spans]
    ends = [e for _, e in spans]
    for k in range(len(spans)):
        if k == 0:
            starts[k] = max(0, starts[k] - pad)
        if k == len(spans) - 1:
            ends[k] = min(total_samples, ends[k] + pad)
            continue
        gap = starts[k + 1] - ends[k]
        if gap < 2 * pad:
            ends[k] += gap // 2
            starts[k + 1] -= gap // 2
        else:
            ends[k] = min(total_samples, ends[k] + pad)
            starts[k + 1] = max(0, starts[k + 1] - pad)
    return list(zip(starts, ends))


def rms_vad(audio: np.ndarray, params: VadParameters = VadParameters()) -> list[Span]:
    """The paper's RMS-VAD on 16 kHz mono ``audio``: padded speech spans in samples."""
    spans = hysteresis_spans(rms_probabilities(audio), len(audio), params)
    return pad_spans(spans, len(audio), params.speech_pad_ms)


def silero_vad(audio: np.ndarray, params: VadParameters = VadParameters(), threshold: float = 0.5) -> list[Span]:
    """faster-whisper's Silero VAD (ONNX weights shipped in the package) with the same silence, padding
    and length rules, so both detectors feed identical packing."""
    options = VadOptions(threshold=threshold, min_silence_duration_ms=params.min_silence_ms,
                         speech_pad_ms=params.speech_pad_ms, max_speech_duration_s=params.max_segment_s)
    found = get_speech_timestamps(np.asarray(audio, dtype=np.float32), options, sampling_rate=SAMPLE_RATE)
    return [(int(s["start"]), int(s["end"])) for s in found]
