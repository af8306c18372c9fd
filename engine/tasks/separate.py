"""``separate``: one track per speaker from a recording of overlapping speakers (MossFormer2).

Pipeline (the same for a clip in the GUI and for a file from the CLI or batch):

1. the input is read block by block, mixed to mono (``channels="mix"``) or split into channels
   (``"each"``, every channel separated on its own), and resampled to the model rate
   (:func:`engine.audio.resample.resample_blocks`) into a temporary spool on disk
   (:class:`engine.audio.streaming.Spool`);
2. as ClearerVoice does, the model input is normalised to −25 dBFS RMS, measured first on the whole signal
   and then on its above-average-power samples, so quiet and loud recordings reach the model alike;
3. the model runs on overlapping windows (``window`` seconds) stitched with speaker-order alignment and
   crossfades (:mod:`engine.audio.stitch`) into a second spool;
4. each speaker track is rescaled to the RMS of the input (ClearerVoice's output rescaling), resampled
   back to the input rate and written block by block.

Only a window and a few blocks are ever in memory, so a one-hour file separates in bounded memory.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
import torch

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.audio.resample import resample_blocks
from engine.audio.stitch import separate_long
from engine.audio.streaming import Spool, fit_length, scaled, zip_equal_blocks
from engine.errors import BadInputError
from engine.fileio import atomic_path
from engine.jobs import CancelToken, Progress, null_progress
from engine.models import devices
from engine.models.catalog import default_catalog
from engine.models.loading import load_catalog_model, load_local_model
from engine.models.mossformer2 import MossFormer2, architecture_from_checkpoint
from engine.settings import option
from engine.tasks import registry

DEFAULT_MODEL = "mossformer2-ss-16k"
TARGET_RMS = 10 ** (-25 / 20)  # ClearerVoice's normalisation level
BLOCK_SECONDS = 10.0  # read/resample/write granularity of the streaming passes
SILENCE_RMS = 1e-7  # below this a signal is digital silence: no gain can be measured


@dataclass(frozen=True)
class SeparateSettings:
    model: str = option(DEFAULT_MODEL, "separation model (catalog id)",
                        choices=[e.id for e in default_catalog().for_task("separate")], kind="model",
                        model_task="separate")
    checkpoint: str = option("", "use this checkpoint file instead of the installed model (its depth and "
                                 "speaker count are read from its tensors)", label="Checkpoint file",
                             advanced=True, browse="file")
    window: float = option(4.0, "seconds of audio the model sees at once; windows overlap and are aligned "
                                "so speakers keep their track", minimum=0.5, maximum=60.0, label="Window (s)",
                          advanced=True)
    overlap: float = option(0.5, "seconds shared by consecutive windows (speaker matching and crossfade)",
                            minimum=0.05, maximum=10.0, label="Overlap (s)", advanced=True)
    channels: str = option("mix", "stereo input: mix to mono for the model, or separate each channel",
                           choices=("mix", "each"), advanced=True)
    normalize: bool = option(True, "normalise the model input to -25 dBFS and rescale each speaker to the "
                                   "input's level (as ClearerVoice does)", advanced=True)
    device: str = option("auto", "where the model runs", choices=devices.DEVICE_CHOICES)
    precision: str = option("auto", "GPU arithmetic (the CPU always uses fp32)", choices=devices.PRECISION_CHOICES,
                           advanced=True)


# -- model --------------------------------------------------------------------------------------------

def load_separator(settings: SeparateSettings) -> MossFormer2:
    """The chosen catalog model, or the checkpoint file that replaces it (architecture from its tensors)."""
    if settings.checkpoint:
        return load_local_model("mossformer2", settings.checkpoint, device=settings.device,
                                precision=settings.precision)
    return load_catalog_model(settings.model, device=settings.device, precision=settings.precision)


def window_separator(model: MossFormer2, device: torch.device, dtype: torch.dtype) -> Callable[[np.ndarray], np.ndarray]:
    """The model as a numpy ``(batch, samples) → (batch, speakers, samples)`` function, under autocast in
    half precision on a GPU (fp32 weights, so norms and softmax-free attention keep their accuracy)."""
    autocast = (torch.autocast(device.type, dtype=dtype) if dtype != torch.float32
                else contextlib.nullcontext())

    def separate(mixture: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast, devices.out_of_memory_as_error(
                device, "separating speakers", "try a shorter --window"):
            sources = model(torch.from_numpy(np.ascontiguousarray(mixture, dtype=np.float32)).to(device))
            return sources.float().cpu().numpy()

    return separate


# -- streaming ----------------------------------------------------------------------------------------

def _normalising_gain(spool: Spool, block: int) -> float:
    """ClearerVoice's two-stage gain: −25 dBFS RMS over the samples whose power exceeds the mean power."""
    mean_power = spool.rms ** 2
    if spool.rms < SILENCE_RMS:
        return 1.0
    loud_sum, loud_count = 0.0, 0
    for samples in spool.blocks(block):
        power = samples.astype(np.float64) ** 2
        loud = power > mean_power
        loud_sum += float(power[loud].sum())
        loud_count += int(loud.sum())
    return TARGET_RMS / (loud_sum / max(1, loud_count)) ** 0.5


