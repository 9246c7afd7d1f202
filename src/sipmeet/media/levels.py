"""Audio levels (RFC 6464 style), voice activity, and the room's active speaker.

A level is the frame's RMS in -dBov, an integer 0..127: 0 is the overload
point (a full-scale square wave, ±32767), a full-scale sine is 3, and digital
silence is 127 (RFC 6464 §3).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "SILENCE_LEVEL",
    "VOICE_THRESHOLD_DBOV",
    "ActiveSpeakerDetector",
    "SpeakerChanged",
    "audio_level",
    "audio_levels",
    "voice_activity",
]

SILENCE_LEVEL = 127
VOICE_THRESHOLD_DBOV = -50.0
"""Frames louder than this count as voice (speech sits around -20 to -35 dBov)."""

_FULL_SCALE_SQUARED = 32767.0 * 32767.0


def audio_levels(frames: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """RFC 6464 level (0 loudest .. 127 silent) of each row of an ``(N, S)`` block."""
    if frames.ndim != 2:
        raise ValueError(f"audio_levels takes (N, S) frames, got {frames.ndim}-D")
    if frames.shape[1] == 0:
        return np.full(frames.shape[0], SILENCE_LEVEL, dtype=np.uint8)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64)
    power = energy / (frames.shape[1] * _FULL_SCALE_SQUARED)
    with np.errstate(divide="ignore"):
        dbov = -10.0 * np.log10(power)
    levels: npt.NDArray[np.uint8] = np.clip(np.rint(dbov), 0, SILENCE_LEVEL).astype(np.uint8)
    return levels


def audio_level(pcm: npt.NDArray[np.int16]) -> int:
    """RFC 6464 level (0 loudest .. 127 silent) of one frame."""
    return int(audio_levels(pcm.reshape(1, -1))[0])


def voice_activity(
    levels: npt.NDArray[np.uint8], threshold_dbov: float = VOICE_THRESHOLD_DBOV
) -> npt.NDArray[np.bool_]:
    """The RFC 6464 V flag per level: louder than ``threshold_dbov``."""
    return np.asarray(levels) < -threshold_dbov


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class SpeakerChanged(Generic[K]):
    """The dominant speaker changed (``speaker`` None: nobody, e.g. the speaker left)."""

    speaker: K | None
    previous: K | None


class ActiveSpeakerDetector(Generic[K]):
    """Chooses the dominant speaker from per-frame levels, with hysteresis.

    Each participant's loudness is smoothed over ``smoothing_ms``. A participant
    takes over once it has been the loudest voice (louder than
    ``threshold_dbov``), and louder than the current speaker by ``margin_db``,
    for ``switch_after_ms`` in a row. The speaker stays the speaker through
    silence; it is dropped only when it is no longer among the participants.
    """

    def __init__(
        self,
        *,
        frame_ms: int = 20,
        switch_after_ms: int = 300,
        smoothing_ms: float = 100.0,
        threshold_dbov: float = VOICE_THRESHOLD_DBOV,
        margin_db: float = 3.0,
    ) -> None:
        self.frame_ms = frame_ms
        self.switch_after_ms = switch_after_ms
        self._alpha = 1.0 - math.exp(-frame_ms / smoothing_ms)
        self._threshold = SILENCE_LEVEL + threshold_dbov  # in loudness (127 - level) units
        self._margin = margin_db
        self._loudness: dict[K, float] = {}
        self._candidate: K | None = None
        self._lead_ms = 0
        self.speaker: K | None = None

    def update(
        self, levels: npt.NDArray[np.uint8] | Sequence[int], ids: Sequence[K] | None = None
    ) -> SpeakerChanged[K] | None:
        """Feed one frame of levels (one per participant, in ``ids`` order).

        Without ``ids`` the participants are the row numbers ``0..N-1`` (only
        right while rows do not move). Returns an event only when the speaker
        changes.
        """
        values = levels.tolist() if isinstance(levels, np.ndarray) else list(levels)
        keys: Sequence[K] = ids if ids is not None else range(len(values))  # type: ignore[assignment]
        if len(keys) != len(values):
            raise ValueError(f"{len(values)} levels for {len(keys)} participants")
        alpha = self._alpha
        previous = self._loudness
        loudness: dict[K, float] = {}
        best: K | None = None
        best_loudness = self._threshold
        for key, level in zip(keys, values, strict=True):
            now = float(SILENCE_LEVEL - level)
            smoothed = previous.get(key, 0.0)
            smoothed += alpha * (now - smoothed)
            loudness[key] = smoothed
            if smoothed > best_loudness:
                best, best_loudness = key, smoothed
        self._loudness = loudness
        event: SpeakerChanged[K] | None = None
        if self.speaker is not None and self.speaker not in loudness:
            event = SpeakerChanged(None, self.speaker)
            self.speaker = None
        if best is None or best == self.speaker:
            self._candidate, self._lead_ms = None, 0
            return event
        if self.speaker is not None and best_loudness < loudness[self.speaker] + self._margin:
            self._candidate, self._lead_ms = None, 0
            return event
        if best == self._candidate:
            self._lead_ms += self.frame_ms
        else:
            self._candidate, self._lead_ms = best, self.frame_ms
        if self._lead_ms < self.switch_after_ms:
            return event
        change = SpeakerChanged(best, self.speaker if event is None else event.previous)
        self.speaker = best
        self._candidate, self._lead_ms = None, 0
        return change
