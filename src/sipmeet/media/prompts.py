"""Recorded prompts shipped with sipmeet (see prompts/README.md), loaded once."""

from __future__ import annotations

import functools
import io
import wave
from importlib import resources

import numpy as np

__all__ = ["PROMPTS", "load_prompt"]

PROMPTS = (
    "welcome",
    "enter_pin",
    "wrong_code",
    "wrong_pin",
    "goodbye",
    "joining",
    "first_participant",
)


@functools.cache
def load_prompt(name: str) -> tuple[np.ndarray, int]:
    """The prompt's PCM (int16 mono) and its sampling rate."""
    if name not in PROMPTS:
        raise KeyError(f"no prompt {name!r}")
    data = resources.files(__package__).joinpath("prompts", f"{name}.wav").read_bytes()
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"prompt {name}: expected 16-bit mono")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)
        return pcm, w.getframerate()
