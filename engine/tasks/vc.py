"""``vc``: zero-shot voice conversion — say what the source says in the voice of a short timbre reference.

Pipeline (Seed-VC v1; the same for a clip in the GUI and a file from the CLI or batch):

1. the source is mixed to mono and resampled to 16 kHz (content) and the DiT's 22.05 kHz (frame count); the
   timbre reference is mixed to mono, resampled to 22.05 kHz and cut to its first 25 s;
2. content features (Whisper-small's encoder) of the source in 30 s windows overlapping by 5 s, and of the
   reference; each is stretched by the length regulator to its mel frame count, the source's times the
   ``length`` ratio;
3. the prompt: the reference's log-mel and its CAM++ speaker embedding (the style);
4. the DiT samples the source's mel by Euler integration of the flow (``steps``, classifier-free guidance
   ``cfg``) in chunks that fit its 30 s context with the reference prompt in front of each; BigVGAN turns
   each chunk's mel into audio, consecutive chunks overlap by 16 frames joined with a crossfade;
5. the result goes back to the source's sample rate, with the length ``round(source frames · length)``.

The model's working memory is bounded by one chunk; what grows with the source is only its features
(about 0.5 MB per second) and the output audio. Cancel is honoured between Euler steps, chunks and encoder
windows. :func:`score_conversion` gives the voice-similarity figures shown with the result.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.audio import dsp
from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.audio.stitch import crossfade_windows
from engine.errors import BadInputError
from engine.fileio import write_text_atomic
from engine.jobs import CancelToken, Progress, null_progress
from engine.models import devices, loading
from engine.models.campplus import cosine_similarity
from engine.models.catalog import default_catalog
from engine.models.seedvc import log_mel
from engine.settings import option
from engine.tasks import registry

DEFAULT_MODEL = "seed-vc-v1"
REFERENCE_MAX_SECONDS = 25.0  # Seed-VC cuts the timbre reference to its first 25 s
CONTEXT_SECONDS = 30  # the DiT's context: prompt + chunk frames
CHUNK_OVERLAP_FRAMES = 16  # frames shared by consecutive chunks, crossfaded
MIN_REFERENCE_SECONDS = 0.5
OUTPUT_SUFFIX = "_vc"


@dataclass(frozen=True)
class VCSettings:
    timbre: str = option("", "recording of the target voice (5-10 s is ideal; only its first 25 s are used)",
                         label="Timbre reference", browse="file")
    style: str = option("", "style reference (prosody: pitch contour, energy, rhythm) for a StableVC run; Seed-VC "
                            "v1 has a single speaker condition, so there it must be empty or the timbre file",
                        label="Style reference", browse="file", advanced=True)
    model: str = option(DEFAULT_MODEL, "voice conversion model: a catalog id, or a trained StableVC run folder "
                                       f"(`vocalis train stablevc`); catalog: "
                                       f"{', '.join(e.id for e in default_catalog().for_task('vc'))}",
                        kind="model", model_task="vc", browse="folder")
    steps: int = option(10, "Euler steps of the flow: 4-10 fast, 25-50 best", minimum=1, maximum=200,
                        label="Steps")
    cfg: float = option(0.7, "classifier-free guidance rate (0 turns it off and halves the work)", minimum=0.0,
                        maximum=3.0, label="CFG rate")
    style_cfg: float = option(0.7, "StableVC runs: guidance of the style reference (cfg guides the timbre)",
                              minimum=0.0, maximum=3.0, label="Style guidance", advanced=True)
    length: float = option(1.0, "output duration / input duration (below 1 speaks faster)", minimum=0.5,
                           maximum=2.0, label="Length ratio", advanced=True)
    seed: int = option(0, "seed of the initial noise (same seed, same settings: same result)", label="Seed",
                       advanced=True)
    device: str = option("auto", "where the models run", choices=devices.DEVICE_CHOICES)
    precision: str = option("auto", "GPU arithmetic of the DiT and the content encoder (the CPU always uses "
                                    "fp32)", choices=devices.PRECISION_CHOICES, advanced=True)


@dataclass(frozen=True)
class VoiceModels:
    """The four models of one conversion, each from the catalog."""

    dit: Any
    content: Any
    speaker: Any
    vocoder: Any


@dataclass(frozen=True)
class Similarity:
    """CAM++ cosine similarities to the timbre reference (1 = same direction)."""

    output: float
    source: float

    def as_dict(self) -> dict[str, float]:
        return {"output_to_timbre": round(self.output, 4), "source_to_timbre": round(self.source, 4)}


def load_voice_models(settings: VCSettings) -> VoiceModels:
    """The DiT named by ``settings.model`` and the content encoder, speaker model and vocoder its catalog
    entry names; any that is not installed is named in one error."""
    entry = loading.default_store().catalog[settings.model]
    loading.require_installed(settings.model)
    config = entry.config

    def load(model_id: str, precision: str | None) -> Any:
        return loading.load_catalog_model(model_id, device=settings.device, precision=precision)

    return VoiceModels(dit=load(settings.model, settings.precision),
                       content=load(config["content_encoder"], settings.precision),
                       speaker=load(config["style_encoder"], "fp32"),
                       vocoder=load(config["vocoder"], "fp32"))


def _mono(clip: Clip, sample_rate: int, quality: str = "hq") -> np.ndarray:
    return dsp.resample(dsp.to_mono(clip), sample_rate, quality).samples[0]


def _check_style(timbre: Clip, style: Clip | None) -> None:
    if style is not None and style is not timbre and not (
            style.sample_rate == timbre.sample_rate and style.samples.shape == timbre.samples.shape
            and np.array_equal(style.samples, timbre.samples)):
        raise BadInputError(style.source, "Seed-VC v1 has a single speaker condition: the style reference must be "
                                          "the timbre reference (leave it empty)")


def convert_voice(source: Clip, timbre: Clip, settings: VCSettings, progress: Progress | None = None,
                  cancel: CancelToken | None = None, *, style: Clip | None = None,
                  models: VoiceModels | None = None) -> Clip:
    """``source`` spoken in the voice of ``timbre``, mono at the source's sample rate (see the module
    docstring). ``style`` is accepted for the shared VC interface and must be the timbre for Seed-VC v1."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    if stablevc_run(settings):
        return convert_with_run(source, timbre, style, settings, progress, cancel)
    _check_style(timbre, style)
    if source.frames == 0:
        raise BadInputError(source.source, "the source is empty")
    if timbre.duration < MIN_REFERENCE_SECONDS:
        raise BadInputError(timbre.source, f"the timbre reference is {timbre.duration:.2f} s long; it needs at least "
                                           f"{MIN_REFERENCE_SECONDS} s of the target voice (5-10 s is best)")
    models = models or load_voice_models(settings)
    dit, content, speaker, vocoder = models.dit, models.content, models.speaker, models.vocoder
    mel_settings = dit.config.mel
    rate, hop = mel_settings.sample_rate, mel_settings.hop_length
    if vocoder.sample_rate != rate or vocoder.hop_length != hop:
        raise BadInputError(None, f"the vocoder ({vocoder.sample_rate} Hz, hop {vocoder.hop_length}) does not fit the "
                                  f"DiT's mel ({rate} Hz, hop {hop})")

    progress(0.0, "preparing the reference")
    reference = _mono(timbre, rate)[:int(REFERENCE_MAX_SECONDS * rate)]
    # The content encoder hears 16 kHz audio resampled the way Seed-VC resamples it (torchaudio's sinc), so
    # the features, and the conversion, match the reference's.
    reference_16k = dsp.resample(Clip(reference[None], rate), content.sample_rate, "reference").samples[0]
    prompt_mel = log_mel(reference, mel_settings)
    prompt_frames = prompt_mel.shape[-1]
    style_embedding = speaker.embed_waveform(reference, rate, source=timbre.source)
    mu_reference = dit.regulate(content.encode(reference_16k)[None], torch.tensor([prompt_frames]))
    cancel.check()

    progress(0.02, "content features")
    source_16k = _mono(source, content.sample_rate, "reference")
    source_samples = int(round(source.frames * rate / source.sample_rate))
    frames = int(source_samples // hop * settings.length)
    if frames < 1:
        raise BadInputError(source.source, "the source is shorter than one mel frame")
    features = content.encode_long(source_16k, cancel=cancel.check)
    mu_source = dit.regulate(features[None], torch.tensor([frames]))
    del features
    cancel.check()

    context = rate // hop * CONTEXT_SECONDS
    window = context - prompt_frames
    if window < CHUNK_OVERLAP_FRAMES * 3:
        raise BadInputError(timbre.source, "the timbre reference leaves no room in the model's context")
    chunks = max(1, math.ceil((frames - CHUNK_OVERLAP_FRAMES) / (window - CHUNK_OVERLAP_FRAMES)))
    convert = progress.sub(0.05, 0.98)
    done_chunks = 0

    def render(start: int, stop: int) -> np.ndarray:
        nonlocal done_chunks
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + start)
        noise = torch.randn(1, mel_settings.n_mels, prompt_frames + stop - start, generator=generator)
        mu = torch.cat([mu_reference, mu_source[:, start:stop]], dim=1)

        def on_step(step: int) -> None:
            cancel.check()
            convert((done_chunks + step / (settings.steps + 1)) / chunks,
                    f"chunk {done_chunks + 1}/{chunks}, step {step}/{settings.steps}")

        mel = dit.sample(mu, prompt_mel, style_embedding, noise, settings.steps, settings.cfg, on_step=on_step)
        # One vocoder pass per chunk: the chunk already bounds the memory, and windows inside it would vocode
        # their overlaps twice.
        wave = vocoder(mel[..., prompt_frames:])[0].float().cpu().numpy()
        done_chunks += 1
        return wave

    # The last chunk is cut at the end rather than moved back to a full window: the DiT's cost grows with
    # the chunk, and a full last window would generate most of its frames a second time.
    blocks = crossfade_windows(render, frames, window, CHUNK_OVERLAP_FRAMES, CHUNK_OVERLAP_FRAMES, scale=hop,
                               short_last=True, cancel=cancel)
    converted = np.concatenate(list(blocks), axis=-1)
    progress(0.98, "resampling")
    out = dsp.resample(Clip(converted, rate), source.sample_rate).samples
    length = int(round(source.frames * settings.length))
    out = np.pad(out[:, :length], ((0, 0), (0, max(0, length - out.shape[1]))))
    progress(1.0, "converted")
    name = f"{source.name or 'source'} → {timbre.name or 'timbre'}"
    return Clip(np.ascontiguousarray(out, dtype=np.float32), source.sample_rate, name=name)


