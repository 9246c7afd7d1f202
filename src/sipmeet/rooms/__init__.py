"""sipmeet.rooms: live rooms, their participants, mixing and events."""

from .events import (
    ActiveSpeakerChanged,
    DtmfPressed,
    HandRaised,
    MuteChanged,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    RoomEvent,
)
from .keypad import KeypadCommands, TonePlayer, mute_tone
from .registry import RoomRegistry
from .room import FrameObserver, Participant, Room

__all__ = [
    "ActiveSpeakerChanged",
    "DtmfPressed",
    "FrameObserver",
    "HandRaised",
    "KeypadCommands",
    "MuteChanged",
    "Participant",
    "ParticipantJoined",
    "ParticipantKind",
    "ParticipantLeft",
    "Room",
    "RoomEvent",
    "RoomRegistry",
    "TonePlayer",
    "mute_tone",
]
