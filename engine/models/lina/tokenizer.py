"""Lina's text tokenizer: the reference's 256-entry BPE (``bpe256.json``: lower-cases, isolates punctuation
and spaces), read with the ``tokenizers`` library. A text is encoded as ``"[BOS]" + text + "[EOS]"``.

The vocabulary has no digits and few non-ASCII letters, and the BPE model has no unknown token, so a
character outside it would make the library fail. :meth:`TextTokenizer.encode` first maps typographic
punctuation to its ASCII form and strips accents the vocabulary lacks, then refuses what is still
unknown, naming it (numbers must be spelled out before).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from engine.errors import BadInputError, ModelLoadError

_TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"', "–": "-", "‑": "-",
                             "…": "...", "\u00a0": " ", "\t": " ", "\n": " ", "\r": " "})


class TextTokenizer:
    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self.path = Path(path)
        try:
            self._tokenizer = Tokenizer.from_file(str(self.path))
        except Exception as exc:  # noqa: BLE001 - the library raises plain Exceptions for bad files
            raise ModelLoadError(f"{self.path}: not a tokenizers JSON file ({exc})") from exc
        self._characters = {token for token in self._tokenizer.get_vocab() if len(token) == 1}

    def normalize(self, text: str) -> str:
        """The text as the vocabulary can spell it: typographic punctuation to ASCII, unknown accented
        letters to their base letter, runs of spaces to one."""
        text = unicodedata.normalize("NFC", text.translate(_TYPOGRAPHY))
        letters = []
        for char in text:
            if char.lower() not in self._characters:
                base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
                char = base or char
            letters.append(char)
        return " ".join("".join(letters).split())

    def unsupported(self, text: str) -> list[str]:
        """The characters of ``normalize(text)`` the vocabulary cannot encode, in order of appearance."""
        found: dict[str, None] = {}
        for char in self.normalize(text).lower():
            if char not in self._characters:
                found[char] = None
        return list(found)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``"[BOS]" + normalize(text) + "[EOS]"``."""
        missing = self.unsupported(text)
        if missing:
            shown = " ".join(repr(c) for c in missing[:10])
            hint = " (spell numbers out as words)" if any(c.isdigit() for c in missing) else ""
            raise BadInputError(None, f"the text has characters the voice model cannot read: {shown}{hint}")
        return self._tokenizer.encode("[BOS]" + self.normalize(text) + "[EOS]").ids
