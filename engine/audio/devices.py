"""Playback and recording through sounddevice (PortAudio), with no Qt.

The audio callbacks run on PortAudio's real-time thread, so they only copy between the stream and buffers
prepared beforehand and update a few numbers in preallocated arrays: no buffers are allocated there, no
locks are taken and no model work is done. Everything else (preparing the buffer, collecting recorded
chunks, turning them into a :class:`Clip`) happens on ordinary threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import sounddevice as sd

from engine.audio.clip import Clip
from engine.audio.dsp import resample
from engine.errors import VocalisError


class AudioDeviceError(VocalisError):
    """A sound device is missing, busy or does not accept the requested settings."""


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float

    @property
    def label(self) -> str:
        return f"{self.name} ({self.host_api})"


def rescan_devices() -> None:
    """Make PortAudio enumerate devices again (it only does so when initialised), e.g. after a sound
    server started. Must not be called while a stream is open."""
    sd._terminate()
    sd._initialize()


def list_devices(kind: str | None = None) -> list[AudioDevice]:
    """All devices, or only those with inputs (``kind="input"``) or outputs (``kind="output"``)."""
    if kind not in (None, "input", "output"):
        raise ValueError(f"kind must be 'input', 'output' or None, not {kind!r}")
    try:
        host_apis = [api["name"] for api in sd.query_hostapis()]
        found = sd.query_devices()
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list audio devices: {exc}") from exc
    devices = []
    for info in found:
        device = AudioDevice(index=int(info["index"]), name=info["name"], host_api=host_apis[info["hostapi"]],
                             max_input_channels=int(info["max_input_channels"]),
                             max_output_channels=int(info["max_output_channels"]),
                             default_sample_rate=float(info["default_samplerate"]))
        if kind == "input" and device.max_input_channels == 0:
            continue
        if kind == "output" and device.max_output_channels == 0:
            continue
        devices.append(device)
    return devices


def find_device(device: int | str | None, kind: str) -> AudioDevice:
    """The device chosen by index or (part of its) name, or the system default for ``kind`` when None."""
    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        wanted = "the default device" if device is None else f"device {device!r}"
        raise AudioDeviceError(f"no {kind} audio device: {wanted} is not available ({exc})") from exc
    return next(d for d in list_devices() if d.index == int(info["index"]))


def _accepts(output: AudioDevice, channels: int, rate: int) -> bool:
    try:
        sd.check_output_settings(output.index, channels=channels, samplerate=rate, dtype="float32")
    except (sd.PortAudioError, ValueError):
        return False
    return True


def _db(value: float) -> float:
    return 20.0 * np.log10(max(value, 1e-10))


class Player:
    """Plays a clip, or a range of it, optionally looping, and reports where playback is.

    ``position`` is what is being heard now: the frames handed to PortAudio (interpolated in time within
    the last block) less the stream's output latency. Counting handed-over frames rather than trusting
    the host's DAC timestamps keeps the cursor still while a sound server is slow to start (PulseAudio
    through ALSA can take a second) instead of running ahead of the sound. The default latency is
    PortAudio's "high" one (tens of milliseconds): the cursor compensates for it, while the "low" one made
    PulseAudio under ALSA underrun and stall for seconds on a busy machine.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int | None = None,
                 latency: str | float = "high"):
        self.device = device
        self.sample_rate = sample_rate  # None: the clip's own rate
        self.latency = latency
        self._stream: sd.OutputStream | None = None
        self._buffer = np.zeros((0, 1), np.float32)  # frames × channels, what the callback copies from
        self._rate = 1
        # Shared with the callback, written in place: [next frame, loop start, loop end, stop frame].
        self._cursor = np.zeros(4, np.int64)
        # [frame at the start of the last block, its length, time.monotonic() at that callback].
        self._timing = np.zeros(3, np.float64)
        self._looping = np.zeros(1, np.bool_)
        self._paused = False
        self._finished = threading.Event()
        self._last_heard = 0  # the last position reported, read and written by callers only

    # -- control ------------------------------------------------------------------------------------
    def play(self, clip: Clip, start_s: float = 0.0, end_s: float | None = None, loop: bool = False) -> None:
        """Start playing ``clip`` from ``start_s`` to ``end_s`` (the end of the clip when None); with
        ``loop`` the range repeats until :meth:`stop`."""
        self.stop()
        output = find_device(self.device, "output")
        channels = clip.channels
        if channels > output.max_output_channels:
            # More channels than the device has: play the mix on as many channels as it offers, up to two.
            channels = min(2, output.max_output_channels)
        rate = self.sample_rate or clip.sample_rate
        if self.sample_rate is None and not _accepts(output, channels, rate):
            rate = int(output.default_sample_rate)  # e.g. an 8 kHz clip on a 48 kHz-only card
        samples = clip.samples if rate == clip.sample_rate else resample(clip, rate).samples
        if channels != clip.channels:
            samples = np.repeat(samples.mean(axis=0, keepdims=True), channels, axis=0)
        self._buffer = np.ascontiguousarray(samples.T, dtype=np.float32)
        self._rate = rate
        total = self._buffer.shape[0]
        start = int(np.clip(round(start_s * rate), 0, total))
        end = total if end_s is None else int(np.clip(round(end_s * rate), start, total))
        self._cursor[:] = (start, start, end, end)
        self._last_heard = start
        self._timing[:] = (start, 0.0, 0.0)
        self._looping[0] = loop
        self._paused = False
        self._finished.clear()
        try:
            self._stream = sd.OutputStream(device=output.index, samplerate=rate, channels=channels,
                                           dtype="float32", latency=self.latency, callback=self._callback,
                                           finished_callback=self._finished.set)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioDeviceError(f"cannot play on {output.label} at {rate} Hz, {channels} channel(s): {exc}") from exc

    def pause(self) -> None:
        """Stop the sound but keep the position; :meth:`resume` continues from there."""
        if self._stream is not None and self._stream.active:
            self._cursor[0] = self.position_frames
            self._stream.abort()
            self._paused = True

    def resume(self) -> None:
        if self._stream is not None and self._paused:
            self._timing[:] = (self._cursor[0], 0.0, 0.0)
            self._last_heard = int(self._cursor[0])
            self._paused = False
            self._finished.clear()
            self._stream.start()

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.abort()
            self._stream.close()
            self._stream = None
        self._paused = False
        self._finished.set()

    def set_loop(self, start_s: float, end_s: float, enabled: bool = True) -> None:
        """Change the range while playing: repeat it (``enabled``) or stop at its end."""
        start = int(np.clip(round(start_s * self._rate), 0, self._buffer.shape[0]))
        end = int(np.clip(round(end_s * self._rate), start, self._buffer.shape[0]))
        self._cursor[1:4] = (start, end, end)
        self._looping[0] = enabled

    def wait(self, timeout: float | None = None) -> bool:
        """Block until playback ends by itself (or is stopped); False on timeout."""
        return self._finished.wait(timeout)

    # -- state ----------------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        # PortAudio may still call a stream active for a moment after its finished callback ran.
        return self._stream is not None and self._stream.active and not self._finished.is_set()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def position_frames(self) -> int:
        if not self.playing:
            return int(self._cursor[0])
        block_start, block_frames, callback_time = self._timing
        if callback_time == 0.0:  # started, but no block handed over yet
            return int(block_start)
        handed_over = block_start + min(block_frames, (time.monotonic() - callback_time) * self._rate)
        heard = handed_over - self._stream.latency * self._rate
        loop_start, loop_end = int(self._cursor[1]), int(self._cursor[2])
        if self._looping[0] and heard >= loop_end > loop_start:
            heard = loop_start + (heard - loop_start) % (loop_end - loop_start)
        heard = int(np.clip(heard, loop_start, self._buffer.shape[0]))
        # Callbacks jitter; the cursor must not step back for that. Only a loop wrapping around moves it
        # back (by about the loop length).
        wrapped = self._looping[0] and heard < self._last_heard - (loop_end - loop_start) / 2
        if heard < self._last_heard and not wrapped:
            return self._last_heard
        self._last_heard = heard
        return heard

    @property
    def position(self) -> float:
        """Seconds into the clip of what is being heard now."""
        return self.position_frames / self._rate

    # -- real-time thread -------------------------------------------------------------------------------
    def _callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        cursor = self._cursor
        self._timing[0] = cursor[0]
        self._timing[1] = frames
        self._timing[2] = time.monotonic()
        written = 0
        while written < frames:
            index, loop_start, loop_end, stop = cursor
            limit = loop_end if self._looping[0] else stop
            count = min(frames - written, max(0, limit - index))
            if count > 0:
                outdata[written:written + count] = self._buffer[index:index + count]
                written += count
                cursor[0] = index + count
            elif self._looping[0] and loop_end > loop_start:
                cursor[0] = loop_start
            else:
                outdata[written:] = 0.0
                raise sd.CallbackStop


