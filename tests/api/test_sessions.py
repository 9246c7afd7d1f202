"""Sessions and participants derived from call records, merged with live calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sipmeet.api import group_sessions, mask_number, parse_session_id
from sipmeet.storage import ApiKey, CallRecord, CallStart, Store
from tests.fakes import FakeCall, FakeLive, FakeParticipant, FakeRoom, FakeRooms

from .conftest import StepClock, auth

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

STATS = {"packets_in": 990, "packets_out": 1000, "lost": 10, "jitter_ms": 4.0, "rtt_ms": 40.0}


def _call(
    store: Store,
    clock: StepClock,
    key: ApiKey,
    room: str,
    *,
    start_s: float,
    end_s: float | None,
    number: str = "+15551234567",
    answered: bool = True,
) -> int:
    """A call record answered at ``start_s`` and ended at ``end_s`` (None: still going)."""
    clock.now = T0 + timedelta(seconds=start_s)
    rid = store.record_call_start(
        CallStart(room, f"call-{start_s}-{room}", "udp", key.id, "Alice", number)
    )
    if answered:
        store.record_call_answered(rid, "PCMU")
    if end_s is not None:
        clock.now = T0 + timedelta(seconds=end_s)
        result, reason = ("success", "caller-hangup") if answered else ("client_error", "busy")
        store.record_call_end(rid, result, reason, STATS if answered else {})
    return rid


def _record(rid: int, start: float, end: float | None, call_id: str = "") -> CallRecord:
    return CallRecord(
        id=rid,
        room_id="r",
        api_key_id="k",
        sip_call_id=call_id or f"c{rid}",
        caller_name=None,
        caller_number=None,
        provider_metadata=None,
        codec="PCMU",
        transport="udp",
        started_at=T0 + timedelta(seconds=start),
        answered_at=T0 + timedelta(seconds=start),
        ended_at=None if end is None else T0 + timedelta(seconds=end),
        result=None,
        reason=None,
        stats=None,
    )


def test_group_sessions_merges_overlaps() -> None:
    records = [
        _record(1, 0, 10),
        _record(2, 5, 20),  # overlaps 1
        _record(3, 20, 25),  # touches 2's end: same session
        _record(4, 30, 40),  # a gap: new session
        _record(5, 50, None, "live-1"),  # still going
        _record(6, 60, 70),  # inside the live one
    ]
    sessions = group_sessions(records, frozenset({"live-1"}))
    assert [[r.id for r in s.records] for s in sessions] == [[1, 2, 3], [4], [5, 6]]
    assert [s.session_id for s in sessions] == ["r.1", "r.4", "r.5"]
    assert sessions[0].end == T0 + timedelta(seconds=25)
    assert sessions[2].end is None and sessions[2].out().active


def test_unfinished_record_of_a_dead_call_does_not_keep_a_session_open() -> None:
    (session,) = group_sessions([_record(1, 0, None, "gone")], frozenset())
    assert session.end == session.start


def test_session_ids_and_masking() -> None:
    assert parse_session_id("my-room.12") == ("my-room", 12)
    for bad in ("nodot", ".12", "room.", "room.x1", "room." + "9" * 30):
        assert parse_session_id(bad) is None
    assert mask_number("+15551234567") == "+*******4567"
    assert mask_number("1234") == "****"
    assert mask_number(None) is None


async def test_sessions_and_their_participants(
    client: httpx.AsyncClient, key: ApiKey, store: Store, clock: StepClock
) -> None:
    store.create_room(key.id, "weekly")
    a = _call(store, clock, key, "weekly", start_s=0, end_s=60)
    b = _call(store, clock, key, "weekly", start_s=30, end_s=90, number="+4930123456")
    _call(store, clock, key, "weekly", start_s=95, end_s=96, answered=False)  # never joined
    c = _call(store, clock, key, "weekly", start_s=200, end_s=260)
    h = auth(key)
    r = await client.get("/v2/sessions?roomId=weekly", headers=h)
    assert r.status_code == 200, r.text
    sessions = r.json()["data"]
    assert [s["sessionId"] for s in sessions] == [f"weekly.{c}", f"weekly.{a}"]  # newest first
    assert [s["participantCount"] for s in sessions] == [1, 2]
    assert sessions[1]["start"].startswith("2026-01-01T12:00:00")
    assert sessions[1]["end"].startswith("2026-01-01T12:01:30")
    assert not sessions[1]["active"]

    r = await client.get(f"/v2/sessions/weekly.{a}/participants", headers=h)
    assert r.status_code == 200, r.text
    people = r.json()["data"]
    assert [p["participantId"] for p in people] == [f"call-{b}", f"call-{a}"]
    first = people[1]
    assert first["kind"] == "sip" and not first["live"]
    assert first["maskedNumber"] == "+*******4567"
    assert "15551234567" not in r.text  # never the full number
    assert first["codec"] == "PCMU" and first["result"] == "success"
    assert first["reason"] == "caller-hangup"
    assert first["quality"]["lossPercent"] == 1.0
    assert first["quality"]["jitterMs"] == 4.0 and first["quality"]["rttMs"] == 40.0
    assert 4.0 < first["quality"]["mos"] < 4.4


async def test_room_participants_live_and_past(
    client: httpx.AsyncClient, key: ApiKey, store: Store, clock: StepClock, live: FakeLive
) -> None:
    store.create_room(key.id, "daily")
    _call(store, clock, key, "daily", start_s=0, end_s=10, answered=False)
    ongoing = _call(store, clock, key, "daily", start_s=20, end_s=None)
    call_id = next(c.sip_call_id for c in store.list_calls("daily") if c.id == ongoing)
    live.live_calls.append(
        FakeCall("sip-abc", "daily", key.id, call_id, muted=True, quality={"packets_in": 50})
    )
    r = await client.get("/v2/rooms/daily/participants", headers=auth(key))
    assert r.status_code == 200, r.text
    people = r.json()["data"]
    assert [p["live"] for p in people] == [True, False]
    assert people[0]["participantId"] == "sip-abc" and people[0]["muted"] is True
    assert people[0]["joinedAt"] is not None and people[0]["leftAt"] is None
    assert people[1]["joinedAt"] is None and people[1]["result"] == "client_error"
    assert people[1]["quality"] == {
        "lossPercent": None,
        "jitterMs": None,
        "rttMs": None,
        "mos": None,
    }
    sessions = (await client.get("/v2/sessions?roomId=daily", headers=auth(key))).json()["data"]
    assert [s["active"] for s in sessions] == [True]


async def test_browsers_are_participants_too(
    client: httpx.AsyncClient, key: ApiKey, store: Store, clock: StepClock, rooms: FakeRooms
) -> None:
    store.create_room(key.id, "daily")
    phone = _call(store, clock, key, "daily", start_s=0, end_s=60)
    for pid, name, start, end in (("web-gone", "Bob", 10.0, 30.0), ("web-here", "Ada", 20.0, None)):
        clock.now = T0 + timedelta(seconds=start)
        rid = store.record_call_start(CallStart("daily", pid, "webrtc", key.id, name))
        store.record_call_answered(rid, "opus")
        if end is not None:
            clock.now = T0 + timedelta(seconds=end)
            store.record_call_end(rid, "success", "left", {"frames_decoded": 500})
    rooms.rooms["daily"] = FakeRoom("daily", participants=[FakeParticipant("web-here", "Ada")])
    r = await client.get("/v2/rooms/daily/participants", headers=auth(key))
    assert r.status_code == 200, r.text
    people = r.json()["data"]
    assert [(p["kind"], p["displayName"], p["live"]) for p in people] == [
        ("webrtc", "Ada", True),
        ("webrtc", "Bob", False),
        ("sip", "Alice", False),
    ]
    assert people[0]["participantId"] == "web-here" and people[0]["transport"] == "webrtc"
    assert people[1]["reason"] == "left" and people[1]["maskedNumber"] is None
    (session,) = (await client.get("/v2/sessions?roomId=daily", headers=auth(key))).json()["data"]
    assert session["active"] is True and session["participantCount"] == 3
    assert session["sessionId"] == f"daily.{phone}"
    # the phone calls' metric counts no browser
    assert store.count_calls_by_end() == {("success", "caller-hangup"): 1}


@pytest.mark.parametrize(
    "path",
    [
        "/v2/sessions?roomId=theirs",
        "/v2/rooms/theirs/participants",
        "/v2/sessions/theirs.1/participants",
    ],
)
async def test_other_keys_sessions_are_404(
    client: httpx.AsyncClient,
    key: ApiKey,
    other_key: ApiKey,
    store: Store,
    clock: StepClock,
    path: str,
) -> None:
    store.create_room(other_key.id, "theirs")
    _call(store, clock, other_key, "theirs", start_s=0, end_s=10)
    r = await client.get(path, headers=auth(key))
    assert r.status_code == 404
    r = await client.get(path, headers=auth(other_key, room_id="elsewhere"))
    assert r.status_code == 403


async def test_session_errors(client: httpx.AsyncClient, key: ApiKey, store: Store) -> None:
    store.create_room(key.id, "quiet")
    h = auth(key)
    assert (await client.get("/v2/sessions", headers=h)).status_code == 422
    assert (await client.get("/v2/sessions?roomId=quiet", headers=h)).json()["data"] == []
    for sid in ("quiet.1", "garbage", "quiet.x"):
        r = await client.get(f"/v2/sessions/{sid}/participants", headers=h)
        assert r.status_code == 404 and r.json()["code"] == "session_not_found"
