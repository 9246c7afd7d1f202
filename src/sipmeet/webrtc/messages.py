"""The JSON the meeting WebSocket speaks, server to browser (events, participants)."""

from __future__ import annotations

from typing import Any

from ..rooms.events import (
    ActiveSpeakerChanged,
    DtmfPressed,
    HandRaised,
    MuteChanged,
    ParticipantJoined,
    ParticipantLeft,
    RoomEvent,
)
from ..rooms.room import Participant

__all__ = ["event_message", "participant_info"]


def participant_info(participant: Participant) -> dict[str, Any]:
    return {
        "participantId": participant.participant_id,
        "kind": participant.kind,
        "name": participant.display_name,
        "maskedNumber": participant.masked_number,
        "muted": participant.muted,
        "handRaised": bool(getattr(participant, "hand_raised", False)),
    }


def event_message(event: RoomEvent) -> dict[str, Any]:
    """A room event as the message every browser in the room receives."""
    if isinstance(event, ParticipantJoined):
        return {
            "type": "participant-joined",
            "participant": {
                "participantId": event.participant_id,
                "kind": event.kind,
                "name": event.display_name,
                "maskedNumber": event.masked_number,
                "muted": False,
                "handRaised": False,
            },
        }
    if isinstance(event, ParticipantLeft):
        return {
            "type": "participant-left",
            "participantId": event.participant_id,
            "kind": event.kind,
            "reason": event.reason,
        }
    if isinstance(event, MuteChanged):
        return {
            "type": "muted" if event.muted else "unmuted",
            "participantId": event.participant_id,
        }
    if isinstance(event, HandRaised):
        return {"type": "hand", "participantId": event.participant_id, "raised": event.raised}
    if isinstance(event, ActiveSpeakerChanged):
        return {"type": "active-speaker", "participantId": event.participant_id}
    if isinstance(event, DtmfPressed):
        return {
            "type": "dtmf",
            "participantId": event.participant_id,
            "digit": event.digit,
            "source": event.source,
        }
    raise TypeError(f"not a room event: {event!r}")
