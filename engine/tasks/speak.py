"""``speak``: text to speech with Lina-Speech, in a learned voice, a voice prompted by a short clip, or the
model's own voice.

The text is normalised (numbers spelled out, typography to ASCII) and split at sentence boundaries into
chunks that fit the model's context: at most ``max_tokens`` codec frames (27 s) are decoded per chunk,
prompt included, so a chunk holds about as much text as the remaining frames can say (~14 characters a
second). Every chunk is spoken in the same voice: a learned voice starts each chunk from its initial
state; a prompt clip (3–10 s, its transcript typed or from Whisper) is teacher-forced before each chunk
and trimmed from the output; without either, the first chunk's own audio becomes the prompt of the next
ones. Chunks are joined with short crossfades. Variants are decoded as one batch; a seed makes the result
reproducible. The models come from the catalog (``lina-speech-gigaspeech`` with the codec and tokenizer
it requires).

Weight formats of the decoding step (``--weight-format``; measured by ``bench/tts.py`` on the released
size, 2-core CPU): fp32 decodes ~24 tokens/s at batch 1 (real time is 75); int8 ~91–118 tokens/s for a
max |Δlogit| of 0.21 and 99.2 % greedy-token agreement with fp32 over 500 steps; bf16 ~33–43 tokens/s,
0.023 / 99.8 %. "auto" is int8 on a CPU, bf16 (else fp16) on a GPU.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from engine.audio import dsp
from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.audio.stitch import crossfade_ramp
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress
from engine.models.lina.packed import WEIGHT_FORMATS, check_format
from engine.settings import option
from engine.tasks import registry
from engine.voices import LearnedVoice, find_voice

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
FRAME_RATE = 75  # WavTokenizer frames (= Lina tokens) per second
CHARACTERS_PER_SECOND = 14.0  # English read speech, spaces and punctuation included
PROMPT_SECONDS = (3.0, 10.0)
MAX_CARRIED_FRAMES = int(PROMPT_SECONDS[1] * FRAME_RATE)  # a chunk carried as the next prompt: ≤ 10 s
FORMATS = ("wav", "flac", "ogg", "mp3")
TEXT_EXTENSIONS = (".txt", ".csv")


@dataclass(frozen=True)
class SpeakSettings:
    voice: str = option("", "a learned voice's name, a voice file (.safetensors), or a 3-10 s audio clip to "
                            "imitate; empty: the model's own voice", browse="file")
    prompt_text: str = option("", "what the voice clip says (empty: transcribed with Whisper)",
                              label="Clip transcript")
    variants: int = option(1, "takes of the same text, decoded together", minimum=1, maximum=16)
    seed: int = option(0, "random seed: the same seed and settings give the same audio", minimum=0)
    top_k: int = option(100, "sample each token among this many most likely", minimum=1, maximum=4099,
                        label="Top-k", advanced=True)
    temperature: float = option(1.0, "sampling temperature (lower: steadier, higher: livelier)",
                                minimum=0.05, maximum=3.0, advanced=True)
    max_tokens: int = option(2000, "decoding steps per chunk including the prompt (75 per second; the model "
                                   "was trained on at most 2000)", minimum=10, maximum=2000, advanced=True)
    chunk_chars: int = option(0, "longest text chunk in characters; 0: what fits in max_tokens", minimum=0,
                              advanced=True, zero_means="what fits")
    crossfade_ms: float = option(40.0, "crossfade between chunks (ms)", minimum=0.0, maximum=500.0,
                                 label="Crossfade (ms)", advanced=True)
    weight_format: str = option("auto", "decoding weights: auto (int8 on CPU, bf16/fp16 on GPU), fp32 (exact, "
                                        "~4x slower on CPU), int8 (CPU), bf16, fp16 (GPU)",
                                choices=("auto",) + WEIGHT_FORMATS)
    whisper_model: str = option("whisper-base", "Whisper model that transcribes voice clips", label="Whisper",
                                kind="model", model_task="transcribe", advanced=True)
    model: str = option("lina-speech-gigaspeech", "text-to-speech model (catalog id)", kind="model",
                        model_task="tts")
    device: str = option("auto", "device: auto, cpu, cuda")
    format: str = option("wav", "output file format", choices=FORMATS)


@dataclass(frozen=True)
class PromptVoice:
    """A voice given by a short clip of it and what the clip says ("" → transcribed with Whisper)."""

    clip: Clip
    transcript: str = ""


Voice = PromptVoice | LearnedVoice | None


# --- text ----------------------------------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred"))


def number_words(value: int) -> str:
    """``value`` (≥ 0) in English words, e.g. 1984 → "one thousand nine hundred eighty-four"."""
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    for scale, word in _SCALES:
        if value >= scale:
            high, rest = divmod(value, scale)
            return f"{number_words(high)} {word}" + (f" {number_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _spell(match: re.Match) -> str:
    whole, fraction = match.group(1).replace(",", ""), match.group(2)
    words = number_words(int(whole))
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    return words


def normalize_text(text: str) -> str:
    """The text as the tokenizer can read it: numbers spelled out (the vocabulary has no digits), "%" and
    "&" as words, whitespace collapsed. Typography and accents are the tokenizer's ``normalize``."""
    text = re.sub(r"(\d+)\s*%", r"\1 percent", text).replace("&", " and ")
    text = re.sub(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?", _spell, text)
    return " ".join(text.split())


def _split_long(sentence: str, limit: int) -> list[str]:
    """A sentence longer than ``limit`` cut at commas or other pauses, else between words."""
    pieces: list[str] = []
    for clause in re.split(r"(?<=[,;:])\s+", sentence):
        words = clause.split(" ")
        current = ""
        for word in words:
            if current and len(current) + 1 + len(word) > limit:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        if current:
            pieces.append(current)
    merged: list[str] = []
    for piece in pieces:  # put short clauses back together while they fit
        if merged and len(merged[-1]) + 1 + len(piece) <= limit:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` characters (a single word may exceed it), cut at sentence ends when
    possible; consecutive sentences share a chunk while they fit."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]
    chunks: list[str] = []
    for sentence in sentences:
        for piece in (_split_long(sentence, limit) if len(sentence) > limit else [sentence]):
            if chunks and len(chunks[-1]) + 1 + len(piece) <= limit:
                chunks[-1] = f"{chunks[-1]} {piece}"
            else:
                chunks.append(piece)
    return chunks


def chunk_limit(settings: SpeakSettings, prompt_frames: int) -> int:
    """Characters per chunk: the user's choice, else what the frames left after the prompt can say, with
    room to spare (slow voices, pauses)."""
    if settings.chunk_chars:
        return settings.chunk_chars
    seconds = max(settings.max_tokens - prompt_frames, 1) / FRAME_RATE
    return max(20, int(0.6 * seconds * CHARACTERS_PER_SECOND))


# --- models --------------------------------------------------------------------------------------------

@dataclass
class SpeechModels:
    lina: Any  # LinaModel
    codec: Any  # WavTokenizerCodec
    tokenizer: Any  # TextTokenizer

    @property
    def device(self) -> torch.device:
        return self.lina.txt_embed.weight.device


def load_speech_models(model_id: str, device: str = "auto") -> SpeechModels:
    """The Lina model, its codec (the entry's ``config.codec``) and its text tokenizer (the required
    entry of task ``text-tokenizer``), through the catalog; one error names every missing model."""
    from engine.models.catalog import default_catalog
    from engine.models.lina.loader import TOKENIZER_TASK
    from engine.models.loading import load_catalog_model, require_installed

    catalog = default_catalog()
    entry = catalog[model_id]
    require_installed(model_id)
    codec_id = entry.config.get("codec") or next(dep for dep in entry.requires if catalog[dep].task == "codec")
    tokenizer_id = next(dep for dep in entry.requires if catalog[dep].task == TOKENIZER_TASK)
    return SpeechModels(load_catalog_model(model_id, device=device),
                        load_catalog_model(codec_id, device=device),
                        load_catalog_model(tokenizer_id, device="cpu"))


def decoding_format(requested: str, device: torch.device) -> str:
    """The weight format of the decoding step: the request, or for "auto" int8 on a CPU that has the
    kernels (else fp32) and bf16 (else fp16) on a GPU."""
    if requested != "auto":
        check_format(requested, device)
        return requested
    if device.type == "cpu":
        try:
            check_format("int8", device)
            return "int8"
        except ValueError:
            return "fp32"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def transcribe(clip: Clip, whisper_model: str, progress: Progress, cancel: CancelToken,
               language: str = "en") -> list[tuple[float, float, str]]:
    """(start, end, text) of each phrase Whisper hears in ``clip``."""
    from engine.models import whisper_ct2 as whisper
    from engine.models.loading import load_catalog_or_local

    audio = dsp.resample(dsp.to_mono(clip), whisper.SAMPLE_RATE).samples[0]
    model = load_catalog_or_local("whisper-ct2", whisper_model)
    options = whisper.DecodeOptions(language=language, word_timestamps=False)
    result = whisper.transcribe_native(model, np.ascontiguousarray(audio, dtype=np.float32), options, progress,
                                       cancel)
    return [(s.start, s.end, s.text.strip()) for s in result.segments if s.text.strip()]


def speech_waveform(clip: Clip) -> torch.Tensor:
    """[1, samples] mono at 24 kHz, the codec's input."""
    mono = dsp.resample(dsp.to_mono(clip), SAMPLE_RATE)
    return torch.from_numpy(np.ascontiguousarray(mono.samples[0], dtype=np.float32)).unsqueeze(0)


@torch.inference_mode()
def encode(codec, clip: Clip) -> torch.Tensor:
    """Codec codes [n_q, frames] of ``clip``."""
    device = next(codec.parameters()).device
    return codec.encode(speech_waveform(clip).to(device))[0].cpu()


@torch.inference_mode()
def decode(codec, codes: torch.Tensor, skip_frames: int = 0) -> np.ndarray:
    """Samples of ``codes`` [n_q, frames] without the first ``skip_frames`` frames (a prompt decoded for
    context, so the speech starts smoothly)."""
    device = next(codec.parameters()).device
    wav = codec.decode(codes.unsqueeze(0).to(device))[0].float().cpu().numpy()
    hop = wav.shape[-1] // max(codes.shape[-1], 1)
    return wav[skip_frames * hop:]


def join_with_crossfades(pieces: Sequence[np.ndarray], fade: int) -> np.ndarray:
    """The pieces end to end, each join a sin² crossfade over ``fade`` samples (shortened to fit)."""
    out = np.asarray(pieces[0], dtype=np.float32) if pieces else np.zeros(0, np.float32)
    for piece in pieces[1:]:
        piece = np.asarray(piece, dtype=np.float32)
        n = min(fade, out.size, piece.size)
        if n == 0:
            out = np.concatenate([out, piece])
            continue
        ramp = crossfade_ramp(n)
        seam = out[-n:] * (1.0 - ramp) + piece[:n] * ramp
        out = np.concatenate([out[:-n], seam, piece[n:]])
    return out


# --- the task ------------------------------------------------------------------------------------------

def resolve_voice(spec: str, transcript: str = "") -> Voice:
    """The voice a settings string names: "" → None, a learned voice's name, a voice file, or an audio clip
    (a prompt, with ``transcript``)."""
    spec = spec.strip()
    if not spec:
        return None
    learned = find_voice(spec)
    if learned is not None:
        return learned
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".safetensors":
        if not path.is_file():
            raise BadInputError(path, "voice file not found")
        return LearnedVoice(path.stem, path)
    if path.is_file():
        return PromptVoice(audio_io.load(path), transcript)
    raise BadInputError(None, f"voice {spec!r} is neither a learned voice (see `vocalis voice list`), a voice "
                              f"file nor an audio file")


@dataclass
class _Prompt:
    text: str  # said before the chunk's text
    codes: torch.Tensor  # [n_q, frames]


_TRANSCRIPTS: dict[tuple, str] = {}  # Whisper's transcript of a voice clip, by (samples digest, rate, model)


def _clip_transcript(clip: Clip, whisper_model: str, progress: Progress, cancel: CancelToken) -> str:
    """What the voice clip says, by Whisper; remembered per clip content so a batch (or a CSV of lines)
    with one voice clip transcribes it once."""
    key = (hashlib.sha1(clip.samples.tobytes()).hexdigest(), clip.sample_rate, whisper_model)
    if key not in _TRANSCRIPTS:
        progress(0.0, "transcribing the voice clip")
        transcript = " ".join(text for _, _, text in transcribe(clip, whisper_model, progress, cancel))
        if not transcript:
            raise BadInputError(clip.source, "Whisper heard no speech in the voice clip; type its transcript")
        log.info("voice clip transcript (Whisper): %s", transcript)
        _TRANSCRIPTS[key] = transcript
    return _TRANSCRIPTS[key]


def _prompt_of(voice: PromptVoice, models: SpeechModels, settings: SpeakSettings, progress: Progress,
               cancel: CancelToken) -> _Prompt:
    low, high = PROMPT_SECONDS
    duration = voice.clip.duration
    if not low - 0.05 <= duration <= high + 0.05:
        raise BadInputError(voice.clip.source, f"the voice clip is {duration:.1f} s; use {low:g}–{high:g} s of "
                                               f"clean speech (select part of the track)")
    transcript = voice.transcript.strip()
    if not transcript:
        transcript = _clip_transcript(voice.clip, settings.whisper_model, progress, cancel)
    cancel.check()
    return _Prompt(normalize_text(transcript), encode(models.codec, voice.clip))


def speak(text: str, voice: Voice, settings: SpeakSettings, progress: Progress, cancel: CancelToken, *,
          models: SpeechModels | None = None) -> list[Clip]:
    """``settings.variants`` clips (24 kHz mono) of ``text`` spoken in ``voice``."""
    from engine.models.lina import SamplingSettings, generate

    text = normalize_text(text)
    if not text:
        raise BadInputError(None, "there is no text to speak")
    progress(0.0, "loading the speech models")
    models = models or load_speech_models(settings.model, settings.device)
    models.lina.set_weight_format(decoding_format(settings.weight_format, models.device))
    tokenizer = models.tokenizer
    tokenizer.encode(text)  # before any work: raises naming the characters the vocabulary lacks
    cancel.check()

    prompt: _Prompt | None = None
    init_state = None
    if isinstance(voice, PromptVoice):
        prompt = _prompt_of(voice, models, settings, progress.sub(0.0, 0.05), cancel)
    elif isinstance(voice, LearnedVoice):
        init_state = models.lina.initial_state({k: v.to(models.device) for k, v in voice.params().items()})
    carried_frames = min(MAX_CARRIED_FRAMES, settings.max_tokens // 2)  # the longest first chunk carried on
    prompt_frames = prompt.codes.shape[-1] if prompt is not None else (carried_frames if voice is None else 0)
    chunks = split_text(text, chunk_limit(settings, prompt_frames))
    sampling = SamplingSettings(top_k=settings.top_k, temperature=settings.temperature,
                                max_tokens=settings.max_tokens)
    generator = torch.Generator(device=models.device).manual_seed(settings.seed)
    variants = settings.variants
    prompts: list[_Prompt | None] = [prompt] * variants  # per variant: what each chunk continues
    pieces: list[list[np.ndarray]] = [[] for _ in range(variants)]
    started = time.monotonic()
    total_steps = 0
    span = progress.sub(0.05, 1.0)
    for index, chunk in enumerate(chunks):
        chunk_progress = span.sub(index / len(chunks), (index + 1) / len(chunks))
        label = f"chunk {index + 1}/{len(chunks)}"
        chunk_started = time.monotonic()

        def on_token(done: int, budget: int, label=label, chunk_progress=chunk_progress,
                     chunk_started=chunk_started) -> None:
            rate = done / max(time.monotonic() - chunk_started, 1e-6)
            chunk_progress(0.95 * done / budget, f"{label}: {done} tokens, {rate:.0f} tokens/s")

        # One batch for every variant that continues the same prompt (all of them unless the voice is carried
        # from each variant's own first chunk).
        groups: dict[int, list[int]] = {}
        for variant in range(variants):
            groups.setdefault(id(prompts[variant]), []).append(variant)
        for members in groups.values():
            shared = prompts[members[0]]
            ids = tokenizer.encode(f"{shared.text} {chunk}" if shared is not None else chunk)
            result = generate(models.lina, torch.tensor(ids), prompt_codes=None if shared is None else shared.codes,
                              init_state=init_state, variants=len(members), sampling=sampling, generator=generator,
                              cancel=cancel.check, on_token=on_token)
            total_steps += result.steps
            for variant, codes, stopped in zip(members, result.codes, result.stopped):
                if not stopped:
                    log.info("%s, variant %d: no stop token within %d tokens", label, variant + 1, settings.max_tokens)
                if shared is None:
                    pieces[variant].append(decode(models.codec, codes) if codes.shape[-1] else np.zeros(0, np.float32))
                else:
                    context = torch.cat([shared.codes, codes], dim=-1)
                    pieces[variant].append(decode(models.codec, context, skip_frames=shared.codes.shape[-1]))
                if voice is None and index == 0 and 0 < codes.shape[-1] <= carried_frames:
                    prompts[variant] = _Prompt(chunk, codes)  # later chunks continue this variant's voice
        cancel.check()
        elapsed = time.monotonic() - chunk_started
        chunk_progress(1.0, f"{label} done, {total_steps / max(time.monotonic() - started, 1e-6):.0f} tokens/s")
        log.info("%s: %.1f s", label, elapsed)

    fade = int(round(settings.crossfade_ms * SAMPLE_RATE / 1000.0))
    name = _clip_name(voice, text)
    clips = []
    for variant, parts in enumerate(pieces):
        samples = join_with_crossfades(parts, fade)
        suffix = f" ({variant + 1})" if variants > 1 else ""
        clips.append(Clip(samples.reshape(1, -1), SAMPLE_RATE, name=name + suffix))
    progress(1.0, f"spoke {len(chunks)} chunk(s), {total_steps / max(time.monotonic() - started, 1e-6):.0f} tokens/s")
    return clips


def _clip_name(voice: Voice, text: str) -> str:
    words = " ".join(text.split()[:5])
    if isinstance(voice, LearnedVoice):
        return f"{voice.name}: {words}"
    if isinstance(voice, PromptVoice):
        return f"{voice.clip.name or 'prompt'}: {words}"
    return words


# --- the file task -------------------------------------------------------------------------------------

def _variant_paths(stem: Path, settings: SpeakSettings) -> list[Path]:
    if settings.variants == 1:
        return [Path(f"{stem}.{settings.format}")]
    return [Path(f"{stem}_v{i + 1}.{settings.format}") for i in range(settings.variants)]


def read_lines_csv(path: Path) -> list[tuple[str, str]]:
    """(id, text) rows of a CSV with columns ``id,text`` (a header row of those names is skipped)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadInputError(path, f"cannot read the CSV ({exc})") from exc
    if rows and [c.strip().lower() for c in rows[0]] == ["id", "text"]:
        rows = rows[1:]
    lines, seen = [], set()
    for number, row in enumerate(rows, start=1):
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise BadInputError(path, f"row {number} is not `id,text` (quote texts that hold commas)")
        line_id = row[0].strip()
        if not re.fullmatch(r"[\w][\w.-]*", line_id) or line_id in seen:
            raise BadInputError(path, f"row {number}: id {line_id!r} must be unique and made of letters, digits, "
                                      f"'.', '-', '_' (it names the output file)")
        seen.add(line_id)
        lines.append((line_id, row[1]))
    if not lines:
        raise BadInputError(path, "the CSV has no `id,text` rows")
    return lines


def outputs_for(input_path: Path, output_stem: Path, settings: SpeakSettings) -> list[Path]:
    """A .txt → ``<stem>.<format>``; a .csv → ``<stem>/<id>.<format>`` per row (``_v<n>`` per variant)."""
    if Path(input_path).suffix.lower() == ".csv":
        try:
            lines = read_lines_csv(Path(input_path))
        except BadInputError:
            return []  # process_file reports the problem
        return [p for line_id, _ in lines for p in _variant_paths(Path(output_stem) / line_id, settings)]
    return _variant_paths(Path(output_stem), settings)


def read_text_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"cannot read the text ({exc})") from exc
    if not text.strip():
        raise BadInputError(path, "the file has no text")
    return text


def process_file(input_path: Path, output_stem: Path, settings: SpeakSettings, progress: Progress,
                 cancel: CancelToken) -> list[Path]:
    input_path = Path(input_path)
    if input_path.suffix.lower() == ".csv":
        jobs = [(text, _variant_paths(Path(output_stem) / line_id, settings))
                for line_id, text in read_lines_csv(input_path)]
    else:
        jobs = [(read_text_file(input_path), _variant_paths(Path(output_stem), settings))]
    voice = resolve_voice(settings.voice, settings.prompt_text)
    models = load_speech_models(settings.model, settings.device)
    written: list[Path] = []
    for index, (text, targets) in enumerate(jobs):
        try:
            clips = speak(text, voice, settings, progress.sub(index / len(jobs), (index + 1) / len(jobs)), cancel,
                          models=models)
        except BadInputError as exc:
            raise BadInputError(input_path, exc.problem if len(jobs) == 1 else
                                f"line {index + 1}: {exc.problem}") from exc
        for clip, target in zip(clips, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(audio_io.save(clip, target))
    return written


TASK = registry.register(registry.FileTask(
    name="speak",
    help="text to speech (Lina-Speech): each .txt file, or each `id,text` row of a .csv, to an audio file",
    settings_type=SpeakSettings,
    process_file=process_file,
    output_names=_variant_paths,
    input_extensions=TEXT_EXTENSIONS,
    device_field="device",
    weight=registry.text_characters,  # a batch's progress and totals count characters to speak
    weight_unit="chars",
    outputs_for=outputs_for,
))
