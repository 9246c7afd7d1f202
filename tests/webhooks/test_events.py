from __future__ import annotations

import json

from sipmeet.bridge.results import CallAnswered, CallRejected
from sipmeet.rooms.events import (
    ActiveSpeakerChanged,
    DtmfPressed,
    MuteChanged,
    ParticipantJoined,
    ParticipantLeft,
)
from sipmeet.webhooks import (
    EventShaper,
    WebhookEvent,
    build_payload,
    encode_body,
    iso_time,
    new_delivery_id,
)

T0 = 1767268800.0  # 2026-01-01T12:00:00Z


def shaper(rooms: dict[str, str] | None = None) -> EventShaper:
    owners = {"room-a": "key1"} if rooms is None else rooms
    return EventShaper(owners.get)


def names(events: list[WebhookEvent]) -> list[str]:
    return [e.name for e in events]


def test_first_join_starts_the_session_and_last_leave_ends_it() -> None:
    s = shaper()
    first = s.room_event(ParticipantJoined("room-a", "p1", "sip", "Alice", "+*******4567"), T0)
    assert names(first) == ["session-started", "participant-joined"]
    assert first[0].data == {"roomId": "room-a", "startedAt": "2026-01-01T12:00:00.000Z"}
    assert first[1] == WebhookEvent(
        "participant-joined",
        "key1",
        {
            "roomId": "room-a",
            "participantId": "p1",
            "kind": "sip",
            "displayName": "Alice",
            "maskedNumber": "+*******4567",
        },
        T0,
    )
    second = s.room_event(ParticipantJoined("room-a", "p2", "webrtc", "Bob"), T0 + 1)
    assert names(second) == ["participant-joined"]
    left = s.room_event(ParticipantLeft("room-a", "p1", "sip", "caller-hangup"), T0 + 2)
    assert names(left) == ["participant-left"]
    assert left[0].data == {
        "roomId": "room-a",
        "participantId": "p1",
        "kind": "sip",
        "reason": "caller-hangup",
    }
    last = s.room_event(ParticipantLeft("room-a", "p2", "webrtc", "left"), T0 + 62.5)
    assert names(last) == ["participant-left", "session-ended"]
    assert last[1].data == {
        "roomId": "room-a",
        "startedAt": "2026-01-01T12:00:00.000Z",
        "endedAt": "2026-01-01T12:01:02.500Z",
        "durationSeconds": 62.5,
    }
    # A new session in the same room starts afresh.
    again = s.room_event(ParticipantJoined("room-a", "p3", "sip", "Carol"), T0 + 100)
    assert names(again) == ["session-started", "participant-joined"]


def test_the_api_key_is_looked_up_once_per_session() -> None:
    owners = {"room-a": "key1"}
    s = shaper(owners)
    s.room_event(ParticipantJoined("room-a", "p1", "sip", "Alice"), T0)
    del owners["room-a"]  # e.g. the registry already dropped the room
    out = s.room_event(ParticipantLeft("room-a", "p1", "sip", "bye"), T0 + 1)
    assert names(out) == ["participant-left", "session-ended"]
    assert {e.api_key_id for e in out} == {"key1"}


def test_rooms_of_unknown_keys_are_not_reported() -> None:
    s = shaper({})
    assert s.room_event(ParticipantJoined("room-x", "p1", "sip", "A"), T0) == []
    assert s.room_event(ParticipantLeft("room-x", "p1", "sip", "bye"), T0) == []
    assert s.room_event(DtmfPressed("room-x", "p1", "5", "rfc4733"), T0) == []


def test_dtmf_and_ignored_room_events() -> None:
    s = shaper()
    out = s.room_event(DtmfPressed("room-a", "p1", "#", "info"), T0)
    assert out == [
        WebhookEvent(
            "dtmf",
            "key1",
            {"roomId": "room-a", "participantId": "p1", "digit": "#", "source": "info"},
            T0,
        )
    ]
    assert s.room_event(MuteChanged("room-a", "p1", True), T0) == []
    assert s.room_event(ActiveSpeakerChanged("room-a", "p1"), T0) == []


def test_call_rejected_carries_status_and_reason() -> None:
    s = shaper()
    out = s.call_event(CallRejected("c1", "key1", "room-a", 480, "room-inactive"), T0)
    assert out == [
        WebhookEvent(
            "call-rejected",
            "key1",
            {"callId": "c1", "roomId": "room-a", "status": 480, "reason": "room-inactive"},
            T0,
        )
    ]
    # Before authentication the key is unknown: nobody to tell.
    assert s.call_event(CallRejected("c2", None, "room-a", 403, "bad-credentials"), T0) == []
    answered = CallAnswered("c3", "key1", "room-a", "p1", "Alice", None, "PCMU")
    assert s.call_event(answered, T0) == []


def test_payload_shape_and_body_bytes() -> None:
    event = WebhookEvent("dtmf", "key1", {"roomId": "room-a", "digit": "1"}, T0 + 0.25)
    payload = build_payload(event, "evt_abc")
    assert payload == {
        "event": "dtmf",
        "id": "evt_abc",
        "createdAt": "2026-01-01T12:00:00.250Z",
        "apiKey": "key1",
        "data": {"roomId": "room-a", "digit": "1"},
    }
    body = encode_body(payload)
    assert body.startswith(b'{"event":"dtmf","id":"evt_abc",')
    assert json.loads(body) == payload
    assert encode_body({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()


def test_ids_and_times() -> None:
    assert new_delivery_id(lambda n: "0" * (2 * n)) == "evt_" + "0" * 24
    assert new_delivery_id() != new_delivery_id()
    assert iso_time(0.0) == "1970-01-01T00:00:00.000Z"