def _separate_stream(read_blocks: Callable[[], Iterator[np.ndarray]], frames: int, sample_rate: int,
                     input_channels: int, settings: SeparateSettings,
                     write: Callable[[int, np.ndarray], None], source: Path | None,
                     progress: Progress, cancel: CancelToken) -> int:
    """Run the whole pipeline; ``write(speaker, (channels, n) block)`` receives the outputs in order.
    Returns the number of speakers."""
    if frames == 0:
        raise BadInputError(source, "has no audio to separate")
    if settings.overlap >= settings.window:
        raise BadInputError(None, f"the overlap ({settings.overlap} s) must be shorter than the window "
                                  f"({settings.window} s)")
    model = load_separator(settings)
    device = next(model.parameters()).device
    separate = window_separator(model, device, devices.choose_dtype(device, settings.precision))
    rate = default_catalog()[settings.model].sample_rate
    speakers_count = model.num_speakers
    streams = 1 if settings.channels == "mix" else input_channels

    with tempfile.TemporaryDirectory(prefix="vocalis-separate-") as folder:
        inputs = [Spool(Path(folder), f"in{s}") for s in range(streams)]
        outputs = [[Spool(Path(folder), f"out{s}-{k}") for k in range(speakers_count)] for s in range(streams)]
        try:
            # 1. read, downmix or split, resample to the model rate
            reading = progress.sub(0.0, 0.05)
            for index, stream in enumerate(inputs):
                def channel_blocks(index=index) -> Iterator[np.ndarray]:
                    done = 0
                    for samples in read_blocks():
                        cancel.check()
                        done += samples.shape[1]
                        reading((index + done / frames) / streams, "reading")
                        yield samples.mean(axis=0) if settings.channels == "mix" else samples[index]

                for resampled in resample_blocks(channel_blocks(), sample_rate, rate):
                    stream.append(resampled)

            # 2.+3. normalise and separate in aligned windows
            for index, (stream, speakers) in enumerate(zip(inputs, outputs)):
                gain = _normalising_gain(stream, int(BLOCK_SECONDS * rate)) if settings.normalize else 1.0
                for separated in separate_long(lambda a, b: stream.read(a, b) * gain, stream.length, separate,
                                               int(settings.window * rate), int(settings.overlap * rate),
                                               progress=progress.sub(0.05 + 0.9 * index / streams,
                                                                     0.05 + 0.9 * (index + 1) / streams),
                                               cancel=cancel):
                    for speaker, samples in zip(speakers, separated):
                        speaker.append(samples)

            # 4. rescale, resample back, write
            writing = progress.sub(0.95, 1.0)
            for speaker in range(speakers_count):
                per_stream = []
                for stream, speakers in zip(inputs, outputs):
                    track = speakers[speaker]
                    scale = (stream.rms / track.rms if settings.normalize and track.rms > SILENCE_RMS else 1.0)
                    per_stream.append(resample_blocks(scaled(track.blocks(int(BLOCK_SECONDS * rate)), scale),
                                                      rate, sample_rate))
                joined = (np.stack(parts) if settings.channels == "each" else parts[0][None, :]
                          for parts in zip_equal_blocks(per_stream))
                for samples in fit_length(joined, frames):
                    cancel.check()
                    write(speaker, samples)
                writing((speaker + 1) / speakers_count, "writing")
        finally:
            for spool in [*inputs, *(s for speakers in outputs for s in speakers)]:
                spool.close()
    return speakers_count


