"""Whisper through faster-whisper (CTranslate2), the runtime the ALT paper used.

Two ways to run it: Whisper's own sequential long-form loop over the whole song (:func:`transcribe_native`)
and independent ≤30 s windows decoded in batches (:func:`transcribe_windows`, faster-whisper's
``BatchedInferencePipeline`` with ``clip_timestamps``), which is what VAD-driven segmentation feeds.
Audio is 16 kHz mono float32 throughout (Whisper's input rate). The package is named for its runtime:
``engine.models.whisper_encoder`` is a different thing (a PyTorch Whisper encoder for voice conversion).
Loading: :func:`load_model` (a folder, :mod:`.model`); catalog models through
``engine.models.loading.load_catalog_model`` (:mod:`.loader`).
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Callable, Iterator

import ctranslate2
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.transcribe import Segment

from engine.jobs import CancelToken, Progress
from engine.models import devices
from engine.models.whisper_ct2.model import load_model

SAMPLE_RATE = 16000
# faster-whisper's defaults for retrying a decode at a higher temperature and for skipping silence
COMPRESSION_RATIO_LIMIT = 2.4
LOG_PROB_LIMIT = -1.0
NO_SPEECH_LIMIT = 0.6
# Temperature fallback samples; a fixed seed makes a song transcribe the same way every time.
SAMPLING_SEED = 0
CANCEL_POLL_S = 0.1


@dataclass(frozen=True)
class DecodeOptions:
    """Decoding choices shared by both modes; ``language=None`` detects it."""

    language: str | None = None
    beam_size: int = 5
    best_of: int = 5
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    initial_prompt: str | None = None
    word_timestamps: bool = True


@dataclass
class Transcript:
    segments: list[Segment] = field(default_factory=list)
    language: str = ""


def seeded_copy(model: WhisperModel) -> WhisperModel:
    """A fresh copy of ``model`` whose sampling starts from :data:`SAMPLING_SEED`.

    CTranslate2 seeds each worker thread's random generator once, the first time that thread samples;
    ``set_random_seed`` later changes nothing for it. Sampling on a cached model therefore continues the
    random stream of the previous song (two runs of one song gave different lyrics), so every decode that
    may sample runs on a new copy, whose new worker thread seeds its generator from the fixed seed.
    """
    ctranslate2.set_random_seed(SAMPLING_SEED)
    loaded_from = model.loaded_from
    sequential = {**loaded_from, "workers": 1,  # the copy decodes one thing at a time, on all the threads
                  "cpu_threads": loaded_from["cpu_threads"] * loaded_from["workers"]}
    with devices.out_of_memory_as_error(model.model.device, "loading a fresh copy of Whisper", "use a smaller model"):
        return load_model(**sequential)


def _collect(model: WhisperModel, segments: Iterator[Segment], progress: Progress, cancel: CancelToken,
             report: Callable[[Segment], tuple[float, str]]) -> list[Segment]:
    """Drain faster-whisper's lazy segment generator (where ``model`` decodes), reporting
    ``report(segment)`` (fraction, message) after each one.

    Each step of the generator decodes the next window (or batch), seconds of work that cannot be
    interrupted, so it runs on a helper thread while this one polls ``cancel``: a cancel takes effect
    within :data:`CANCEL_POLL_S` (the window in progress finishes in the background, and nothing after it
    is decoded)."""
    out = []
    iterator = iter(segments)
    stepper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper-decode")
    try:
        with devices.out_of_memory_as_error(model.model.device, "transcribing", "lower the batch size"):
            while True:
                cancel.check()
                step = stepper.submit(next, iterator, None)
                while True:
                    try:
                        segment = step.result(timeout=CANCEL_POLL_S)
                        break
                    except FutureTimeout:
                        cancel.check()
                if segment is None:
                    break
                out.append(segment)
                progress(*report(segment))
    finally:
        stepper.shutdown(wait=False)
    progress(1.0, "transcribed")
    return out


def transcribe_native(model: WhisperModel, audio: np.ndarray, options: DecodeOptions,
                      progress: Progress, cancel: CancelToken) -> Transcript:
    """Whisper's own long-form loop over the whole song (the paper's "native" baseline); previous text
    is not fed back, as in the paper, which avoids repetition loops on songs. Its temperature fallback
    samples, so it runs on a :func:`seeded_copy`."""
    duration = len(audio) / SAMPLE_RATE
    segments, info = seeded_copy(model).transcribe(
        audio, language=options.language, beam_size=options.beam_size, best_of=options.best_of,
        temperature=list(options.temperatures), initial_prompt=options.initial_prompt or None,
        word_timestamps=options.word_timestamps, condition_on_previous_text=False)
    return Transcript(_collect(model, segments, progress, cancel, lambda segment: (
        min(1.0, segment.end / duration), f"transcribed {segment.end:.0f} of {duration:.0f} s")), info.language)


def is_stuck_in_a_loop(segment: Segment) -> bool:
    """A decode stuck repeating itself: its text compresses too well (Whisper's sign) and Whisper was not
    confident of it. A sung chorus compresses well too but is decoded confidently; on the shared songs the
    one window over the ratio was a chorus (average log-probability −0.29), and decoding it again with the
    sampling fallback made that song's WER 2.7 points worse and took 28 s."""
    return segment.compression_ratio > COMPRESSION_RATIO_LIMIT and segment.avg_logprob < LOG_PROB_LIMIT


def is_no_speech(segment: Segment) -> bool:
    """Whisper's no-speech rule (as the sequential decoder applies it): likely silence, unlikely text."""
    return segment.no_speech_prob > NO_SPEECH_LIMIT and segment.avg_logprob < LOG_PROB_LIMIT


def detect_language(model: WhisperModel, audio: np.ndarray, windows: list[tuple[float, float]]) -> str:
    """The language of the windows, judged as faster-whisper's batched pipeline judges it: from the start of
    their features laid end to end (once for the song, so every group of windows decodes in one language)."""
    if not model.model.is_multilingual:
        return "en"
    features = [model.feature_extractor(audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)])[..., :-1]
                for start, end in windows]
    features.append(np.full((model.model.n_mels, 1), -1.5, dtype="float32"))  # as faster-whisper pads it
    language, _, _ = model.detect_language(features=np.concatenate(features, axis=1))
    return language