def score_conversion(source: Clip, timbre: Clip, converted: Clip, speaker: Any) -> Similarity:
    """CAM++ cosine similarity of the converted clip and of the source to the timbre reference (the
    reference cut to the part the conversion used)."""
    reference = dsp.to_mono(timbre)
    reference = reference.with_samples(reference.samples[:, :int(REFERENCE_MAX_SECONDS * timbre.sample_rate)])

    def embed(clip: Clip) -> torch.Tensor:
        mono = dsp.to_mono(clip)
        return speaker.embed_waveform(mono.samples[0], mono.sample_rate, source=clip.source)

    target = embed(reference)
    return Similarity(output=float(cosine_similarity(embed(converted), target)),
                      source=float(cosine_similarity(embed(source), target)))


@dataclass(frozen=True)
class VoiceConversion:
    """A converted clip with its voice-similarity figures."""

    clip: Clip
    similarity: Similarity


def convert_and_score(source: Clip, timbre: Clip, settings: VCSettings, progress: Progress | None = None,
                      cancel: CancelToken | None = None, *, style: Clip | None = None) -> VoiceConversion:
    """:func:`convert_voice`, then :func:`score_conversion` with the same speaker model (the GUI's job and
    the file task)."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    if stablevc_run(settings):
        run = run_models(settings)
        converted = convert_with_run(source, timbre, style, settings, progress.sub(0.0, 0.95), cancel, models=run)
        progress(0.96, "voice similarity")
        return VoiceConversion(converted, score_conversion(source, timbre, converted, run.speaker))
    models = load_voice_models(settings)
    converted = convert_voice(source, timbre, settings, progress.sub(0.0, 0.95), cancel, style=style,
                              models=models)
    cancel.check()
    progress(0.96, "voice similarity")
    similarity = score_conversion(source, timbre, converted, models.speaker)
    progress(1.0, "done")
    return VoiceConversion(converted, similarity)


# -- StableVC runs -------------------------------------------------------------------------------------
# A model setting naming a trained StableVC run folder converts with it; the style reference is live there.

def stablevc_run(settings: VCSettings) -> bool:
    from engine.models.stablevc import is_run

    return settings.model not in default_catalog() and is_run(settings.model)


def run_models(settings: VCSettings) -> Any:
    """The run's models, cached (a batch loads them once) until the run's weights change."""
    from engine.models.cache import model_cache
    from engine.models.stablevc.convert import load_run_models
    from engine.models.stablevc.run import WEIGHTS_NAME

    device = devices.resolve(settings.device)
    weights = Path(settings.model).resolve() / WEIGHTS_NAME
    key = ("stablevc-run", str(weights), weights.stat().st_mtime_ns, str(device))

    def load() -> Any:
        return load_run_models(settings.model, device)

    return model_cache.get(key, load)


def convert_with_run(source: Clip, timbre: Clip, style: Clip | None, settings: VCSettings, progress: Progress,
                     cancel: CancelToken, *, models: Any = None) -> Clip:
    """StableVC: timbre from ``timbre``, prosody and rhythm from ``style`` (the timbre when None)."""
    from engine.models.stablevc.convert import convert

    return convert(source, timbre, style if style is not None else timbre, models or run_models(settings),
                   steps=settings.steps, timbre_scale=settings.cfg, style_scale=settings.style_cfg, length=settings.length,
                   seed=settings.seed, progress=progress, cancel=cancel)


# -- file task ------------------------------------------------------------------------------------------

def output_names(output_stem: Path, settings: VCSettings) -> list[Path]:
    stem = output_stem.with_name(output_stem.name + OUTPUT_SUFFIX)
    return [stem.with_suffix(".wav"), stem.with_suffix(".json")]


def _load_reference(settings: VCSettings) -> Clip:
    if not settings.timbre:
        raise BadInputError(None, "voice conversion needs a timbre reference (--timbre FILE)")
    if settings.style and Path(settings.style).resolve() != Path(settings.timbre).resolve() and \
            not stablevc_run(settings):
        raise BadInputError(settings.style, "Seed-VC v1 has a single speaker condition: the style reference must be "
                                            "the timbre reference (leave --style empty)")
    return audio_io.load(settings.timbre)


def process_file(input_path: Path, output_stem: Path, settings: VCSettings, progress: Progress,
                 cancel: CancelToken) -> list[Path]:
    """Convert one file: ``<stem>_vc.wav`` and ``<stem>_vc.json`` (settings and voice similarity)."""
    timbre = _load_reference(settings)
    source = audio_io.load(input_path, cancel=cancel)
    style = audio_io.load(settings.style) if settings.style and stablevc_run(settings) else None
    result = convert_and_score(source, timbre, settings, progress.sub(0.0, 0.98), cancel, style=style)
    similarity = result.similarity
    wav_path, report_path = output_names(output_stem, settings)
    audio_io.save(result.clip, wav_path)
    report = {"input": str(input_path), "timbre": settings.timbre, "style": settings.style, "model": settings.model, "steps": settings.steps,
              "cfg": settings.cfg, "length": settings.length, "seed": settings.seed,
              "similarity": similarity.as_dict()}
    write_text_atomic(report_path, json.dumps(report, indent=2) + "\n")
    progress(1.0, "done")
    return [wav_path, report_path]


def report_similarity(outputs: list[Path]) -> dict[str, float]:
    """The voice-similarity figures of a finished file, from its report."""
    report = next(path for path in outputs if path.suffix == ".json")
    return json.loads(report.read_text(encoding="utf-8"))["similarity"]


registry.register(registry.FileTask(
    name="vc",
    help="convert the voice of recordings to the voice of a timbre reference (Seed-VC v1), or with a trained "
         "StableVC run (--model RUN_DIR) to a timbre and a separate --style reference",
    settings_type=VCSettings,
    process_file=process_file,
    output_names=output_names,
    device_field="device",
    summary=report_similarity,
))
