"""``learn_voice``: a voice learned from a few minutes of a speaker by initial-state tuning (IST).

The clips (a folder of audio files, or clips such as the GUI's tracks) are transcribed with Whisper unless
a transcript is given (``<clip stem>.txt`` beside a file), cut into utterances of at most
``max_utterance_s`` at Whisper's phrase boundaries, tokenized (text: the Lina tokenizer; audio:
WavTokenizer), and only the rank-1 initial-state parameters of the frozen model are trained (Adam, lr 0.1,
as the reference). The trainer state is saved every ``save_every`` updates and on cancel, so running again
with the same name resumes; the finished voice goes to the voices folder (:mod:`engine.voices`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from engine.audio import dsp
from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import BadInputError, Cancelled
from engine.fileio import write_text_atomic
from engine.jobs import CancelToken, Progress
from engine.settings import option
from engine.tasks.registry import AUDIO_EXTENSIONS
from engine.tasks.speak import FRAME_RATE, SpeechModels, encode, load_speech_models, normalize_text, transcribe
from engine.voices import LearnedVoice, save_learned_voice, slug, training_paths

log = logging.getLogger(__name__)

TRANSCRIPT_SUFFIX = ".txt"
EVAL_EXAMPLES = 16  # utterances scored without dropout before and after, for the sidecar


@dataclass(frozen=True)
class LearnVoiceSettings:
    updates: int = option(300, "optimizer updates (each sees 8 utterances)", minimum=1, maximum=100_000)
    resume: bool = option(True, "continue an unfinished run of the same name instead of starting over")
    max_utterance_s: float = option(20.0, "longest training utterance (Whisper phrases are joined up to it)",
                                    minimum=2.0, maximum=26.0, label="Longest utterance (s)", advanced=True)
    whisper_model: str = option("whisper-base", "Whisper model for clips without a transcript", label="Whisper",
                                kind="model", model_task="transcribe")
    language: str = option("en", "language of the clips (the released model speaks English)", kind="language",
                           advanced=True)
    save_every: int = option(25, "save the training state every this many updates", minimum=1, advanced=True)
    seed: int = option(0, "random seed of the initial parameters and the utterance order", minimum=0,
                       advanced=True)
    model: str = option("lina-speech-gigaspeech", "text-to-speech model (catalog id)", kind="model",
                        model_task="tts")
    device: str = option("auto", "device: auto, cpu, cuda")


@dataclass(frozen=True)
class VoiceClip:
    """One recording of the speaker and, when known, what it says."""

    clip: Clip
    transcript: str = ""


def clips_from_folder(folder: Path) -> list[VoiceClip]:
    """Every audio file under ``folder`` (sorted), with ``<stem>.txt`` beside it as its transcript."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not paths:
        raise BadInputError(folder, "no audio files to learn the voice from")
    clips = []
    for path in paths:
        text_file = path.with_suffix(TRANSCRIPT_SUFFIX)
        transcript = text_file.read_text(encoding="utf-8-sig").strip() if text_file.is_file() else ""
        clips.append(VoiceClip(audio_io.load(path), transcript))
    return clips


def _as_voice_clips(source: Path | str | Sequence[Clip | VoiceClip | Path]) -> list[VoiceClip]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return clips_from_folder(path)
        source = [path]
    clips = []
    for item in source:
        if isinstance(item, VoiceClip):
            clips.append(item)
        elif isinstance(item, Clip):
            clips.append(VoiceClip(item))
        else:
            path = Path(item)
            text_file = path.with_suffix(TRANSCRIPT_SUFFIX)
            clips.append(VoiceClip(audio_io.load(path),
                                   text_file.read_text(encoding="utf-8-sig").strip() if text_file.is_file() else ""))
    if not clips:
        raise BadInputError(None, "no clips to learn the voice from")
    return clips


def utterances(clips: Sequence[VoiceClip], settings: LearnVoiceSettings, progress: Progress,
               cancel: CancelToken) -> list[tuple[Clip, str]]:
    """(audio, text) pairs of at most ``max_utterance_s``: a clip with its transcript as it is, the others
    cut at Whisper's phrase boundaries."""
    pairs: list[tuple[Clip, str]] = []
    for index, item in enumerate(clips):
        cancel.check()
        where = item.clip.source or item.clip.name or f"clip {index + 1}"
        if item.transcript:
            if item.clip.duration > settings.max_utterance_s + 0.5:
                raise BadInputError(where, f"{item.clip.duration:.0f} s is longer than the longest utterance "
                                           f"({settings.max_utterance_s:g} s); cut it, or remove its transcript so "
                                           f"that Whisper splits it")
            pairs.append((item.clip, item.transcript))
            continue
        phrases = transcribe(item.clip, settings.whisper_model, progress.sub(index / len(clips),
                                                                              (index + 1) / len(clips)),
                             cancel, settings.language)
        start = end = None
        words: list[str] = []
        for phrase_start, phrase_end, text in phrases + [(None, None, "")]:
            if start is not None and (phrase_start is None or phrase_end - start > settings.max_utterance_s):
                pairs.append((dsp.crop_seconds(item.clip, start, end), " ".join(words)))
                start, words = None, []
            if phrase_start is None:
                break
            if phrase_end - phrase_start > settings.max_utterance_s:
                log.info("%s: skipping a %.0f s phrase (longer than an utterance)", where, phrase_end - phrase_start)
                continue
            start = phrase_start if start is None else start
            end = phrase_end
            words.append(text)
    return pairs