# -- front ends -----------------------------------------------------------------------------------------

def separate_speakers(clip: Clip, settings: SeparateSettings, progress: Progress | None = None,
                      cancel: CancelToken | None = None) -> list[Clip]:
    """One clip per speaker, at the clip's rate and (with ``channels="each"``) channel count."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    channels = clip.channels if settings.channels == "each" else 1
    tracks: list[list[np.ndarray]] = []

    def write(speaker: int, samples: np.ndarray) -> None:
        while len(tracks) <= speaker:
            tracks.append([])
        tracks[speaker].append(samples)

    def read_blocks() -> Iterator[np.ndarray]:
        step = int(BLOCK_SECONDS * clip.sample_rate)
        for start in range(0, clip.frames, step):
            yield clip.samples[:, start:start + step]

    _separate_stream(read_blocks, clip.frames, clip.sample_rate, clip.channels, settings, write, clip.source,
                     progress, cancel)
    name = clip.name or "clip"
    return [Clip(np.concatenate(parts, axis=1).reshape(channels, -1), clip.sample_rate, source=clip.source,
                 name=f"{name} speaker {index + 1}") for index, parts in enumerate(tracks)]


def output_names(output_stem: Path, settings: SeparateSettings) -> list[Path]:
    count = (architecture_from_checkpoint(settings.checkpoint)["num_speakers"] if settings.checkpoint
             else int(default_catalog()[settings.model].config["num_spks"]))
    return [output_stem.with_name(f"{output_stem.name}_spk{k + 1}.wav") for k in range(count)]


def process_file(input_path: Path, output_stem: Path, settings: SeparateSettings, progress: Progress,
                 cancel: CancelToken) -> list[Path]:
    """Separate ``input_path`` into ``<stem>_spk1.wav``, ``<stem>_spk2.wav``, … (float WAV, input rate),
    streaming from the input to the outputs."""
    input_path = Path(input_path)
    names = output_names(Path(output_stem), settings)
    with audio_io.open_stream(input_path) as stream, contextlib.ExitStack() as outputs:
        channels = stream.channels if settings.channels == "each" else 1
        temps = [outputs.enter_context(atomic_path(name)) for name in names]
        writers = [outputs.enter_context(sf.SoundFile(str(temp), "w", samplerate=stream.sample_rate,
                                                      channels=channels, subtype="FLOAT", format="WAV"))
                   for temp in temps]
        _separate_stream(lambda: stream.blocks(), stream.frames, stream.sample_rate, stream.channels, settings,
                         lambda speaker, samples: writers[speaker].write(samples.T), input_path,
                         progress, cancel)
        # Writers must be closed before the atomic rename; ExitStack unwinds them first (LIFO).
    return names


registry.register(registry.FileTask(
    name="separate",
    help="separate overlapping speakers into one file per speaker (MossFormer2)",
    settings_type=SeparateSettings,
    process_file=process_file,
    output_names=output_names,
    device_field="device",
))
