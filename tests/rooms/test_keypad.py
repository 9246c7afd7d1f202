"""Keypad commands from phone callers: *6 mute toggle with tones, *9 hand raise events."""

from __future__ import annotations

import numpy as np

from sipmeet.media.player import PromptPlayer
from sipmeet.rooms.events import (
    DtmfPressed,
    HandRaised,
    MuteChanged,
    ParticipantKind,
    RoomEvent,
)
from sipmeet.rooms.keypad import BEEP_MS, GAP_MS, KeypadCommands, mute_tone
from sipmeet.rooms.registry import RoomRegistry

ROOM = "abcd-efgh-ijkl"


class Phone:
    masked_number: str | None = None
    rate_hz = 8000

    def __init__(self, pid: str, kind: ParticipantKind = "sip") -> None:
        self.participant_id = pid
        self.kind = kind
        self.display_name = pid
        self.muted = False
        self.hand_raised = False
        self.player = PromptPlayer()

    def set_room_rate(self, rate_hz: int) -> None:
        pass

    def pull_frame(self, now: float) -> np.ndarray | None:
        return None

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        pass

    def heard(self, frames: int = 40) -> np.ndarray:
        """What the player adds over silence for the next ``frames`` 20 ms frames (8 kHz)."""
        silence = np.zeros(160, dtype=np.int16)
        return np.concatenate([self.player.render(silence, 8000) for _ in range(frames)])


def beeps(pcm: np.ndarray) -> int:
    """How many separate bursts of tone ``pcm`` holds (10 ms energy windows)."""
    windows = pcm[: pcm.size // 80 * 80].reshape(-1, 80).astype(np.float64)
    loud = np.sqrt((windows**2).mean(axis=1)) > 1000
    return int(np.count_nonzero(loud[1:] & ~loud[:-1]) + loud[0])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def press(registry: RoomRegistry, pid: str, digits: str) -> None:
    room = registry.get(ROOM)
    assert room is not None
    for digit in digits:
        room.emit(DtmfPressed(ROOM, pid, digit, "rfc4733"))


async def setup(*phones: Phone) -> tuple[RoomRegistry, KeypadCommands, list[RoomEvent], Clock]:
    registry = RoomRegistry()
    clock = Clock()
    keypad = KeypadCommands(registry, clock=clock)
    events: list[RoomEvent] = []
    registry.subscribe(events.append)
    for phone in phones:
        registry.join(ROOM, "APIkey", phone)
    return registry, keypad, events, clock


def test_mute_tone_is_two_beeps_for_muted_and_one_for_unmuted() -> None:
    assert beeps(mute_tone(True)) == 2 and beeps(mute_tone(False)) == 1
    assert mute_tone(True).size == 8 * (2 * BEEP_MS + GAP_MS)
    assert mute_tone(False, 16000).size == 16 * BEEP_MS


async def test_star_six_toggles_mute_and_beeps_to_that_caller_only() -> None:
    a, b = Phone("a"), Phone("b")
    registry, keypad, events, _ = await setup(a, b)
    try:
        press(registry, "a", "*6")
        assert a.muted and not b.muted
        assert MuteChanged(ROOM, "a", True) in events
        assert beeps(a.heard()) == 2 and beeps(b.heard()) == 0
        press(registry, "a", "*6")
        assert not a.muted
        assert events[-1] == MuteChanged(ROOM, "a", False)
        assert beeps(a.heard()) == 1
    finally:
        keypad.close()
        registry.close()


async def test_star_nine_raises_and_lowers_the_hand() -> None:
    a = Phone("a")
    registry, keypad, events, _ = await setup(a)
    try:
        press(registry, "a", "*9")
        assert a.hand_raised and events[-1] == HandRaised(ROOM, "a", True)
        assert beeps(a.heard()) == 1 and not a.muted
        press(registry, "a", "*9")
        assert not a.hand_raised and events[-1] == HandRaised(ROOM, "a", False)
    finally:
        keypad.close()
        registry.close()


async def test_digits_without_star_late_digits_and_other_commands_do_nothing() -> None:
    a = Phone("a")
    registry, keypad, events, clock = await setup(a)
    try:
        press(registry, "a", "6969*56#*")
        clock.now += 3.5
        press(registry, "a", "6")
        assert not a.muted and not a.hand_raised
        assert not [e for e in events if isinstance(e, MuteChanged | HandRaised)]
        press(registry, "a", "**6")  # a repeated star still starts a command
        assert a.muted
    finally:
        keypad.close()
        registry.close()


async def test_another_callers_star_does_not_complete_a_command() -> None:
    a, b = Phone("a"), Phone("b")
    registry, keypad, _, _ = await setup(a, b)
    try:
        press(registry, "a", "*")
        press(registry, "b", "6")
        assert not a.muted and not b.muted
    finally:
        keypad.close()
        registry.close()


async def test_browsers_are_not_commanded_and_close_unsubscribes() -> None:
    web = Phone("w", kind="webrtc")
    registry, keypad, _, _ = await setup(web)
    try:
        press(registry, "w", "*6")
        assert not web.muted
        keypad.close()
        web.kind = "sip"
        press(registry, "w", "*6")
        assert not web.muted
    finally:
        registry.close()


async def test_moderator_mute_of_a_phone_is_confirmed_by_tone() -> None:
    a = Phone("a")
    registry, keypad, _, _ = await setup(a)
    try:
        room = registry.get(ROOM)
        assert room is not None
        room.set_muted("a", True)
        assert beeps(a.heard()) == 2
    finally:
        keypad.close()
        registry.close()