RECORD_LATENCY_S = 0.2
"""Input buffer asked of PortAudio when recording. Recording needs no low latency, and a small buffer
loses samples: through ALSA's PulseAudio plugin at PortAudio's "high" setting (35 ms) on a busy machine, a
3 s recording came back 2.2 s long (samples dropped inside the plugin, never reported as an overflow);
at 0.2 s it came back complete."""

STOP_DRAIN_TIMEOUT_S = 2.0
"""How long :meth:`Recorder.stop` waits, beyond the input latency, for the audio captured before the stop
to arrive; a source that delivers nothing (an idle null sink's monitor) must not hang it."""


class Recorder:
    """Records from an input device into a :class:`Clip`, with a live peak/RMS level for a meter.

    The callback copies each block into a preallocated ring buffer and updates the level; a collector
    thread moves what has arrived into a list of chunks, so a recording can be as long as memory allows
    while the real-time thread never allocates.

    Every sample up to the moment of :meth:`stop` is kept: stop notes the stream time, lets the stream run
    until the blocks captured before that moment have been delivered (they sit in the input buffer for
    up to its latency), then ends the stream and cuts what was captured after the moment. Samples the
    system lost anyway (PortAudio input overflows, or the collector a full ring behind on an overloaded
    machine) are counted in :attr:`dropped_frames`/:attr:`overflows`; the recording is still returned, so
    that nothing already recorded is thrown away.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int = 48000, channels: int = 1,
                 ring_seconds: float = 10.0, latency: str | float = RECORD_LATENCY_S):
        self.device = device
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.latency = latency
        self._ring = np.zeros((int(ring_seconds * self.sample_rate), self.channels), np.float32)
        self._scratch = np.zeros_like(self._ring)  # room for |x| and x² of one block, no allocation
        self._written = np.zeros(1, np.int64)  # frames the callback has written in total
        self._level = np.zeros(2, np.float64)  # peak and RMS of the latest block (linear)
        self._overflows = np.zeros(1, np.int64)  # blocks PortAudio flagged as having lost input
        self._start_time = 0.0  # stream clock when the stream started
        self._read = 0
        self._chunks: list[np.ndarray] = []
        self._stream: sd.InputStream | None = None
        self._collector: threading.Thread | None = None
        self._stop_collecting = threading.Event()
        self.dropped_frames = 0

    def start(self) -> None:
        if self._stream is not None:
            raise AudioDeviceError("the recorder is already running")
        source = find_device(self.device, "input")
        if self.channels > source.max_input_channels:
            raise AudioDeviceError(f"{source.label} has {source.max_input_channels} input channel(s), "
                                   f"{self.channels} requested")
        self._written[0] = 0
        self._level[:] = 0.0
        self._overflows[0] = 0
        self._read = 0
        self._chunks = []
        self.dropped_frames = 0
        self._stop_collecting.clear()
        try:
            sd.check_input_settings(source.index, channels=self.channels, samplerate=self.sample_rate,
                                    dtype="float32")
            self._stream = sd.InputStream(device=source.index, samplerate=self.sample_rate,
                                          channels=self.channels, dtype="float32", latency=self.latency,
                                          callback=self._callback)
            self._stream.start()
            self._start_time = self._stream.time
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioDeviceError(f"cannot record from {source.label} at {self.sample_rate} Hz, "
                                   f"{self.channels} channel(s): {exc}") from exc
        self._collector = threading.Thread(target=self._collect_loop, name="vocalis-recorder", daemon=True)
        self._collector.start()

    def stop(self, name: str = "recording") -> Clip:
        """End the recording and return it as a clip of everything captured until now."""
        if self._stream is None:
            raise AudioDeviceError("the recorder is not running")
        stop_time = self._stream.time
        keep = self._drain_until(stop_time)
        # abort, not stop: stop waits for pending input, which never comes from a silent source.
        self._stream.abort()
        self._stream.close()
        self._stream = None
        self._stop_collecting.set()
        self._collector.join()
        self._collect()
        frames = np.concatenate(self._chunks) if self._chunks else np.zeros((0, self.channels), np.float32)
        self._chunks = []
        frames = frames[:keep]
        return Clip(np.ascontiguousarray(frames.T), self.sample_rate, name=name)

    def _drain_until(self, stop_time: float) -> int:
        """Wait until the frames the device captured between start and ``stop_time`` (stream clock) have
        all been delivered, or the timeout passes; returns that number of frames."""
        wanted = max(0, round((stop_time - self._start_time) * self.sample_rate))
        deadline = time.monotonic() + float(self._stream.latency) + STOP_DRAIN_TIMEOUT_S
        while self._written[0] < wanted and time.monotonic() < deadline:
            time.sleep(0.005)
        return wanted

    @property
    def recording(self) -> bool:
        return self._stream is not None

    @property
    def seconds(self) -> float:
        return int(self._written[0]) / self.sample_rate

    @property
    def overflows(self) -> int:
        """Blocks in which the audio system reported lost input."""
        return int(self._overflows[0])

    def level_db(self) -> tuple[float, float]:
        """Peak and RMS of the latest block in dBFS (for a level meter)."""
        return _db(float(self._level[0])), _db(float(self._level[1]))

    def _collect_loop(self) -> None:
        while not self._stop_collecting.wait(0.05):
            self._collect()

    def _collect(self) -> None:
        written = int(self._written[0])
        size = self._ring.shape[0]
        if written - self._read > size:  # the machine was too busy for a whole ring: keep time, mark it
            lost = written - size - self._read
            self.dropped_frames += lost
            self._chunks.append(np.zeros((lost, self.channels), np.float32))
            self._read = written - size
        while self._read < written:
            start = self._read % size
            count = min(written - self._read, size - start)
            self._chunks.append(self._ring[start:start + count].copy())
            self._read += count

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        if status.input_overflow:
            self._overflows[0] += 1
        size = self._ring.shape[0]
        start = int(self._written[0] % size)
        first = min(frames, size - start)
        self._ring[start:start + first] = indata[:first]
        self._ring[:frames - first] = indata[first:]
        scratch = self._scratch[:frames]
        np.abs(indata, out=scratch)
        self._level[0] = scratch.max() if frames else 0.0
        np.square(indata, out=scratch)
        self._level[1] = np.sqrt(scratch.mean()) if frames else 0.0
        self._written[0] += frames
