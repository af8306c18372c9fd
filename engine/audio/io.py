"""Reading and writing audio files.

Decoding goes through soundfile (libsndfile: wav, flac, ogg/vorbis/opus, mp3, aiff, au, caf, w64, ...).
Formats libsndfile does not know (m4a/aac, wma, opus in webm/mka, ...) and mp3s without a length tag
(whose length libsndfile guesses and then stops at) fall back to the ``ffmpeg`` program:
``ffprobe`` describes the file and ``ffmpeg`` decodes it to raw float32 on a pipe. That fallback needs
``ffmpeg`` on the PATH (tools/setup.sh installs it) and cannot seek cheaply, so random reads restart a decode.

Memory: :func:`load` reads block by block into one preallocated float32 ``(channels, frames)`` array, so a
soundfile format needs its decoded float32 size plus one block; the ffmpeg fallback only knows the length
approximately beforehand and may need up to twice the decoded size.

Every problem with an input is raised as :class:`BadInputError` naming the file; every problem with an
output as :class:`OutputError`. Samples that are NaN or infinite are rejected rather than silently
repaired, because they mean the file is broken and the user should know.
"""

from __future__ import annotations

import abc
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf

from engine.audio.clip import Clip
from engine.errors import BadInputError, OutputError
from engine.fileio import atomic_path
from engine.jobs import CancelToken

BLOCK_FRAMES = 1 << 16

# Export formats by file suffix: soundfile format and the subtype used when the caller names none.
SAVE_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aiff": ("AIFF", "PCM_16"),
    ".aif": ("AIFF", "PCM_16"),
}

