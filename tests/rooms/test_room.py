"""Room mixing with participants that play known tones: mix-minus, rates, mute, events."""

from __future__ import annotations

import numpy as np

from sipmeet.rooms.events import (
    ActiveSpeakerChanged,
    MuteChanged,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    RoomEvent,
)
from sipmeet.rooms.room import Room


class ToneParticipant:
    kind: ParticipantKind = "sip"
    masked_number: str | None = None

    def __init__(self, pid: str, value: int, rate_hz: int = 8000) -> None:
        self.participant_id = pid
        self.display_name = pid
        self.rate_hz = rate_hz
        self.muted = False
        self.value = value
        self.room_rate = 0
        self.heard: list[np.ndarray] = []

    def set_room_rate(self, rate_hz: int) -> None:
        self.room_rate = rate_hz

    def pull_frame(self, now: float) -> np.ndarray | None:
        if self.value == 0:
            return None
        return np.full(self.room_rate // 50, self.value, dtype=np.int16)

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        self.heard.append(frame.copy())


def test_each_participant_hears_everybody_but_itself() -> None:
    events: list[RoomEvent] = []
    room = Room("abcd-efgh-ijkl", "APIkey", on_event=events.append)
    a, b, c = ToneParticipant("a", 1000), ToneParticipant("b", 200), ToneParticipant("c", 30)
    for p in (a, b, c):
        room.join(p)
    room.tick(0.0)
    assert a.heard[-1][0] == 230 and b.heard[-1][0] == 1030 and c.heard[-1][0] == 1200
    assert all(f.size == 160 for f in (a.heard[-1], b.heard[-1], c.heard[-1]))
    assert [type(e) for e in events[:3]] == [ParticipantJoined] * 3


def test_lone_participant_hears_silence() -> None:
    room = Room("r", "k")
    a = ToneParticipant("a", 1000)
    room.join(a)
    room.tick(0.0)
    assert not a.heard[-1].any()


def test_room_goes_wideband_with_a_wideband_leg_and_back() -> None:
    room = Room("r", "k")
    a, b = ToneParticipant("a", 100), ToneParticipant("b", 100, rate_hz=16000)
    room.join(a)
    assert room.rate_hz == 8000 and a.room_rate == 8000
    room.join(b)
    assert room.rate_hz == 16000 and a.room_rate == 16000
    room.tick(0.0)
    assert a.heard[-1].size == 320
    room.leave("b", "caller-hangup")
    assert room.rate_hz == 8000 and a.room_rate == 8000


def test_muted_participant_reaches_nobody_but_still_hears() -> None:
    events: list[RoomEvent] = []
    room = Room("r", "k", on_event=events.append)
    a, b = ToneParticipant("a", 1000), ToneParticipant("b", 200)
    room.join(a)
    room.join(b)
    room.set_muted("a", True)
    room.tick(0.0)
    assert b.heard[-1][0] == 0
    assert a.heard[-1][0] == 200
    assert any(isinstance(e, MuteChanged) and e.muted for e in events)


def test_leave_emits_event_and_clears_speaker() -> None:
    events: list[RoomEvent] = []
    room = Room("r", "k", on_event=events.append)
    a, b = ToneParticipant("a", 20000), ToneParticipant("b", 0)
    room.join(a)
    room.join(b)
    for i in range(30):  # 600 ms of a talking alone
        room.tick(i * 0.02)
    assert room.active_speaker == "a"
    room.leave("a", "caller-hangup")
    assert isinstance(events[-1], ActiveSpeakerChanged) and events[-1].participant_id is None
    assert any(isinstance(e, ParticipantLeft) and e.reason == "caller-hangup" for e in events)
    assert len(room) == 1
