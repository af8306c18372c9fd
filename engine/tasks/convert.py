"""``convert``: audio files to another format, sample rate, channel layout and level.

The everyday preparation step before (or after) the model tasks: e.g. a folder of mp3s to 16 kHz mono
wav, or stems to loudness-matched flac. Decoding, resampling and writing are :mod:`engine.audio.io` and
:mod:`engine.audio.dsp`; this module only chains them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.audio import dsp
from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress
from engine.settings import option
from engine.tasks import registry

FORMATS = ("wav", "flac", "ogg", "mp3", "aiff")
# Sample formats of the formats that store PCM; ogg (vorbis) and mp3 choose their own.
SAMPLE_FORMATS = {"16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}
PCM_FORMATS = {"wav", "flac", "aiff"}


@dataclass(frozen=True)
class ConvertSettings:
    format: str = option("wav", "output file format", choices=FORMATS)
    sample_rate: int = option(0, "output sample rate in Hz; 0 keeps the input's", minimum=0, maximum=384_000,
                              label="Sample rate (Hz)", zero_means="keep the input's")
    channels: str = option("keep", "keep the channels, mix down to mono, or copy mono to stereo",
                           choices=("keep", "mono", "stereo"))
    normalize: str = option("none", "level: none, peak (largest sample at --peak-dbfs) or loudness "
                                    "(ITU BS.1770 at --loudness-lufs, turned down if the peak would pass --peak-dbfs)",
                            choices=("none", "peak", "loudness"))
    peak_dbfs: float = option(-1.0, "peak target, and the ceiling for loudness normalisation (dBFS)",
                              minimum=-60.0, maximum=0.0, label="Peak (dBFS)")
    loudness_lufs: float = option(-23.0, "integrated loudness target (LUFS; -23 is EBU R128, -14 streaming)",
                                  minimum=-70.0, maximum=0.0, label="Loudness (LUFS)")
    bit_depth: str = option("16", "sample format of wav, flac and aiff: 16 or 24 bit integers, or 32 bit float",
                            choices=tuple(SAMPLE_FORMATS))

    def __post_init__(self) -> None:
        if self.sample_rate < 0:
            raise BadInputError(None, f"sample rate must be 0 (keep) or positive, got {self.sample_rate}")
        if self.peak_dbfs > 0:
            raise BadInputError(None, f"peak target must be at most 0 dBFS, got {self.peak_dbfs}")
        if self.format == "flac" and self.bit_depth == "float":
            raise BadInputError(None, "flac stores integers only; choose bit depth 16 or 24")


def output_names(output_stem: Path, settings: ConvertSettings) -> list[Path]:
    return [Path(f"{output_stem}.{settings.format}")]


def prepare(input_path: Path, settings: ConvertSettings) -> Clip:
    """Decode, resample and remix: the CPU part that batch runs for the next file ahead of time."""
    clip = audio_io.load(input_path)
    if settings.sample_rate:
        clip = dsp.resample(clip, settings.sample_rate)
    if settings.channels == "mono":
        clip = dsp.to_mono(clip)
    elif settings.channels == "stereo":
        clip = dsp.to_channels(clip, 2)
    return clip


def level(clip: Clip, settings: ConvertSettings) -> Clip:
    """Apply the chosen normalisation; loudness never pushes the peak above the peak target."""
    if settings.normalize == "peak":
        return dsp.normalize_peak(clip, settings.peak_dbfs)
    if settings.normalize == "loudness":
        clip = dsp.normalize_loudness(clip, settings.loudness_lufs)
        if dsp.peak_dbfs(clip) > settings.peak_dbfs:
            clip = dsp.normalize_peak(clip, settings.peak_dbfs)
    return clip


def process_file(input_path: Path, output_stem: Path, settings: ConvertSettings, progress: Progress,
                 cancel: CancelToken, *, prepared: Clip | None = None) -> list[Path]:
    progress(0.0, "decoding")
    clip = prepared if prepared is not None else prepare(Path(input_path), settings)
    cancel.check()
    progress(0.5, "levelling")
    clip = level(clip, settings)
    cancel.check()
    progress(0.75, "writing")
    target = output_names(output_stem, settings)[0]
    subtype = SAMPLE_FORMATS[settings.bit_depth] if settings.format in PCM_FORMATS else None
    audio_io.save(clip, target, subtype=subtype)
    progress(1.0, "written")
    return [target]


TASK = registry.register(registry.FileTask(
    name="convert",
    help="convert audio files: format, sample rate, channels, peak or loudness normalisation",
    settings_type=ConvertSettings,
    process_file=process_file,
    output_names=output_names,
    prepare=prepare,
))
