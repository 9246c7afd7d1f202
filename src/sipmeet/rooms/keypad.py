"""Keypad commands for phone callers, and the tones that confirm them.

``*6`` toggles the caller's mute, ``*9`` raises or lowers its hand. The star starts a
command; the next digit, if it comes within ``timeout_s``, completes it (any other
digit cancels it). Every mute change of a phone caller, whoever made it (the keypad,
a moderator on the meeting page, the REST API), is confirmed to that caller alone:
two beeps for muted, one for unmuted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from ..media.player import tone
from .events import DtmfPressed, HandRaised, MuteChanged, ParticipantLeft, RoomEvent
from .registry import RoomRegistry

__all__ = ["KeypadCommands", "TonePlayer", "mute_tone"]

log = logging.getLogger(__name__)

TONE_RATE_HZ = 8000
BEEP_HZ = 1000.0
BEEP_MS = 120
GAP_MS = 100
HAND_UP_HZ = 1400.0
HAND_DOWN_HZ = 700.0


@runtime_checkable
class TonePlayer(Protocol):
    """Plays audio to one participant (``sipmeet.media.player.PromptPlayer`` is one)."""

    def play(self, pcm: np.ndarray, rate_hz: int, *, exclusive: bool = ...) -> None: ...


def mute_tone(muted: bool, rate_hz: int = TONE_RATE_HZ) -> np.ndarray:
    """The confirmation: two beeps when ``muted``, one when unmuted (int16 PCM)."""
    beep = tone(BEEP_HZ, BEEP_MS, rate_hz)
    if not muted:
        return beep
    gap = np.zeros(rate_hz * GAP_MS // 1000, dtype=np.int16)
    return np.concatenate((beep, gap, beep))


class KeypadCommands:
    """Subscribed to a :class:`RoomRegistry`: runs callers' star commands, confirms mutes."""

    def __init__(
        self,
        registry: RoomRegistry,
        *,
        timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.timeout_s = timeout_s
        self._clock = clock
        self._star_at: dict[str, float] = {}  # participant id -> when it pressed "*"
        self._unsubscribe: Callable[[], None] | None = registry.subscribe(self.on_event)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._star_at.clear()

    def on_event(self, event: RoomEvent) -> None:
        if isinstance(event, DtmfPressed):
            self._digit(event)
        elif isinstance(event, MuteChanged):
            self._play(event.room_id, event.participant_id, mute_tone(event.muted))
        elif isinstance(event, ParticipantLeft):
            self._star_at.pop(event.participant_id, None)

    def _digit(self, event: DtmfPressed) -> None:
        pid = event.participant_id
        now = self._clock()
        star_at = self._star_at.pop(pid, None)
        if event.digit == "*":
            self._star_at[pid] = now
            return
        if star_at is None or now - star_at > self.timeout_s:
            return
        room = self.registry.get(event.room_id)
        participant = None if room is None else room.get(pid)
        if room is None or participant is None or participant.kind != "sip":
            return
        if event.digit == "6":
            log.info("keypad *6 from %s: %s", pid, "unmute" if participant.muted else "mute")
            room.set_muted(pid, not participant.muted)  # the MuteChanged plays the tone
        elif event.digit == "9":
            raised = not bool(getattr(participant, "hand_raised", False))
            setattr(participant, "hand_raised", raised)  # noqa: B010 (not in the protocol)
            log.info("keypad *9 from %s: hand %s", pid, "raised" if raised else "lowered")
            self._play(event.room_id, pid, tone(HAND_UP_HZ if raised else HAND_DOWN_HZ, 150, 8000))
            room.emit(HandRaised(event.room_id, pid, raised))

    def _play(self, room_id: str, participant_id: str, pcm: np.ndarray) -> None:
        room = self.registry.get(room_id)
        participant = None if room is None else room.get(participant_id)
        player = getattr(participant, "player", None)
        if isinstance(player, TonePlayer):
            player.play(pcm, TONE_RATE_HZ, exclusive=False)
