"""Announcements to phone callers: first-participant prompt and music, chimes, alone timeout."""

from __future__ import annotations

import asyncio

import numpy as np

from sipmeet.bridge.announcements import Announcer
from sipmeet.media.player import PromptPlayer
from sipmeet.rooms.registry import RoomRegistry


class Phone:
    kind = "sip"
    masked_number = None
    rate_hz = 8000

    def __init__(self, pid: str) -> None:
        self.participant_id = pid
        self.display_name = pid
        self.muted = False
        self.player = PromptPlayer()

    def set_room_rate(self, rate_hz: int) -> None:
        pass

    def pull_frame(self, now: float) -> np.ndarray | None:
        return None

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        pass


def heard(phone: Phone, frames: int = 1) -> np.ndarray:
    return np.concatenate(
        [phone.player.render(np.zeros(160, dtype=np.int16), 8000) for _ in range(frames)]
    )


async def test_first_caller_hears_the_prompt_then_music_until_someone_joins() -> None:
    rooms = RoomRegistry()
    hung_up: list[tuple[str, str]] = []
    announcer = Announcer(rooms, lambda pid, *, reason: hung_up.append((pid, reason)) or True)
    rooms.subscribe(announcer.on_event)
    a, b = Phone("a"), Phone("b")
    try:
        rooms.join("room-1", "key", a)
        assert a.player.playing
        assert np.abs(heard(a, 25)).max() > 1000  # the prompt is speaking
        rooms.join("room-1", "key", b)
        assert not b.player.playing  # the second one hears no prompt
        # a's prompt and music stopped; only the rising chime (180 ms) is left.
        chime = heard(a, 9)
        assert np.abs(chime).max() > 500 and not a.player.playing
        rooms.leave("room-1", "b", "caller-hangup")
        assert a.player.playing  # a falling chime, then music again
        assert hung_up == []
    finally:
        announcer.close()
        rooms.close()


async def test_caller_alone_too_long_is_hung_up() -> None:
    rooms = RoomRegistry()
    hung_up: list[tuple[str, str]] = []
    announcer = Announcer(
        rooms, lambda pid, *, reason: hung_up.append((pid, reason)) or True, alone_timeout_s=0.05
    )
    rooms.subscribe(announcer.on_event)
    try:
        rooms.join("room-2", "key", Phone("lonely"))
        await asyncio.sleep(0.1)
        assert hung_up == [("lonely", "alone-timeout")]
    finally:
        announcer.close()
        rooms.close()


async def test_dial_in_lobby_gets_no_announcements() -> None:
    rooms = RoomRegistry()
    announcer = Announcer(rooms, lambda pid, *, reason: True)
    rooms.subscribe(announcer.on_event)
    caller = Phone("c")
    try:
        rooms.join("dialin-sip-c", "key", caller)
        assert not caller.player.playing
    finally:
        announcer.close()
        rooms.close()
