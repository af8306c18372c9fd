"""Regenerate the bad-input corpus next to this script (the files are committed; this records how they
were made). Run: .venv/bin/python tests/data/bad/make_corpus.py"""

from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent


def _tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def main() -> None:
    (HERE / "empty.wav").write_bytes(b"")
    (HERE / "text_renamed.wav").write_text("These are meeting notes, not audio.\n" * 20, encoding="utf-8")
    sf.write(HERE / "zero_length.wav", np.zeros((0, 1), np.float32), 16000, subtype="PCM_16")

    sf.write(HERE / "whole.wav", _tone(440, 0.5, 16000), 16000, subtype="PCM_16")
    whole = (HERE / "whole.wav").read_bytes()
    (HERE / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    (HERE / "whole.wav").unlink()
    sf.write(HERE / "whole.flac", _tone(440, 1.0, 16000), 16000, subtype="PCM_16")
    whole = (HERE / "whole.flac").read_bytes()
    (HERE / "truncated.flac").write_bytes(whole[: len(whole) // 2])
    (HERE / "whole.flac").unlink()

    damaged = _tone(440, 0.1, 16000)
    damaged[800], damaged[900] = np.nan, np.inf
    sf.write(HERE / "nan_samples.wav", damaged, 16000, subtype="FLOAT")

    eight = np.stack([_tone(200 * (k + 1), 0.05, 16000) for k in range(8)], axis=1)
    sf.write(HERE / "eight_channels.wav", eight, 16000, subtype="PCM_16")
    sf.write(HERE / "rate_384k.wav", _tone(1000, 0.1, 384000), 384000, subtype="PCM_16")
    sf.write(HERE / "chanson_été_日本.wav", _tone(440, 0.2, 16000), 16000, subtype="PCM_16")


if __name__ == "__main__":
    main()
