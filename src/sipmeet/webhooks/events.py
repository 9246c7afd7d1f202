"""What webhooks report: room and call events shaped into named webhook events and JSON bodies.

Sans-IO: :class:`EventShaper` turns `RoomEvent`s and `CallEvent`s into :class:`WebhookEvent`s,
tracking who is in which room to tell when a session starts (first participant in) and ends
(last one out). The time is passed in.

Body of every delivery::

    {"event": "participant-joined", "id": "evt_…", "createdAt": "2026-01-01T12:00:00.000Z",
     "apiKey": "<API key id>", "data": {...}}
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sipmeet.bridge.results import CallEvent, CallRejected
from sipmeet.rooms.events import DtmfPressed, ParticipantJoined, ParticipantLeft, RoomEvent

__all__ = [
    "WEBHOOK_EVENTS",
    "EventShaper",
    "WebhookEvent",
    "WebhookEventName",
    "build_payload",
    "encode_body",
    "iso_time",
    "new_delivery_id",
]

WebhookEventName = Literal[
    "participant-joined",
    "participant-left",
    "session-started",
    "session-ended",
    "call-rejected",
    "dtmf",
]
WEBHOOK_EVENTS: tuple[WebhookEventName, ...] = (
    "participant-joined",
    "participant-left",
    "session-started",
    "session-ended",
    "call-rejected",
    "dtmf",
)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event of one API key, to be delivered to the key's webhooks that want it."""

    name: WebhookEventName
    api_key_id: str
    data: Mapping[str, object]
    created_at: float  # Unix seconds


def iso_time(unix_s: float) -> str:
    """``2026-01-01T12:00:00.000Z``: UTC, milliseconds."""
    moment = datetime.fromtimestamp(unix_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_delivery_id(token: Callable[[int], str] = secrets.token_hex) -> str:
    """A unique delivery id (kept across retries, so receivers can drop duplicates)."""
    return "evt_" + token(12)


def build_payload(event: WebhookEvent, delivery_id: str) -> dict[str, object]:
    """The JSON object POSTed for ``event``."""
    return {
        "event": event.name,
        "id": delivery_id,
        "createdAt": iso_time(event.created_at),
        "apiKey": event.api_key_id,
        "data": dict(event.data),
    }


def encode_body(payload: Mapping[str, object]) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(slots=True)
class _Session:
    api_key_id: str
    started_at: float
    participants: set[str] = field(default_factory=set)


class EventShaper:
    """Room and call events in, webhook events out (see module docstring).

    ``api_key_for(room_id)`` names the API key a room belongs to (None: unknown, the event is
    not reported); it is asked once per session.
    """

    def __init__(self, api_key_for: Callable[[str], str | None]) -> None:
        self._api_key_for = api_key_for
        self._sessions: dict[str, _Session] = {}

    def _key(self, room_id: str) -> str | None:
        session = self._sessions.get(room_id)
        return session.api_key_id if session is not None else self._api_key_for(room_id)

    def room_event(self, event: RoomEvent, now: float) -> list[WebhookEvent]:
        if isinstance(event, ParticipantJoined):
            return self._joined(event, now)
        if isinstance(event, ParticipantLeft):
            return self._left(event, now)
        if isinstance(event, DtmfPressed):
            key = self._key(event.room_id)
            if key is None:
                return []
            data = {
                "roomId": event.room_id,
                "participantId": event.participant_id,
                "digit": event.digit,
                "source": event.source,
            }
            return [WebhookEvent("dtmf", key, data, now)]
        return []

    def call_event(self, event: CallEvent, now: float) -> list[WebhookEvent]:
        if not isinstance(event, CallRejected) or event.api_key_id is None:
            return []
        data = {
            "callId": event.call_id,
            "roomId": event.room_id,
            "status": event.status,
            "reason": event.reason,
        }
        return [WebhookEvent("call-rejected", event.api_key_id, data, now)]

    def _joined(self, event: ParticipantJoined, now: float) -> list[WebhookEvent]:
        out: list[WebhookEvent] = []
        session = self._sessions.get(event.room_id)
        if session is None:
            key = self._api_key_for(event.room_id)
            if key is None:
                return []
            session = self._sessions[event.room_id] = _Session(key, now)
            started = {"roomId": event.room_id, "startedAt": iso_time(now)}
            out.append(WebhookEvent("session-started", key, started, now))
        session.participants.add(event.participant_id)
        data = {
            "roomId": event.room_id,
            "participantId": event.participant_id,
            "kind": event.kind,
            "displayName": event.display_name,
            "maskedNumber": event.masked_number,
        }
        out.append(WebhookEvent("participant-joined", session.api_key_id, data, now))
        return out

    def _left(self, event: ParticipantLeft, now: float) -> list[WebhookEvent]:
        session = self._sessions.get(event.room_id)
        key = session.api_key_id if session is not None else self._api_key_for(event.room_id)
        if key is None:
            return []
        data = {
            "roomId": event.room_id,
            "participantId": event.participant_id,
            "kind": event.kind,
            "reason": event.reason,
        }
        out = [WebhookEvent("participant-left", key, data, now)]
        if session is not None:
            session.participants.discard(event.participant_id)
            if not session.participants:
                del self._sessions[event.room_id]
                ended = {
                    "roomId": event.room_id,
                    "startedAt": iso_time(session.started_at),
                    "endedAt": iso_time(now),
                    "durationSeconds": round(now - session.started_at, 3),
                }
                out.append(WebhookEvent("session-ended", key, ended, now))
        return out
