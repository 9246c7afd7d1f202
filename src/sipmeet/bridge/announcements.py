"""What phone callers hear about the room itself: first-participant prompt and hold music,
join and leave chimes, and the end of a call left alone too long.

It listens to room events and plays through each phone participant's own player, so a
browser or another phone never hears another caller's announcements.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from ..media.player import PromptPlayer, chime, hold_music
from ..media.prompts import load_prompt
from ..rooms.events import ParticipantJoined, ParticipantLeft, RoomEvent
from ..rooms.registry import RoomRegistry

if TYPE_CHECKING:
    from ..rooms.room import Room

__all__ = ["Announcer"]

log = logging.getLogger(__name__)

MUSIC_RATE_HZ = 8000


class _HangUp(Protocol):
    def __call__(self, participant_id: str, *, reason: str) -> bool: ...


def _player(room: Room, participant_id: str) -> PromptPlayer | None:
    participant = room.get(participant_id)
    player = getattr(participant, "player", None)
    return player if isinstance(player, PromptPlayer) else None


class Announcer:
    """Subscribe with ``rooms.subscribe(announcer.on_event)``."""

    def __init__(
        self,
        rooms: RoomRegistry,
        hang_up: _HangUp,
        *,
        alone_timeout_s: float = 1800.0,
        lobby_prefix: str = "dialin-",
    ) -> None:
        self._rooms = rooms
        self._hang_up = hang_up
        self.alone_timeout_s = alone_timeout_s
        self._lobby_prefix = lobby_prefix
        self._music = hold_music(MUSIC_RATE_HZ)
        self._alone: dict[str, asyncio.TimerHandle] = {}  # participant id -> hang-up timer
        self._waiting: set[str] = set()  # participants hearing hold music

    def on_event(self, event: RoomEvent) -> None:
        if event.room_id.startswith(self._lobby_prefix):
            return  # the dial-in menu's own lobby
        room = self._rooms.get(event.room_id)
        if isinstance(event, ParticipantJoined):
            self._stop_waiting(event.participant_id)
            if room is None:
                return
            if len(room) == 1:
                self._start_waiting(room, event.participant_id, first=True)
                return
            for other in room.participants:
                if other.participant_id != event.participant_id:
                    self._stop_waiting(other.participant_id, room)
                    self._chime(room, other.participant_id, rising=True)
        elif isinstance(event, ParticipantLeft):
            self._stop_waiting(event.participant_id)
            if room is None:
                return
            for other in room.participants:
                self._chime(room, other.participant_id, rising=False)
            if len(room) == 1:
                self._start_waiting(room, room.participants[0].participant_id, first=False)

    def _chime(self, room: Room, participant_id: str, *, rising: bool) -> None:
        player = _player(room, participant_id)
        if player is not None:
            player.play(chime(rising, MUSIC_RATE_HZ), MUSIC_RATE_HZ, exclusive=False)

    def _start_waiting(self, room: Room, participant_id: str, *, first: bool) -> None:
        player = _player(room, participant_id)
        if player is None:
            return
        self._waiting.add(participant_id)
        if first:
            pcm, rate = load_prompt("first_participant")
            player.play(pcm, rate)
        self._loop_music(room.room_id, participant_id, player)
        loop = asyncio.get_running_loop()
        self._alone[participant_id] = loop.call_later(
            self.alone_timeout_s, self._alone_too_long, participant_id
        )

    def _loop_music(self, room_id: str, participant_id: str, player: PromptPlayer) -> None:
        if participant_id not in self._waiting:
            return
        player.play(
            self._music,
            MUSIC_RATE_HZ,
            on_done=lambda: self._loop_music(room_id, participant_id, player),
        )

    def _stop_waiting(self, participant_id: str, room: Room | None = None) -> None:
        timer = self._alone.pop(participant_id, None)
        if timer is not None:
            timer.cancel()
        if participant_id in self._waiting:
            self._waiting.discard(participant_id)
            if room is not None:
                player = _player(room, participant_id)
                if player is not None:
                    player.clear()

    def _alone_too_long(self, participant_id: str) -> None:
        self._alone.pop(participant_id, None)
        self._waiting.discard(participant_id)
        log.info("%s was alone for %.0f s: hanging up", participant_id, self.alone_timeout_s)
        self._hang_up(participant_id, reason="alone-timeout")

    def close(self) -> None:
        for timer in self._alone.values():
            timer.cancel()
        self._alone.clear()
        self._waiting.clear()
