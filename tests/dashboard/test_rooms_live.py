"""Rooms (create, deactivate, open the meeting page) and the live view (JSON, hang up, mute)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from sipmeet.api import ApiContext
from sipmeet.auth_tokens import verify_token
from sipmeet.storage import Store
from tests.fakes import FakeCall, FakeLive, FakeParticipant, FakeRoom, FakeRooms

from .conftest import DOMAIN, Clock, page_csrf, text_of


async def test_create_room_with_id_and_pin(admin: httpx.AsyncClient, store: Store) -> None:
    key = store.create_api_key("k", enable_sip=True)
    token = await page_csrf(admin, "/dashboard/rooms")
    response = await admin.post(
        "/dashboard/rooms", data={"csrf": token, "key": key.id, "room": "Team-Sync", "pin": "4321"}
    )
    assert response.status_code == 303
    room = store.get_room("team-sync")
    assert room is not None and room.api_key_id == key.id and room.has_pin
    assert store.room_pin("team-sync") == "4321"
    page = await admin.get("/dashboard/rooms")
    text = text_of(page.text)
    assert f"Room team-sync created: dial sip:team-sync@{DOMAIN}" in text
    assert f"sip:team-sync@{DOMAIN}" in page.text
    assert f'<code class="dialin">{room.dialin_code}</code>' in page.text
    assert 'data-copy="uri-team-sync"' in page.text


async def test_create_room_with_a_random_id_and_errors(
    admin: httpx.AsyncClient, store: Store
) -> None:
    key = store.create_api_key("k")
    token = await page_csrf(admin, "/dashboard/rooms")
    made = await admin.post(
        "/dashboard/rooms",
        data={"csrf": token, "key": key.id},
        headers={"Accept": "application/json"},
    )
    assert made.status_code == 200
    room_id = made.json()["roomId"]
    assert store.get_room(room_id) is not None
    for data, message in [
        ({"key": key.id, "room": room_id}, f"room {room_id} already exists"),
        ({"key": key.id, "room": "x"}, "invalid room id"),
        ({"key": key.id, "pin": "12"}, "invalid PIN"),
        ({"key": "APInope"}, "no such API key: APInope"),
    ]:
        await admin.post("/dashboard/rooms", data={"csrf": token, **data})
        assert message in text_of((await admin.get("/dashboard/rooms")).text), message
    assert len(store.list_rooms()) == 1


async def test_rooms_page_filters_by_key(admin: httpx.AsyncClient, store: Store) -> None:
    a = store.create_api_key("a")
    b = store.create_api_key("b")
    store.create_room(a.id, "room-of-a")
    store.create_room(b.id, "room-of-b")
    page = await admin.get(f"/dashboard/rooms?key={a.id}")
    assert 'data-room-id="room-of-a"' in page.text and 'data-room-id="room-of-b"' not in page.text
    every = await admin.get("/dashboard/rooms")
    assert 'data-room-id="room-of-b"' in every.text


async def test_deactivate_room_ends_its_calls(
    admin: httpx.AsyncClient, store: Store, live: FakeLive
) -> None:
    key = store.create_api_key("k", enable_sip=True)
    store.create_room(key.id, "standup")
    live.live_calls += [FakeCall("p1", "standup", key.id), FakeCall("p2", "other", key.id)]
    token = await page_csrf(admin, "/dashboard/rooms")
    response = await admin.post("/dashboard/rooms/standup/deactivate", data={"csrf": token})
    assert response.status_code == 303
    room = store.get_room("standup")
    assert room is not None and not room.active
    assert [c.participant_id for c in live.live_calls] == ["p2"]
    assert "Room standup deactivated; 1 call ended." in text_of(
        (await admin.get("/dashboard/rooms")).text
    )
    missing = await admin.post(
        "/dashboard/rooms/nope-nope/deactivate",
        data={"csrf": token},
        headers={"Accept": "application/json"},
    )
    assert missing.status_code == 404


async def test_open_meeting_with_a_fresh_room_token(
    admin: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    key = store.create_api_key("k")
    store.create_room(key.id, "standup")
    token = await page_csrf(admin, "/dashboard/rooms")
    response = await admin.post("/dashboard/rooms/standup/open", data={"csrf": token})
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/meet/standup"
    query = parse_qs(target.query)
    claims = verify_token(
        query["token"][0], lambda k: key.secret if k == key.id else None, now=clock.unix()
    )
    assert claims.api_key_id == key.id and claims.room_id == "standup"
    assert claims.can_join and claims.is_moderator
    assert claims.issued_at == int(clock.unix())
    store.deactivate_room("standup")
    refused = await admin.post(
        "/dashboard/rooms/standup/open",
        data={"csrf": token},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 409


async def test_live_json_groups_calls_with_quality(
    admin: httpx.AsyncClient, live: FakeLive, clock: Clock
) -> None:
    live.live_calls += [
        FakeCall("p1", "standup", "APIa", quality={"packets_in": 95, "lost": 5, "jitter_ms": 12.5}),
        FakeCall("p2", "standup", "APIa", muted=True),
        FakeCall("p3", "board", "APIb", quality={"packets_in": 100, "lost": 0, "jitter_ms": 1.0}),
    ]
    response = await admin.get("/dashboard/live.json")
    assert response.status_code == 200
    body = response.json()
    assert body["calls"] == 3 and body["at"] == clock.unix()
    assert [r["roomId"] for r in body["rooms"]] == ["board", "standup"]
    standup = body["rooms"][1]
    assert standup["sipUri"] == f"sip:standup@{DOMAIN}" and standup["participants"] == 2
    first, second = standup["calls"]
    assert first["participantId"] == "p1" and first["maskedNumber"] == "+*******4567"
    assert first["lossPercent"] == 5.0 and first["jitterMs"] == 12.5
    assert 1.0 <= first["mos"] <= 4.5
    assert second["muted"] is True and second["lossPercent"] is None and second["mos"] is None


async def test_live_page_renders_calls_with_phone_badge(
    admin: httpx.AsyncClient, live: FakeLive
) -> None:
    live.live_calls.append(FakeCall("p1", "standup", "APIa", quality={"packets_in": 10}))
    page = await admin.get("/dashboard/live")
    assert 'data-poll-ms="2000"' in page.text
    assert 'data-participant-id="p1"' in page.text
    assert '<span class="phone-badge" title="phone">☎ +*******4567</span>' in page.text
    assert "Alice &lt;Example&gt;" in page.text  # escaped
    assert 'action="/dashboard/calls/p1/hangup"' in page.text
    assert 'class="quality-chart"' in page.text


async def test_hang_up_and_mute(admin: httpx.AsyncClient, live: FakeLive) -> None:
    live.live_calls += [FakeCall("p1", "standup", "APIa"), FakeCall("p2", "standup", "APIa")]
    token = await page_csrf(admin, "/dashboard/live")
    json = {"Accept": "application/json"}
    muted = await admin.post("/dashboard/calls/p1/mute", data={"csrf": token}, headers=json)
    assert muted.status_code == 200 and muted.json()["muted"] is True
    assert live.live_calls[0].muted
    unmuted = await admin.post(
        "/dashboard/calls/p1/mute", data={"csrf": token, "muted": "0"}, headers=json
    )
    assert unmuted.json()["muted"] is False and not live.live_calls[0].muted
    ended = await admin.post("/dashboard/calls/p2/hangup", data={"csrf": token})
    assert ended.status_code == 303 and ended.headers["location"] == "/dashboard/live"
    assert live.hung_up == [("p2", "removed-by-moderator")]
    gone = await admin.post("/dashboard/calls/p2/hangup", data={"csrf": token}, headers=json)
    assert gone.status_code == 404
    gone = await admin.post("/dashboard/calls/p9/mute", data={"csrf": token}, headers=json)
    assert gone.status_code == 404
    assert [c.participant_id for c in live.live_calls] == ["p1"]


async def test_static_assets(client: httpx.AsyncClient) -> None:
    css = await client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = await client.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and "/dashboard/live.json" in js.text
    assert (await client.get("/dashboard/static/../router.py")).status_code == 404
    assert (await client.get("/dashboard/static/nothing.js")).status_code == 404


async def test_live_lists_browser_only_rooms(admin: httpx.AsyncClient, ctx: ApiContext) -> None:
    browsers = [FakeParticipant("web-1", "Ada <Lovelace>"), FakeParticipant("web-2", "Bob", True)]
    ctx.rooms = FakeRooms({"webinar": FakeRoom("webinar", 2, browsers)})
    body = (await admin.get("/dashboard/live.json")).json()
    assert body["calls"] == 0
    assert body["rooms"] == [
        {
            "roomId": "webinar",
            "sipUri": f"sip:webinar@{DOMAIN}",
            "participants": 2,
            "calls": [],
            "browsers": [
                {"participantId": "web-1", "displayName": "Ada <Lovelace>", "muted": False},
                {"participantId": "web-2", "displayName": "Bob", "muted": True},
            ],
        }
    ]
    page = await admin.get("/dashboard/live")
    assert "No phone callers (browser participants only)." in page.text
    assert "In a browser:" in page.text and "Ada &lt;Lovelace&gt;" in page.text
    assert "Bob (muted)" in page.text
