"""Prompts and tones played to one participant, in place of or over what the room sends it.

The dial-in menu speaks its prompts this way, and keypad commands confirm with a
tone. Audio is queued at its own rate and converted once, when it starts, to the
rate the participant's frames are at.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..codecs.resample import StreamResampler

__all__ = ["PromptPlayer", "chime", "hold_music", "tone"]


def tone(
    freq_hz: float, duration_ms: int, rate_hz: int, *, level_dbfs: float = -12.0
) -> np.ndarray:
    """A sine tone with 5 ms fades (no clicks), as int16 PCM."""
    n = rate_hz * duration_ms // 1000
    t = np.arange(n) / rate_hz
    amp = 32767 * 10 ** (level_dbfs / 20)
    wave = amp * np.sin(2 * np.pi * freq_hz * t)
    fade = min(n // 2, rate_hz * 5 // 1000)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        wave[:fade] *= ramp
        wave[n - fade :] *= ramp[::-1]
    return wave.astype(np.int16)


@dataclass(slots=True)
class _Item:
    pcm: np.ndarray
    rate_hz: int
    exclusive: bool  # replaces the room's audio while it plays (prompts); else mixed over it
    on_done: Callable[[], None] | None
    pos: int = 0


class PromptPlayer:
    """A queue of audio for one participant (see module docstring)."""

    def __init__(self) -> None:
        self._items: deque[_Item] = deque()

    @property
    def playing(self) -> bool:
        return bool(self._items)

    def play(
        self,
        pcm: np.ndarray,
        rate_hz: int,
        *,
        exclusive: bool = True,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Queue ``pcm`` (int16 at ``rate_hz``); ``on_done`` runs when it has been played."""
        self._items.append(_Item(pcm.astype(np.int16, copy=False), rate_hz, exclusive, on_done))

    def clear(self) -> None:
        """Stop everything queued (callbacks are not run)."""
        self._items.clear()

    def render(self, frame: np.ndarray, rate_hz: int) -> np.ndarray:
        """What the participant hears this frame: ``frame`` with the queued audio applied."""
        if not self._items:
            return frame
        item = self._items[0]
        if item.rate_hz != rate_hz:
            item.pcm = StreamResampler(item.rate_hz, rate_hz).process(item.pcm[item.pos :])
            item.rate_hz, item.pos = rate_hz, 0
        chunk = item.pcm[item.pos : item.pos + frame.size]
        item.pos += chunk.size
        if item.exclusive:
            out = np.zeros_like(frame)
            out[: chunk.size] = chunk
        else:
            out = frame.copy()
            mixed = out[: chunk.size].astype(np.int32) + chunk
            out[: chunk.size] = np.clip(mixed, -32768, 32767)
        if item.pos >= item.pcm.size:
            self._items.popleft()
            if item.on_done is not None:
                item.on_done()
        return out


def chime(rising: bool, rate_hz: int) -> np.ndarray:
    """A short two-note chime: rising when someone joins, falling when someone leaves."""
    low, high = tone(660, 90, rate_hz, level_dbfs=-18), tone(880, 90, rate_hz, level_dbfs=-18)
    return np.concatenate([low, high] if rising else [high, low])


def hold_music(rate_hz: int, *, seconds: float = 8.0) -> np.ndarray:
    """A soft arpeggio (C major, A minor, F, G), synthesised: no recording to ship or license."""
    chords = (
        (261.63, 329.63, 392.0),
        (220.0, 261.63, 329.63),
        (174.61, 220.0, 261.63),
        (196.0, 246.94, 293.66),
    )
    note_s = seconds / (len(chords) * 4)
    n = int(rate_hz * note_s)
    t = np.arange(n) / rate_hz
    envelope = np.exp(-3.0 * t / note_s)
    notes = []
    for chord in chords:
        for freq in (*chord, chord[1]):
            wave = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
            notes.append(wave * envelope)
    music = np.concatenate(notes)
    pcm: np.ndarray = (music / np.max(np.abs(music)) * 32767 * 10 ** (-20 / 20)).astype(np.int16)
    return pcm
