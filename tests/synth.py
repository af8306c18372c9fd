"""Real test signals: speech from espeak-ng, tones and noise; all float32 mono arrays."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def speak(text: str, voice: str = "en", sample_rate: int = 16000, speed: int = 160, pitch: int = 50) -> np.ndarray:
    """Speech synthesised by espeak-ng (voices e.g. "en", "en+f3", "en-us+m3"), resampled to ``sample_rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text],
                       check=True, capture_output=True)
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if rate != sample_rate:
        import librosa

        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate).astype(np.float32)
    return audio


def tone(freq: float, seconds: float, sample_rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, sample_rate: int) -> float:
    """Frequency of the strongest FFT bin, refined by parabolic interpolation."""
    audio = np.asarray(audio, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    k = int(np.argmax(spectrum[1:])) + 1
    if 1 <= k < len(spectrum) - 1:
        a, b, c = spectrum[k - 1], spectrum[k], spectrum[k + 1]
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * sample_rate / len(audio)


def pitch_shift(audio: np.ndarray, sample_rate: int, cents: int) -> np.ndarray:
    """``audio`` shifted in pitch by ``cents`` (same tempo) with sox's ``pitch`` effect: a different-sounding
    voice with the same words and timing."""
    with tempfile.TemporaryDirectory() as tmp:
        source, shifted = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(source, audio, sample_rate, subtype="FLOAT")
        subprocess.run(["sox", str(source), str(shifted), "pitch", str(cents)], check=True, capture_output=True)
        out, _ = sf.read(shifted, dtype="float32")
    return out
