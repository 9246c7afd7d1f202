"""Events a room publishes: who joined or left, digits pressed, hands raised, who is speaking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ActiveSpeakerChanged",
    "DtmfPressed",
    "HandRaised",
    "MuteChanged",
    "ParticipantJoined",
    "ParticipantLeft",
    "RoomEvent",
]

ParticipantKind = Literal["sip", "webrtc"]


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    room_id: str
    participant_id: str
    kind: ParticipantKind
    display_name: str
    masked_number: str | None = None


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    room_id: str
    participant_id: str
    kind: ParticipantKind
    reason: str


@dataclass(frozen=True, slots=True)
class DtmfPressed:
    room_id: str
    participant_id: str
    digit: str
    source: Literal["rfc4733", "info"]


@dataclass(frozen=True, slots=True)
class MuteChanged:
    room_id: str
    participant_id: str
    muted: bool


@dataclass(frozen=True, slots=True)
class HandRaised:
    """A participant raised (``raised``) or lowered its hand (``*9`` on a phone)."""

    room_id: str
    participant_id: str
    raised: bool


@dataclass(frozen=True, slots=True)
class ActiveSpeakerChanged:
    room_id: str
    participant_id: str | None


RoomEvent = (
    ParticipantJoined
    | ParticipantLeft
    | DtmfPressed
    | MuteChanged
    | HandRaised
    | ActiveSpeakerChanged
)
