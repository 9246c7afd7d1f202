"""What the pages show, computed from the store and the live side (no HTTP here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sipmeet.api.context import ApiContext
from sipmeet.api.participants import mask_number
from sipmeet.api.quality import call_quality
from sipmeet.storage import CALL_RESULTS, CallRecord

__all__ = [
    "HISTORY_PAGE",
    "HistoryFilter",
    "HistoryRow",
    "history_rows",
    "live_snapshot",
    "sip_uri",
]

HISTORY_PAGE = 100  # calls per history page
ONGOING = "ongoing"


def sip_uri(ctx: ApiContext, room_id: str) -> str:
    return f"sip:{room_id}@{ctx.settings.sip.domain}"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _live_call(described: Mapping[str, object]) -> dict[str, object]:
    raw = described.get("quality")
    quality = call_quality(raw if isinstance(raw, Mapping) else None)
    return {
        "participantId": _text(described.get("participantId")),
        "callId": _text(described.get("callId")),
        "apiKeyId": _text(described.get("apiKeyId")),
        "displayName": _text(described.get("displayName")),
        "maskedNumber": _text(described.get("maskedNumber")),
        "codec": _text(described.get("codec")),
        "muted": bool(described.get("muted", False)),
        "onHold": bool(described.get("onHold", False)),
        "lossPercent": quality["lossPercent"],
        "jitterMs": quality["jitterMs"],
        "rttMs": quality["rttMs"],
        "mos": quality["mos"],
    }


def live_snapshot(ctx: ApiContext) -> dict[str, object]:
    """Live rooms of this node with their phone calls and browsers: what the live page polls."""
    sizes: dict[str, int] = {}
    calls: dict[str, list[dict[str, object]]] = {}
    browsers: dict[str, list[dict[str, object]]] = {}
    if ctx.rooms is not None:
        for live in ctx.rooms:
            sizes[live.room_id] = len(live)
            browsers[live.room_id] = [
                {"participantId": p.participant_id, "displayName": p.display_name, "muted": p.muted}
                for p in live.participants
                if p.kind == "webrtc"
            ]
    if ctx.live is not None:
        for call in ctx.live.calls:
            calls.setdefault(call.room_id, []).append(_live_call(call.describe()))
    rooms = [
        {
            "roomId": room_id,
            "sipUri": sip_uri(ctx, room_id),
            "participants": max(sizes.get(room_id, 0), len(calls.get(room_id, []))),
            "calls": calls.get(room_id, []),
            "browsers": browsers.get(room_id, []),
        }
        for room_id in sorted(sizes.keys() | calls.keys())
    ]
    return {"rooms": rooms, "calls": sum(len(c) for c in calls.values())}


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """The history page's filters; empty means any."""

    room_id: str = ""
    result: str = ""  # one of CALL_RESULTS, "ongoing", or ""
    day: date | None = None  # calls started that day (UTC)
    api_key_id: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[HistoryFilter, list[str]]:
        """The filter from query parameters, and a message for each one that was ignored."""
        problems = []
        room_id = query.get("room", "").strip().lower()
        result = query.get("result", "").strip()
        if result and result not in CALL_RESULTS and result != ONGOING:
            problems.append(f"unknown result {result!r}")
            result = ""
        day = None
        raw_day = query.get("date", "").strip()
        if raw_day:
            try:
                day = date.fromisoformat(raw_day)
            except ValueError:
                problems.append(f"not a date: {raw_day!r} (use YYYY-MM-DD)")
        return cls(room_id, result, day, query.get("key", "").strip()), problems

    def query(self) -> dict[str, Any]:
        """The filter as ``Store.list_calls`` keyword arguments (filtering in the database)."""
        args: dict[str, Any] = {
            "room_id": self.room_id or None,
            "api_key_id": self.api_key_id or None,
        }
        if self.result == ONGOING:
            args["ongoing"] = True
        elif self.result:
            args["result"] = self.result
        if self.day is not None:
            start = datetime.combine(self.day, time(), tzinfo=UTC)
            args["started_from"], args["started_before"] = start, start + timedelta(days=1)
        return args

    def link(self, older_than: int | None = None) -> str:
        """Query string of this filter's first page, or of the page after ``older_than``."""
        params = {"room": self.room_id, "result": self.result, "key": self.api_key_id}
        if self.day is not None:
            params["date"] = self.day.isoformat()
        if older_than is not None:
            params["older"] = str(older_than)
        return urlencode({k: v for k, v in params.items() if v})


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One call as the history table shows it."""

    id: int
    started: str
    room_id: str
    caller: str
    transport: str
    codec: str
    duration: str
    result: str
    reason: str
    loss: str
    jitter: str
    mos: str


def _duration(call: CallRecord) -> str:
    if call.answered_at is None or call.ended_at is None:
        return "—" if call.ended_at is not None else "ongoing"
    seconds = max(int((call.ended_at - call.answered_at).total_seconds()), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _figure(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:g}{unit}"


def history_rows(calls: Sequence[CallRecord]) -> list[HistoryRow]:
    rows = []
    for call in calls:
        quality = call_quality(call.stats)
        caller = " ".join(x for x in (call.caller_name, mask_number(call.caller_number)) if x)
        rows.append(
            HistoryRow(
                id=call.id,
                started=_utc(call.started_at).strftime("%Y-%m-%d %H:%M:%S"),
                room_id=call.room_id,
                caller=caller or "unknown",
                transport=call.transport.upper(),
                codec=call.codec or "—",
                duration=_duration(call),
                result=call.result or ONGOING,
                reason=call.reason or "",
                loss=_figure(quality["lossPercent"], " %"),
                jitter=_figure(quality["jitterMs"], " ms"),
                mos=_figure(quality["mos"], ""),
            )
        )
    return rows
