"""The lyrics task: ``transcribe_lyrics(clip, settings, progress, cancel) -> Lyrics``.

Vocals (separated, a supplied stem, or none) decide the windows; Whisper hears the mix by default, which
the paper found at least as good as hearing the separated vocals, and which keeps words the separator
damaged.
"""

from __future__ import annotations

import numpy as np

from engine.audio.clip import Clip
from engine.audio.resample import resample
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models import whisper_ct2 as whisper
from engine.models.loading import load_catalog_or_local
from engine.tasks.lyrics.concatenation import concatenation_windows
from engine.tasks.lyrics.formats import read_line_timings
from engine.tasks.lyrics.lines import lyric_lines
from engine.tasks.lyrics.packing import pack_spans
from engine.tasks.lyrics.types import Lyrics, LyricsSettings, Segmentation, TranscribeFrom
from engine.tasks.lyrics.vad import SAMPLE_RATE, Span, VadParameters, rms_vad, silero_vad
from engine.tasks.separators import separate_vocals


def to_whisper_audio(clip: Clip) -> np.ndarray:
    """Mono float32 at 16 kHz, Whisper's input."""
    mono = clip.mono()
    if clip.sample_rate != SAMPLE_RATE:
        mono = resample(mono, clip.sample_rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def vad_parameters(settings: LyricsSettings) -> VadParameters:
    return VadParameters(onset=settings.vad_onset, offset=settings.vad_offset,
                         min_silence_ms=settings.min_silence_ms, speech_pad_ms=settings.speech_pad_ms,
                         max_segment_s=settings.max_segment_s)


def speech_spans(method: Segmentation, settings: LyricsSettings, audio: np.ndarray) -> list[Span]:
    """Where ``audio`` (vocals, or the mix without separation) has voice, in samples."""
    params = vad_parameters(settings)
    if method is Segmentation.SILERO_VAD:
        return silero_vad(audio, params, settings.silero_threshold)
    return rms_vad(audio, params)


def in_seconds(spans: list[Span]) -> list[tuple[float, float]]:
    return [(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in spans]


def batch_size(settings: LyricsSettings, model) -> int:
    """The setting, or for 0 (auto) one window per call on the CPU (windows decode side by side on the
    model's replicas instead) and 8 on a GPU."""
    if settings.batch_size > 0:
        return settings.batch_size
    return 1 if model.model.device == "cpu" else 8


def _fit_length(audio: np.ndarray, frames: int) -> np.ndarray:
    """A stem trimmed or zero-padded to the mix's length, so that times agree."""
    if len(audio) >= frames:
        return audio[:frames]
    return np.pad(audio, (0, frames - len(audio)))


def transcribe_lyrics(clip: Clip, settings: LyricsSettings, progress: Progress | None = None,
                      cancel: CancelToken | None = None, *, vocals: Clip | None = None,
                      line_timings: list[tuple[float, float]] | None = None) -> Lyrics:
    """Time-synced lyrics of ``clip``.

    ``vocals`` is an already separated stem (the GUI passes a track); without it ``settings.separator``
    names one. ``line_timings`` (seconds) drive the concatenation method; without them
    ``settings.line_timings`` names an LRC/CSV file.
    """
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    if clip.frames == 0:
        raise BadInputError(clip.source, "the audio is empty")
    method = settings.segmentation
    if method is Segmentation.CONCATENATION and line_timings is None:
        if not settings.line_timings:
            raise BadInputError(clip.source, "the concatenation method needs line timings (an LRC or CSV file)")
        line_timings = read_line_timings(settings.line_timings, clip.source or clip.name)

    if vocals is None and settings.wants_vocals:
        vocals = separate_vocals(settings.separator, clip, progress.sub(0.0, 0.4), cancel, device=settings.device)
    if vocals is None and settings.transcribe_from is TranscribeFrom.VOCALS:
        raise BadInputError(clip.source, "transcribing from the vocals needs a separator or a vocal stem")
    if method is Segmentation.AUTO:
        method = Segmentation.RMS_VAD if vocals is not None else Segmentation.SILERO_VAD
    cancel.check()

    mix = to_whisper_audio(clip)
    vocals_audio = None if vocals is None else _fit_length(to_whisper_audio(vocals), len(mix))
    heard = vocals_audio if settings.transcribe_from is TranscribeFrom.VOCALS else mix

    progress(0.4, f"loading the Whisper model {settings.model}")
    model = load_catalog_or_local("whisper-ct2", settings.model, device=settings.device,
                                  compute_type=settings.compute_type,
                                  parallel_windows=method is not Segmentation.NATIVE)
    progress(0.45, "finding the windows to decode")
    options = whisper.DecodeOptions(
        language=None if settings.language in ("", "auto") else settings.language,
        beam_size=settings.beam_size, best_of=settings.best_of, temperatures=tuple(settings.temperatures),
        initial_prompt=settings.initial_prompt or None, word_timestamps=settings.word_timestamps)
    decode_progress = progress.sub(0.45, 1.0)
    spans: list[tuple[float, float]] = []
    if method is Segmentation.NATIVE:
        transcript = whisper.transcribe_native(model, heard, options, decode_progress, cancel)
        description = "native"
    else:
        if method is Segmentation.CONCATENATION:
            windows = concatenation_windows(line_timings, len(mix) / SAMPLE_RATE, window_s=settings.window_s,
                                            max_gap_s=settings.max_line_gap_s, pad_s=settings.line_pad_s)
        else:
            found = speech_spans(method, settings, mix if vocals_audio is None else vocals_audio)
            windows = in_seconds(pack_spans(found, int(settings.window_s * SAMPLE_RATE)))
            spans = in_seconds(found)
        cancel.check()
        transcript = whisper.transcribe_windows(model, heard, windows, options, batch_size(settings, model),
                                                decode_progress, cancel)
        source = "mix" if vocals is None else "vocals"
        description = method.value if method is Segmentation.CONCATENATION else f"{method.value} on {source}"
    return Lyrics(lyric_lines(transcript.segments, spans), transcript.language, settings.model, description,
                  vocals=vocals)
