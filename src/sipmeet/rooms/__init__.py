"""sipmeet.rooms: live rooms, their participants, mixing and events."""

from .events import (
    ActiveSpeakerChanged,
    DtmfPressed,
    MuteChanged,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    RoomEvent,
)
from .registry import RoomRegistry
from .room import FrameObserver, Participant, Room

__all__ = [
    "ActiveSpeakerChanged",
    "DtmfPressed",
    "FrameObserver",
    "MuteChanged",
    "Participant",
    "ParticipantJoined",
    "ParticipantKind",
    "ParticipantLeft",
    "Room",
    "RoomEvent",
    "RoomRegistry",
]