# The audio-data chunk of wav/rf64 ("data"), aiff ("SSND") and au ("Data Size") in libsndfile's log.
_DATA_SIZE_NOTE = re.compile(r"^\s*(?:data|SSND|Data Size)\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
# Header sizes that mean "unknown length" (streamed wav) rather than a promise the file breaks.
_STREAMING_SIZES = {0, 0x7FFFFFFF, 0xFFFFFFFF}
# Writers that miscount padding by a few bytes have not lost audio.
_SIZE_SLACK = 16
# An mp3 without a Xing/Info length tag: libsndfile extrapolates the first frame's bitrate and stops
# reading at that guess, which for variable bitrate can drop most of the song. ffmpeg decodes to the end.
_MP3_LENGTH_GUESSED = re.compile(r"^\s*bitrate mode\s*:\s*constant", re.MULTILINE)
# libsndfile's SF_ERR_MALFORMED_FILE: it knows the format and the file breaks it, so no other decoder is
# tried (ffmpeg would quietly decode whatever part survives).
_LIBSNDFILE_MALFORMED = 3
# How much of an unreadable file is looked at to tell a text file from unknown binary data.
TEXT_SNIFF_BYTES = 1024


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header without decoding the audio."""

    path: Path
    frames: int
    sample_rate: int
    channels: int
    format: str
    subtype: str
    decoder: str  # "soundfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def info(path: str | Path) -> AudioInfo:
    """Describe an audio file (duration, rate, channels, format) cheaply; raises BadInputError if unusable."""
    path = _check_readable(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            return _soundfile_info(path, handle)
    except RuntimeError as exc:
        if getattr(exc, "code", None) == _LIBSNDFILE_MALFORMED:
            raise BadInputError(path, f"is damaged: {_libsndfile_reason(exc)}") from exc
        soundfile_reason = _libsndfile_reason(exc)
    return _ffprobe_info(path, soundfile_reason)


def load(path: str | Path, *, start: int = 0, frames: int | None = None,
         progress: Callable[[float, str], None] | None = None, cancel: CancelToken | None = None) -> Clip:
    """Read ``frames`` frames (all by default) from frame ``start`` into a new :class:`Clip`.

    The samples go straight into one preallocated float32 array, block by block, so no float64 copy or
    list of chunks ever exists next to it (see the module docstring for the ffmpeg fallback)."""
    with open_stream(path) as stream:
        stop = stream.frames if frames is None else min(stream.frames, start + int(frames))
        if not 0 <= start < stop:
            raise BadInputError(path, f"frame range {start}..{stop} is outside the file's {stream.frames} frames")
        samples = stream.read_into_array(start, stop, progress=progress, cancel=cancel)
        return Clip(samples, stream.sample_rate, source=Path(path))


def blocks(path: str | Path, block_frames: int = BLOCK_FRAMES, *, start: int = 0,
           stop: int | None = None) -> Iterator[np.ndarray]:
    """Yield float32 ``(channels, n)`` blocks of a file in order, for work on files too long to hold."""
    with open_stream(path) as stream:
        yield from stream.blocks(block_frames, start=start, stop=stop)


def open_stream(path: str | Path) -> "AudioStream":
    """Open a file for block reads and random reads (``with open_stream(p) as s: s.read(a, b)``)."""
    description = info(path)
    if description.decoder == "soundfile":
        return SoundfileStream(description)
    return FfmpegStream(description)


class AudioStream(abc.ABC):
    """Frames of an audio file, read on demand. Subclasses decode in :meth:`_interleaved_blocks`."""

    def __init__(self, description: AudioInfo):
        self.info = description
        self.path = description.path
        self.frames = description.frames
        self.sample_rate = description.sample_rate
        self.channels = description.channels
        # Container durations (all ffprobe knows without decoding) are estimates.
        self.length_is_estimate = description.decoder == "ffmpeg"

    def __enter__(self) -> "AudioStream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Release the file; the base stream holds nothing open."""

    @abc.abstractmethod
    def _interleaved_blocks(self, block_frames: int, start: int, stop: int | None) -> Iterator[np.ndarray]:
        """Decoded ``(n, channels)`` float32 views, valid only until the next one is produced."""

    def _checked_blocks(self, block_frames: int, start: int, stop: int | None) -> Iterator[np.ndarray]:
        """The decoded blocks with NaN/inf rejected, naming where the first one is."""
        position = start
        for block in self._interleaved_blocks(block_frames, start, stop):
            finite = np.isfinite(block)
            if not finite.all():
                frame = position + int(np.argwhere(~finite)[0][0])
                raise BadInputError(self.path, f"contains NaN or infinite samples (first at "
                                               f"{frame / self.sample_rate:.3f} s, frame {frame}); the file is damaged")
            yield block
            position += block.shape[0]

    def blocks(self, block_frames: int = BLOCK_FRAMES, *, start: int = 0,
               stop: int | None = None) -> Iterator[np.ndarray]:
        """Float32 ``(channels, n)`` blocks from ``start`` up to ``stop`` (the end by default)."""
        for block in self._checked_blocks(block_frames, start, stop):
            yield np.ascontiguousarray(block.T)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop`` as float32 ``(channels, stop - start)``; the range is clipped to the file."""
        start, stop = max(0, int(start)), min(self.frames, int(stop))
        if stop <= start:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return self.read_into_array(start, stop)

    def read_into_array(self, start: int, stop: int, *, progress: Callable[[float, str], None] | None = None,
                        cancel: CancelToken | None = None) -> np.ndarray:
        """Decode straight into one preallocated array. Where the header's length is exact, a file that
        ends early is truncated; where it is an estimate (see ``length_is_estimate``), reading to the end
        goes on until the decoder stops and the array is grown or cut to fit, which may cost one copy."""
        out = np.empty((self.channels, stop - start), dtype=np.float32)
        until_decoder_stops = self.length_is_estimate and stop >= self.frames
        filled = 0
        for block in self._checked_blocks(BLOCK_FRAMES, start, None if until_decoder_stops else stop):
            if cancel is not None:
                cancel.check()
            if filled + block.shape[0] > out.shape[1]:
                grown = np.empty((self.channels, max(filled + block.shape[0], out.shape[1] * 5 // 4)), dtype=np.float32)
                grown[:, :filled] = out[:, :filled]
                out = grown
            out[:, filled:filled + block.shape[0]] = block.T
            filled += block.shape[0]
            if progress is not None:
                progress(min(1.0, filled / (stop - start)), f"reading {self.path.name}")
        if filled == out.shape[1]:
            return out
        if filled == 0:
            raise BadInputError(self.path, "contains no audio (0 frames)")
        if not self.length_is_estimate:
            raise BadInputError(self.path, f"is truncated: the header promises {self.frames} frames, "
                                           f"only {start + filled} could be decoded")
        return np.ascontiguousarray(out[:, :filled])


class SoundfileStream(AudioStream):
    """Seekable reads through libsndfile."""

    def __init__(self, description: AudioInfo):
        super().__init__(description)
        self._handle = sf.SoundFile(str(self.path))

    def close(self) -> None:
        self._handle.close()

    def _interleaved_blocks(self, block_frames: int, start: int, stop: int | None) -> Iterator[np.ndarray]:
        stop = self.frames if stop is None else min(self.frames, stop)
        buffer = np.empty((block_frames, self.channels), dtype=np.float32)
        try:
            self._handle.seek(start)
            position = start
            while position < stop:
                block = self._handle.read(dtype="float32", always_2d=True,
                                          out=buffer[:min(block_frames, stop - position)])
                if len(block) == 0:
                    return
                yield block
                position += len(block)
        except RuntimeError as exc:
            raise BadInputError(self.path, f"is damaged: decoding failed ({_libsndfile_reason(exc)})") from exc


class FfmpegStream(AudioStream):
    """Sequential decoding through an ``ffmpeg`` subprocess (formats libsndfile cannot read)."""

    def _interleaved_blocks(self, block_frames: int, start: int, stop: int | None) -> Iterator[np.ndarray]:
        trim = f"atrim=start_sample={int(start)}" + ("" if stop is None else f":end_sample={int(stop)}")
        command = ["ffmpeg", "-v", "error", "-nostdin", "-i", str(self.path), "-map", "0:a:0", "-af", trim,
                   "-f", "f32le", "-acodec", "pcm_f32le", "-ar", str(self.sample_rate), "-ac", str(self.channels), "-"]
        frame_bytes = 4 * self.channels
        decoded = 0
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
            try:
                while True:
                    data = process.stdout.read(block_frames * frame_bytes)
                    usable = len(data) - len(data) % frame_bytes
                    if usable == 0:
                        break
                    decoded += usable // frame_bytes
                    yield np.frombuffer(data[:usable], dtype=np.float32).reshape(-1, self.channels)
            finally:
                process.kill()
                process.wait()
            if process.returncode not in (0, -9) and decoded == 0:
                message = process.stderr.read().decode(errors="replace").strip().splitlines()
                raise BadInputError(self.path, f"ffmpeg could not decode it ({message[-1] if message else 'no output'})")


def save(clip: Clip, path: str | Path, *, subtype: str | None = None) -> Path:
    """Write ``clip`` to ``path`` atomically; the format comes from the suffix (see :data:`SAVE_FORMATS`).

    ``subtype`` picks the sample format, e.g. ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"`` for wav. PCM formats
    clip samples beyond ±1 (libsndfile clips rather than wrapping)."""
    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise OutputError(path, f"unknown audio format '{path.suffix}'; use one of {', '.join(SAVE_FORMATS)}")
    file_format, default_subtype = SAVE_FORMATS[path.suffix.lower()]
    subtype = (subtype or default_subtype).upper()
    if not sf.check_format(file_format, subtype):
        raise OutputError(path, f"{file_format} files cannot hold {subtype} samples; "
                                f"choose one of {', '.join(sf.available_subtypes(file_format))}")
    if file_format == "MP3" and clip.channels > 2:
        raise OutputError(path, f"mp3 holds 1 or 2 channels, this clip has {clip.channels}; mix it down first")
    with atomic_path(path) as temp:
        try:
            with sf.SoundFile(str(temp), "w", samplerate=clip.sample_rate, channels=clip.channels,
                              format=file_format, subtype=subtype) as handle:
                for first in range(0, clip.frames, BLOCK_FRAMES):
                    handle.write(clip.samples[:, first:first + BLOCK_FRAMES].T)
        except RuntimeError as exc:
            raise OutputError(path, f"{file_format} cannot store this clip ({clip.channels} channels at "
                                    f"{clip.sample_rate} Hz): {_libsndfile_reason(exc)}") from exc
    return path


def _check_readable(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise BadInputError(path, "does not exist")
    if path.is_dir():
        raise BadInputError(path, "is a folder, not an audio file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise BadInputError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise BadInputError(path, "is empty (0 bytes)")
    return path


def _soundfile_info(path: Path, handle: sf.SoundFile) -> AudioInfo:
    # libsndfile reads what is there and notes the shortfall in its log ("data : 88200 (should be 44078)").
    promised = _DATA_SIZE_NOTE.search(handle.extra_info)
    if promised:
        declared, present = int(promised.group(1)), int(promised.group(2))
        if declared not in _STREAMING_SIZES and declared > present + _SIZE_SLACK:
            raise BadInputError(path, f"is truncated: the header promises {declared} bytes of audio, "
                                      f"the file holds {present}")
    if handle.frames == 0:
        raise BadInputError(path, "contains no audio (0 frames)")
    if handle.format == "MP3" and _MP3_LENGTH_GUESSED.search(handle.extra_info) and shutil.which("ffmpeg"):
        return _ffprobe_info(path, "mp3 without a length tag")
    return AudioInfo(path, handle.frames, handle.samplerate, handle.channels, handle.format, handle.subtype,
                     "soundfile")


def _ffprobe_info(path: Path, soundfile_reason: str) -> AudioInfo:
    if shutil.which("ffprobe") is None:
        raise BadInputError(path, _not_audio(path, f"{soundfile_reason}; install ffmpeg to read more formats"))
    result = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                             "stream=codec_name,sample_rate,channels,duration:format=format_name,duration",
                             "-of", "json", str(path)], capture_output=True, text=True)
    described = json.loads(result.stdout or "{}")
    streams = described.get("streams") or []
    if result.returncode != 0 or not streams:
        raise BadInputError(path, _not_audio(path, f"libsndfile: {soundfile_reason}; ffmpeg finds no audio stream"))
    stream, container = streams[0], described.get("format", {})
    sample_rate = int(stream.get("sample_rate") or 0)
    duration = float(stream.get("duration") or container.get("duration") or 0.0)
    frames = int(round(duration * sample_rate))
    if sample_rate <= 0 or frames <= 0:  # ffmpeg trusts a suffix enough to report an empty stream for text
        raise BadInputError(path, _not_audio(path, "") if _looks_like_text(path) else "contains no audio (0 frames)")
    return AudioInfo(path, frames, sample_rate, int(stream["channels"]),
                     container.get("format_name", "").upper(), str(stream.get("codec_name", "")).upper(), "ffmpeg")


def _libsndfile_reason(exc: Exception) -> str:
    """libsndfile's own words without the 'Error opening <path>:' prefix (the path is named separately).
    Its mp3 reader answers a file it cannot parse with "File does not exist or is not a regular file";
    the file was checked to exist before, so that means the format was not recognised."""
    message = str(exc)
    reason = message.split(": ", 1)[1].strip().rstrip(".") if message.startswith("Error opening") else message.strip()
    return "format not recognised" if reason.startswith("File does not exist or is not a regular file") else reason


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(TEXT_SNIFF_BYTES)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the sample is still text
        text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
    return bool(text) and all(char.isprintable() or char in "\r\n\t" for char in text)


def _not_audio(path: Path, decoders_said: str) -> str:
    """Why no decoder could read ``path``, in the words a person needs (often a file renamed by mistake);
    what the decoders said only matters when the file is not plain text."""
    if _looks_like_text(path):
        return "is not audio: it is a text file" + (f" named {path.suffix}" if path.suffix else "")
    return f"is not audio: no decoder recognises its contents ({decoders_said})"
