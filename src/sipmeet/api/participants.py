"""Participants and sessions derived from call records (and the live calls of this node).

A *session* is a period during which a room had at least one participant: the answered calls'
intervals ``[answered_at, ended_at]`` (open-ended while a call lasts) merged where they overlap
or touch. Its id is ``<roomId>.<first call record id>``, stable as long as the records are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sipmeet.storage import CallRecord

from .context import ApiContext
from .quality import call_quality
from .schemas import ParticipantOut, QualityOut, SessionOut

__all__ = [
    "Session",
    "group_sessions",
    "live_participants",
    "mask_number",
    "parse_session_id",
    "participant_from_live",
    "participant_from_record",
    "room_participants",
    "session_id",
]


def mask_number(number: str | None) -> str | None:
    """Keep a leading ``+`` and the last four digits: ``+15551234567`` -> ``+*******4567``."""
    if not number:
        return None
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    if len(digits) <= 4:
        return plus + "*" * len(digits)
    return plus + "*" * (len(digits) - 4) + digits[-4:]


def session_id(room_id: str, first_record_id: int) -> str:
    return f"{room_id}.{first_record_id}"


def parse_session_id(value: str) -> tuple[str, int] | None:
    room_id, dot, first = value.rpartition(".")
    if not dot or not room_id or not first.isdigit() or len(first) > 18:
        return None
    return room_id, int(first)


@dataclass
class Session:
    room_id: str
    start: datetime
    end: datetime | None  # None: still going
    records: list[CallRecord] = field(default_factory=list)

    @property
    def session_id(self) -> str:
        return session_id(self.room_id, min(r.id for r in self.records))

    def out(self) -> SessionOut:
        return SessionOut(
            sessionId=self.session_id,
            roomId=self.room_id,
            start=self.start,
            end=self.end,
            active=self.end is None,
            participantCount=len(self.records),
        )


def group_sessions(records: Iterable[CallRecord], live_call_ids: frozenset[str]) -> list[Session]:
    """Sessions of one room's records, oldest first. A record without an end counts as going
    on only while its call is live here (``live_call_ids``); otherwise it ends where it began
    (the server stopped before the call end was written)."""
    joined = sorted(
        (r for r in records if r.answered_at is not None),
        key=lambda r: (r.answered_at, r.id),
    )
    sessions: list[Session] = []
    for record in joined:
        start = record.answered_at
        assert start is not None  # filtered above
        end: datetime | None = record.ended_at
        if end is None and record.sip_call_id not in live_call_ids:
            end = start
        current = sessions[-1] if sessions else None
        if current is not None and (current.end is None or start <= current.end):
            current.records.append(record)
            if current.end is not None and (end is None or end > current.end):
                current.end = end
        else:
            sessions.append(Session(record.room_id, start, end, [record]))
    return sessions


def _quality(stats: Mapping[str, object] | None) -> QualityOut:
    return QualityOut(**call_quality(stats))


def participant_from_record(
    record: CallRecord, live: Mapping[str, object] | None = None
) -> ParticipantOut:
    """One participant from its record (a phone call or a browser's presence), with live
    figures when it is connected."""
    out = ParticipantOut(
        participantId=f"call-{record.id}",
        kind=record.kind,
        roomId=record.room_id,
        live=live is not None,
        displayName=record.caller_name,
        maskedNumber=mask_number(record.caller_number),
        transport=record.transport,
        codec=record.codec,
        startedAt=record.started_at,
        joinedAt=record.answered_at,
        leftAt=record.ended_at,
        result=record.result,
        reason=record.reason,
        quality=_quality(record.stats),
    )
    if live is not None:
        merged = participant_from_live(live)
        out.participantId = merged.participantId
        out.muted = merged.muted
        out.codec = merged.codec or out.codec
        out.quality = merged.quality
    return out


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def participant_from_live(described: Mapping[str, object]) -> ParticipantOut:
    """A participant from a live call's ``describe()`` (no record: e.g. recording failed)."""
    quality = described.get("quality")
    return ParticipantOut(
        participantId=_str(described.get("participantId")) or "",
        kind="webrtc" if described.get("kind") == "webrtc" else "sip",
        roomId=_str(described.get("roomId")) or "",
        live=True,
        displayName=_str(described.get("displayName")),
        maskedNumber=_str(described.get("maskedNumber")),
        codec=_str(described.get("codec")),
        muted=bool(described.get("muted", False)),
        quality=_quality(quality if isinstance(quality, Mapping) else None),
    )


def room_participants(
    records: Sequence[CallRecord], live_calls: Sequence[Mapping[str, object]]
) -> list[ParticipantOut]:
    """Live participants first, then past ones, newest first."""
    by_call_id = {str(c.get("callId")): c for c in live_calls}
    out: list[ParticipantOut] = []
    seen: set[str] = set()
    for record in records:
        live = by_call_id.get(record.sip_call_id) if record.ended_at is None else None
        if live is not None:
            seen.add(record.sip_call_id)
        out.append(participant_from_record(record, live))
    out.extend(participant_from_live(c) for k, c in by_call_id.items() if k not in seen)
    out.sort(key=lambda p: not p.live)  # stable: keeps newest-first within each group
    return out


def live_participants(ctx: ApiContext, room_id: str) -> list[dict[str, object]]:
    """The room's live participants on this node: phone calls as the bridge describes them,
    and browsers (keyed by participant id, as their records are)."""
    live = [] if ctx.live is None else [dict(c.describe()) for c in ctx.live.calls]
    out = [c for c in live if c.get("roomId") == room_id]
    room = ctx.rooms.get(room_id) if ctx.rooms is not None else None
    for participant in room.participants if room is not None else ():
        if participant.kind == "webrtc":
            out.append(
                {
                    "participantId": participant.participant_id,
                    "callId": participant.participant_id,
                    "roomId": room_id,
                    "kind": "webrtc",
                    "displayName": participant.display_name,
                    "muted": participant.muted,
                }
            )
    return out
