"""Hybrid Demucs music source separation (torchaudio ``hdemucs_high``), used to find where a song is sung."""

from engine.models.hdemucs.model import SAMPLE_RATE, SOURCES, build_model, load_model
from engine.models.hdemucs.separate import separate_chunked, separate_vocals

__all__ = ["SAMPLE_RATE", "SOURCES", "build_model", "load_model", "separate_chunked", "separate_vocals"]
