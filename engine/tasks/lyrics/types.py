"""The public data of lyrics transcription: timed words and lines, the result, and the settings.

The GUI's Lyrics panel, the CLI, batch and the evaluation all exchange these types, so they stay plain
values (times in seconds from the start of the transcribed clip).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from engine.audio.clip import Clip
from engine.settings import option

LYRICS_FORMATS = ("lrc", "srt", "vtt", "txt", "json")


@dataclass(frozen=True)
class Word:
    """A timed word; ``space_before`` is Whisper's own spacing (False for "'en" in "J'en" and for scripts
    written without spaces), so joined words read as Whisper wrote them."""

    start: float
    end: float
    text: str
    probability: float = 1.0
    space_before: bool = True


def join_words(words: list[Word]) -> str:
    """The words as one line of text, spaced as Whisper spaced them."""
    return "".join((" " if k and word.space_before else "") + word.text for k, word in enumerate(words))


@dataclass(frozen=True)
class LyricLine:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)

    def shifted(self, seconds: float) -> "LyricLine":
        """The same line moved by ``seconds`` (used when a selection is transcribed and put back in place)."""
        return replace(self, start=self.start + seconds, end=self.end + seconds,
                       words=[replace(w, start=w.start + seconds, end=w.end + seconds) for w in self.words])


@dataclass(frozen=True)
class Lyrics:
    lines: list[LyricLine]
    language: str = ""
    model_id: str = ""
    method: str = ""
    vocals: Clip | None = field(default=None, compare=False, repr=False)  # the stem used, if any

    @property
    def text(self) -> str:
        """One lyric line per text line: the hypothesis format the evaluation expects."""
        return "\n".join(line.text for line in self.lines)


class Segmentation(enum.Enum):
    """How the song is cut into the windows Whisper hears."""

    AUTO = "auto"                  # RMS-VAD on vocals when there are any, else Silero VAD on the mix (measured best)
    NATIVE = "native"              # Whisper's own sequential long-form loop (the baseline)
    RMS_VAD = "rms-vad"            # the paper's energy VAD on the vocals (or the mix), packed ≤30 s windows
    SILERO_VAD = "silero-vad"      # the learned Silero VAD bundled with faster-whisper, same packing
    CONCATENATION = "concatenation"  # known line timings grouped into windows (the paper's short form)

    def __str__(self) -> str:
        return self.value

    @property
    def uses_vocals(self) -> bool:
        """Whether this method segments on the vocals when a separator or stem provides them."""
        return self in (Segmentation.AUTO, Segmentation.RMS_VAD, Segmentation.SILERO_VAD)


class TranscribeFrom(enum.Enum):
    """Which audio Whisper hears; segmentation always uses the vocals when there are any."""

    MIX = "mix"
    VOCALS = "vocals"

    def __str__(self) -> str:
        return self.value


@dataclass
class LyricsSettings:
    model: str = option("whisper-base", "Whisper model: a model-store id or a CTranslate2 model folder",
                        label="Model", kind="model", model_task="transcribe", browse="folder")
    device: str = option("auto", "where Whisper runs", choices=("auto", "cpu", "cuda"), label="Device")
    compute_type: str = option("auto", "CTranslate2 compute type; auto = int8 on CPU, float16 on CUDA",
                               choices=("auto", "int8", "int8_float16", "float16", "bfloat16", "float32"),
                               label="Compute type", advanced=True)
    language: str = option("auto", "language code (en, fr, es, ...) or auto to detect it", label="Language",
                          kind="language")
    beam_size: int = option(5, "beam search width", minimum=1, maximum=20, label="Beam size",
                         advanced=True)
    best_of: int = option(5, "candidates sampled at a non-zero temperature", minimum=1, maximum=20,
                          label="Best of", advanced=True)
    temperatures: list[float] = option([0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
                                       "temperature fallback sequence (batched windows use the first)",
                                       label="Temperatures", advanced=True)
    initial_prompt: str = option("", "text that primes Whisper (names, spelling, style)",
                                 label="Initial prompt", advanced=True)
    word_timestamps: bool = option(True, "time every word (enhanced LRC, karaoke)", label="Word timestamps",
                                   advanced=True)
    batch_size: int = option(0, "windows decoded together; batching measured no faster on the CPU, and "
                                "progress moves per window", zero_means="auto: 1 on the CPU, 8 on a GPU",
                             minimum=0, maximum=64, label="Batch size", advanced=True)
    segmentation: Segmentation = option(Segmentation.AUTO, "how the song is cut into windows; auto = RMS-VAD "
                                        "on separated vocals, Silero VAD on the mix without separation",
                                        label="Segmentation", advanced=True)
    separator: str = option("none", "vocal separator for segmentation: none, hdemucs or stem:PATH",
                            label="Vocal separator", kind="separator")
    transcribe_from: TranscribeFrom = option(TranscribeFrom.MIX, "audio Whisper hears: the mix or the vocals",
                                             label="Transcribe from", advanced=True)
    line_timings: str = option("", "LRC, CSV or JSON file with line times for concatenation, or a folder "
                                   "of them named like the songs", label="Line timings",
                              advanced=True, browse="file-or-folder")
    vad_onset: float = option(0.1, "RMS-VAD: speech starts above this fraction of the peak RMS",
                              minimum=0.0, maximum=1.0, label="VAD onset", advanced=True)
    vad_offset: float = option(0.1, "RMS-VAD: speech ends below this fraction of the peak RMS",
                               minimum=0.0, maximum=1.0, label="VAD offset", advanced=True)
    silero_threshold: float = option(0.2, "Silero VAD speech probability threshold (lower than speech's usual "
                                          "0.5: singing over music scores lower)", minimum=0.0, maximum=1.0,
                                     label="Silero threshold", advanced=True)
    min_silence_ms: int = option(1000, "a silence must last this long to end a segment", minimum=0,
                                 label="Min silence (ms)", advanced=True, zero_means="any pause")
    speech_pad_ms: int = option(200, "padding added on each side of a segment", minimum=0,
                                label="Speech pad (ms)", advanced=True, zero_means="no padding")
    max_segment_s: float = option(30.0, "longest VAD segment before it is split", minimum=1.0, maximum=30.0,
                                  label="Max segment (s)", advanced=True)
    window_s: float = option(30.0, "longest window Whisper hears (segments are packed up to this)",
                             minimum=1.0, maximum=30.0, label="Window (s)", advanced=True)
    max_line_gap_s: float = option(7.0, "concatenation: a longer gap between lines starts a new run",
                                   minimum=0.0, label="Max line gap (s)", advanced=True,
                                   zero_means="every line on its own")
    line_pad_s: float = option(0.5, "concatenation: padding around each known line", minimum=0.0,
                               label="Line pad (s)", advanced=True, zero_means="no padding")
    format: list[str] = option(["lrc", "txt"], "files to write: lrc (with word tags when words are timed), "
                                               "srt, vtt, txt, json", choices=LYRICS_FORMATS, label="Formats")

    @property
    def wants_vocals(self) -> bool:
        """Whether these settings use a vocal stem (for segmentation or as what Whisper hears)."""
        return self.segmentation.uses_vocals or self.transcribe_from is TranscribeFrom.VOCALS

    def __post_init__(self) -> None:
        unknown = [fmt for fmt in self.format if fmt not in LYRICS_FORMATS]
        if unknown or not self.format:
            raise ValueError(f"unknown lyrics format(s) {', '.join(unknown) or '(none given)'}; "
                             f"choose from {', '.join(LYRICS_FORMATS)}")
