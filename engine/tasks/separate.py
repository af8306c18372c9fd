"""``separate``: one track per speaker from a recording of overlapping speakers (MossFormer2).

Pipeline (the same for a clip in the GUI and for a file from the CLI or batch):

1. the input is read block by block, mixed to mono (``channels="mix"``) or split into channels
   (``"each"``, every channel separated on its own), and resampled to the model rate (soxr, streaming)
   into a temporary spool on disk;
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
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr
import torch

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.audio.stitch import separate_long
from engine.errors import BadInputError
from engine.fileio import atomic_path
from engine.jobs import CancelToken, Progress, null_progress
from engine.models import devices
from engine.models.cache import model_cache
from engine.models.catalog import default_catalog
from engine.models.checkpoint import read_tensors
from engine.models.mossformer2 import MossFormer2, load_model
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

@dataclass(frozen=True)
class _ModelSpec:
    checkpoint: Path
    sample_rate: int
    num_layers: int
    num_speakers: int
    encoder_dim: int
    sequence_dim: int
    kernel_size: int


def _spec_from_checkpoint(path: Path, sample_rate: int) -> _ModelSpec:
    """Architecture values of an imported checkpoint, read from its tensor names and shapes."""
    tensors = read_tensors(path)
    names = {name.split("module.", 1)[-1]: tensor.shape for name, tensor in tensors.items()}
    try:
        encoder = names["enc.conv1d.weight"]
        speakers_out = names["mask_net.conv1d_out.weight"]
    except KeyError as exc:
        raise BadInputError(path, f"is not a MossFormer2 checkpoint (no {exc.args[0]})") from None
    depth = 1 + max(int(n.split(".layers.")[1].split(".")[0]) for n in names if ".mossformerM.layers." in n)
    sequence_dim = names["mask_net.conv1d_encoder.weight"][0]
    return _ModelSpec(path, sample_rate, depth, speakers_out[0] // sequence_dim, encoder[0], sequence_dim,
                      encoder[2])


def model_spec(settings: SeparateSettings) -> _ModelSpec:
    entry = default_catalog()[settings.model]
    if settings.checkpoint:
        return _spec_from_checkpoint(Path(settings.checkpoint), entry.sample_rate)
    from engine.models.store import resolve

    installed = resolve(settings.model)
    config = installed.config
    return _ModelSpec(installed.path, entry.sample_rate, int(config["num_mossformer_layer"]),
                      int(config["num_spks"]), int(config["encoder_embedding_dim"]),
                      int(config["mossformer_sequence_dim"]), int(config["encoder_kernel_size"]))


def _model(spec: _ModelSpec, device: torch.device) -> MossFormer2:
    def build() -> MossFormer2:
        return load_model(spec.checkpoint, spec.num_layers, spec.num_speakers, device,
                          encoder_dim=spec.encoder_dim, sequence_dim=spec.sequence_dim,
                          kernel_size=spec.kernel_size)

    return model_cache.get(("mossformer2", str(spec), str(device)), build)


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


# -- streaming helpers ----------------------------------------------------------------------------------

class _Spool:
    """Append-only float32 signal in a temporary file with random reads: keeps long signals off the heap."""

    def __init__(self, folder: Path, name: str):
        self.path = folder / f"{name}.f32"
        self._handle = self.path.open("w+b")
        self.length = 0
        self.sum_squares = 0.0

    def append(self, samples: np.ndarray) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._handle.seek(0, 2)
        self._handle.write(samples.tobytes())
        self.length += samples.shape[0]
        self.sum_squares += float(np.dot(samples, samples))

    def read(self, start: int, stop: int) -> np.ndarray:
        self._handle.seek(4 * start)
        return np.frombuffer(self._handle.read(4 * (stop - start)), dtype=np.float32).copy()

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.length, size):
            yield self.read(start, min(self.length, start + size))

    @property
    def rms(self) -> float:
        return (self.sum_squares / max(1, self.length)) ** 0.5

    def close(self) -> None:
        self._handle.close()


def _normalising_gain(spool: _Spool, block: int) -> float:
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


def _resampled(blocks: Iterable[np.ndarray], source_rate: int, target_rate: int) -> Iterator[np.ndarray]:
    """Stream-resample 1-D blocks (soxr keeps its filter state between blocks, so seams are seamless)."""
    if source_rate == target_rate:
        yield from blocks
        return
    stream = soxr.ResampleStream(source_rate, target_rate, 1, dtype="float32")
    for samples in blocks:
        yield stream.resample_chunk(samples)
    yield stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def _scaled(blocks: Iterable[np.ndarray], scale: float) -> Iterator[np.ndarray]:
    for samples in blocks:
        yield samples * scale


def _fit_length(blocks: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """Trim or zero-pad a stream of ``(channels, n)`` blocks to exactly ``length`` frames."""
    done = 0
    channels = 1
    for block in blocks:
        channels = block.shape[0]
        block = block[:, :length - done]
        done += block.shape[1]
        if block.shape[1]:
            yield block
    if done < length:
        yield np.zeros((channels, length - done), dtype=np.float32)


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
    spec = model_spec(settings)
    device = devices.resolve(settings.device)
    separate = window_separator(_model(spec, device), device, devices.choose_dtype(device, settings.precision))
    rate = spec.sample_rate
    streams = 1 if settings.channels == "mix" else input_channels

    with tempfile.TemporaryDirectory(prefix="vocalis-separate-") as folder:
        inputs = [_Spool(Path(folder), f"in{s}") for s in range(streams)]
        outputs = [[_Spool(Path(folder), f"out{s}-{k}") for k in range(spec.num_speakers)] for s in range(streams)]
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

                for resampled in _resampled(channel_blocks(), sample_rate, rate):
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
            for speaker in range(spec.num_speakers):
                per_stream = []
                for stream, speakers in zip(inputs, outputs):
                    track = speakers[speaker]
                    scale = (stream.rms / track.rms if settings.normalize and track.rms > SILENCE_RMS else 1.0)
                    per_stream.append(_resampled(_scaled(track.blocks(int(BLOCK_SECONDS * rate)), scale),
                                                 rate, sample_rate))
                joined = (np.stack(parts) if settings.channels == "each" else parts[0][None, :]
                          for parts in _zip_equal_blocks(per_stream))
                for samples in _fit_length(joined, frames):
                    cancel.check()
                    write(speaker, samples)
                writing((speaker + 1) / spec.num_speakers, "writing")
        finally:
            for spool in [*inputs, *(s for speakers in outputs for s in speakers)]:
                spool.close()
    return spec.num_speakers


def _zip_equal_blocks(streams: list[Iterator[np.ndarray]]) -> Iterator[list[np.ndarray]]:
    """Regroup parallel 1-D streams (same total length, different block sizes) into equal-length tuples."""
    buffers = [np.zeros(0, dtype=np.float32) for _ in streams]
    exhausted = False
    while not exhausted:
        exhausted = True
        for i, stream in enumerate(streams):
            piece = next(stream, None)
            if piece is not None:
                exhausted = False
                buffers[i] = np.concatenate((buffers[i], piece))
        ready = min(len(b) for b in buffers)
        if ready or exhausted:
            yield [b[:ready] for b in buffers]
            buffers = [b[ready:] for b in buffers]


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
    config = default_catalog()[settings.model].config
    count = (model_spec(settings).num_speakers if settings.checkpoint else int(config["num_spks"]))
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