def examples_of(pairs: Sequence[tuple[Clip, str]], models: SpeechModels, progress: Progress,
                cancel: CancelToken) -> list:
    """IST examples (text ids, codec codes); utterances the tokenizer cannot read are skipped and logged."""
    from engine.models.lina import IstExample

    examples = []
    for index, (clip, text) in enumerate(pairs):
        cancel.check()
        text = normalize_text(text)
        missing = models.tokenizer.unsupported(text)
        if missing or not text:
            log.info("skipping an utterance with characters the model cannot read (%s): %s", " ".join(missing), text)
            continue
        examples.append(IstExample(torch.tensor(models.tokenizer.encode(text)), encode(models.codec, clip)))
        progress((index + 1) / len(pairs), f"tokenized {index + 1}/{len(pairs)} utterances")
    if not examples:
        raise BadInputError(None, "none of the clips gave a usable utterance (no speech, or text the model "
                                  "cannot read)")
    return examples


def learn_voice(clips_or_folder: Path | str | Sequence[Clip | VoiceClip | Path], name: str,
                settings: LearnVoiceSettings, progress: Progress, cancel: CancelToken, *,
                models: SpeechModels | None = None) -> LearnedVoice:
    """Learn the voice called ``name`` from the clips and save it in the voices folder."""
    from safetensors.torch import load_file, save_file

    from engine.fileio import atomic_path
    from engine.models.lina import IstTrainer, train_voice

    slug(name)  # a usable name, before any work
    clips = _as_voice_clips(clips_or_folder)
    progress(0.0, "loading the speech models")
    models = models or load_speech_models(settings.model, settings.device)
    pairs = utterances(clips, settings, progress.sub(0.0, 0.15), cancel)
    examples = examples_of(pairs, models, progress.sub(0.15, 0.25), cancel)
    seconds = sum(example.codes.shape[-1] for example in examples) / FRAME_RATE
    log.info("learning voice %r from %d utterances, %.0f s of speech", name, len(examples), seconds)

    state_path, curve_path = training_paths(name)
    trainer = IstTrainer(models.lina, seed=settings.seed)
    evaluation = examples[:EVAL_EXAMPLES]
    if settings.resume and state_path.is_file():
        trainer.load_state_dict(load_file(str(state_path)))
        saved = json.loads(curve_path.read_text()) if curve_path.is_file() else {}
        curve, loss_before = list(saved.get("loss_curve", [])), saved.get("loss_before")
        log.info("resuming voice %r at update %d", name, trainer.updates)
    else:
        curve, loss_before = [], trainer.evaluate(evaluation)

    def save_state() -> None:
        with atomic_path(state_path) as temp:
            save_file({k: v.detach().cpu().contiguous() for k, v in trainer.state_dict().items()}, str(temp))
        write_text_atomic(curve_path, json.dumps({"loss_curve": curve, "loss_before": loss_before}))

    training = progress.sub(0.25, 1.0)

    def on_update(update: int, loss: float) -> None:
        curve.append(round(loss, 5))
        training(update / settings.updates, f"update {update}/{settings.updates}, loss {loss:.3f}")
        if update % settings.save_every == 0:
            save_state()

    try:
        train_voice(models.lina, examples, max(settings.updates - trainer.updates, 0), trainer=trainer,
                    on_update=on_update, cancel=cancel.check)
    except Cancelled:
        save_state()
        raise Cancelled(f"learning the voice {name!r} was cancelled after {trainer.updates} updates; run it "
                        f"again to resume")
    loss_after = trainer.evaluate(evaluation)
    sources = sorted({str(c.clip.source) for c in clips if c.clip.source} or {c.clip.name for c in clips})
    voice = save_learned_voice(name, trainer.voice(), {
        "source": sources[0] if len(sources) == 1 else sources, "model": settings.model,
        "updates": trainer.updates, "utterances": len(examples), "speech_s": round(seconds, 1),
        "loss_before": loss_before, "loss_after": loss_after, "loss_curve": curve})
    state_path.unlink(missing_ok=True)
    curve_path.unlink(missing_ok=True)
    progress(1.0, f"voice {name!r} learned: loss {loss_after:.3f}")
    return voice