def _decode_in_parallel(model: WhisperModel, groups: list[list[tuple[float, float]]],
                        decode: Callable[[list[tuple[float, float]]], list[Segment]], progress: Progress,
                        cancel: CancelToken) -> list[Segment]:
    """``decode(group)`` for every group of windows, as many at once as ``model`` has replicas, reporting
    each group as it finishes.

    The job polls ``cancel`` while groups decode on helper threads: a cancel takes effect within
    :data:`CANCEL_POLL_S`, groups in progress finish in the background and no other group starts."""
    total = sum(len(group) for group in groups)
    queue = iter(groups)
    pool = ThreadPoolExecutor(max_workers=model.model.num_workers, thread_name_prefix="whisper-window")
    running: dict = {}
    out: list[Segment] = []
    done = 0

    def start_next() -> None:
        group = next(queue, None)
        if group is not None:
            running[pool.submit(decode, group)] = len(group)

    try:
        with devices.out_of_memory_as_error(model.model.device, "transcribing", "lower the batch size"):
            for _ in range(model.model.num_workers):
                start_next()
            while running:
                cancel.check()
                finished, _ = wait(running, timeout=CANCEL_POLL_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    out += future.result()
                    done += running.pop(future)
                    progress(done / total, f"window {done} of {total} decoded")
                    start_next()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return out


def transcribe_windows(model: WhisperModel, audio: np.ndarray, windows: list[tuple[float, float]],
                       options: DecodeOptions, batch_size: int, progress: Progress,
                       cancel: CancelToken) -> Transcript:
    """Decode each ``(start_s, end_s)`` window (≤30 s) independently: ``batch_size`` windows per call, and
    as many calls at once as the model has replicas (single-threaded CPU replicas, see
    ``loader.cpu_workers_and_threads``). The tokens are the same however the windows are grouped; each call
    starts faster-whisper's word-timing heuristic afresh (its "first word after a pause" rule carried the
    previous batch's last time into the next window when one pipeline decoded them all).

    Each window is decoded whole, without timestamp tokens (as in the paper), so a window is never cut
    short at a timestamp; lines come from the word times. The batched decoder uses one temperature, so
    windows stuck in a repetition loop are decoded again by the sequential decoder with the rest of the
    temperature sequence (on a :func:`seeded_copy`); windows Whisper judges silent are dropped. Segment
    times are absolute. Progress is reported per window; cancel is honoured between groups.
    """
    if not windows:
        return Transcript([], options.language or "")
    language = options.language or detect_language(model, audio, windows)

    def decode(group: list[tuple[float, float]]) -> list[Segment]:
        segments, _ = BatchedInferencePipeline(model).transcribe(
            audio, language=language, beam_size=options.beam_size, best_of=options.best_of,
            temperature=list(options.temperatures), initial_prompt=options.initial_prompt or None,
            word_timestamps=options.word_timestamps, without_timestamps=True, batch_size=batch_size,
            clip_timestamps=[{"start": start, "end": end} for start, end in group])
        return list(segments)

    groups = [windows[k:k + batch_size] for k in range(0, len(windows), batch_size)]
    decoded = _decode_in_parallel(model, groups, decode, progress.sub(0.0, 0.9), cancel)
    retry_temperatures = list(options.temperatures[1:])
    looped = [segment for segment in decoded if retry_temperatures and is_stuck_in_a_loop(segment)]
    kept = [segment for segment in decoded if segment not in looped and not is_no_speech(segment)]
    if looped:
        progress(0.9, f"decoding {len(looped)} window(s) stuck in a repetition loop again")
        retried, _ = seeded_copy(model).transcribe(
            audio, language=language, beam_size=options.beam_size, best_of=options.best_of,
            temperature=retry_temperatures, initial_prompt=options.initial_prompt or None,
            word_timestamps=options.word_timestamps, condition_on_previous_text=False,
            clip_timestamps=[bound for segment in sorted(looped, key=lambda segment: segment.start)
                             for bound in (segment.start, segment.end)])
        end = max(segment.end for segment in looped)
        kept += _collect(model, retried, progress.sub(0.9, 1.0), cancel,
                         lambda segment: (min(1.0, segment.end / end), "decoded again"))
    progress(1.0, "transcribed")
    return Transcript(sorted(kept, key=lambda segment: segment.start), language)


def language_codes() -> tuple[str, ...]:
    """The languages Whisper's multilingual models know, as faster-whisper spells them (what the settings
    form offers; the list is the one behind ``WhisperModel.supported_languages``)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)
