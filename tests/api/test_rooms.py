"""``/v2/rooms``: create, list (pages and cursors), read, deactivate; scopes and ownership."""

from __future__ import annotations

import httpx

from sipmeet.storage import ApiKey, Store
from tests.fakes import FakeCall, FakeLive, FakeRoom, FakeRooms

from .conftest import DOMAIN, auth


async def test_create_and_get_room(client: httpx.AsyncClient, key: ApiKey) -> None:
    r = await client.post("/v2/rooms", headers=auth(key))
    assert r.status_code == 201, r.text
    room = r.json()
    assert room["active"] is True
    assert room["sipUri"] == f"sip:{room['roomId']}@{DOMAIN}"
    assert room["createdAt"].startswith("2026-01-01T12:00:00")
    got = await client.get(f"/v2/rooms/{room['roomId']}", headers=auth(key))
    assert got.status_code == 200
    assert got.json() == room


async def test_custom_room_id(client: httpx.AsyncClient, key: ApiKey) -> None:
    h = auth(key)
    r = await client.post("/v2/rooms", headers=h, json={"customRoomId": "Daily-Standup"})
    assert r.status_code == 201
    assert r.json()["roomId"] == "daily-standup"
    again = await client.post("/v2/rooms", headers=h, json={"customRoomId": "daily-standup"})
    assert again.status_code == 409
    assert again.json()["code"] == "room_exists"
    bad = await client.post("/v2/rooms", headers=h, json={"customRoomId": "no spaces!"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_room_id"
    extra = await client.post("/v2/rooms", headers=h, json={"unknownField": 1})
    assert extra.status_code == 422
    assert extra.json()["code"] == "invalid_request"


async def test_room_scoped_token_cannot_create_rooms(
    client: httpx.AsyncClient, key: ApiKey
) -> None:
    r = await client.post("/v2/rooms", headers=auth(key, room_id="abc"))
    assert r.status_code == 403
    assert r.json()["code"] == "room_out_of_scope"


async def test_list_pages_and_cursor(client: httpx.AsyncClient, key: ApiKey, store: Store) -> None:
    ids = [store.create_room(key.id, f"room-{i:02d}").room_id for i in range(5)]
    h = auth(key)
    first = (await client.get("/v2/rooms?page=1&perPage=2", headers=h)).json()
    assert [r["roomId"] for r in first["data"]] == ids[:2]
    assert first["total"] == 5 and first["page"] == 1 and first["perPage"] == 2
    third = (await client.get("/v2/rooms?page=3&perPage=2", headers=h)).json()
    assert [r["roomId"] for r in third["data"]] == ids[4:]
    assert third["nextCursor"] is None
    beyond = (await client.get("/v2/rooms?page=9&perPage=2", headers=h)).json()
    assert beyond["data"] == [] and beyond["total"] == 5
    # Walk with cursors.
    seen: list[str] = []
    cursor = None
    while True:
        url = "/v2/rooms?perPage=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=h)).json()
        seen += [r["roomId"] for r in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = await client.get("/v2/rooms?cursor=%25%25%25", headers=h)
    assert bad.status_code == 422


async def test_list_shows_only_own_rooms_and_scope(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, store: Store
) -> None:
    store.create_room(key.id, "mine-one")
    store.create_room(key.id, "mine-two")
    store.create_room(other_key.id, "theirs")
    listed = (await client.get("/v2/rooms", headers=auth(key))).json()
    assert [r["roomId"] for r in listed["data"]] == ["mine-one", "mine-two"]
    scoped = (await client.get("/v2/rooms", headers=auth(key, room_id="mine-two"))).json()
    assert [r["roomId"] for r in scoped["data"]] == ["mine-two"]


async def test_another_keys_room_is_404_and_scope_is_403(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, store: Store
) -> None:
    store.create_room(other_key.id, "theirs")
    store.create_room(key.id, "mine")
    r = await client.get("/v2/rooms/theirs", headers=auth(key))
    assert r.status_code == 404 and r.json()["code"] == "room_not_found"
    r = await client.get("/v2/rooms/nope", headers=auth(key))
    assert r.status_code == 404
    r = await client.get("/v2/rooms/mine", headers=auth(key, room_id="other"))
    assert r.status_code == 403 and r.json()["code"] == "room_out_of_scope"
    r = await client.get("/v2/rooms/mine", headers=auth(key, room_id="mine", moderator=False))
    assert r.status_code == 200


async def test_live_participants_count(
    client: httpx.AsyncClient, key: ApiKey, store: Store, rooms: FakeRooms
) -> None:
    store.create_room(key.id, "busy")
    rooms.rooms["busy"] = FakeRoom("busy", size=3)
    assert (await client.get("/v2/rooms/busy", headers=auth(key))).json()["liveParticipants"] == 3


async def test_deactivate_hangs_up_callers(
    client: httpx.AsyncClient, key: ApiKey, store: Store, live: FakeLive
) -> None:
    store.create_room(key.id, "closing")
    live.live_calls.append(FakeCall("sip-1", "closing", key.id, "c1"))
    live.live_calls.append(FakeCall("sip-2", "elsewhere", key.id, "c2"))
    r = await client.post("/v2/rooms/deactivate", headers=auth(key), json={"roomId": "closing"})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False and r.json()["deactivatedAt"] is not None
    assert live.ended_rooms == [("closing", "room-deactivated")]
    assert [c.participant_id for c in live.live_calls] == ["sip-2"]
    room = store.get_room("closing")
    assert room is not None and not room.active


async def test_deactivate_errors(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, store: Store, live: FakeLive
) -> None:
    store.create_room(other_key.id, "theirs")
    store.create_room(key.id, "mine")
    r = await client.post("/v2/rooms/deactivate", headers=auth(key), json={"roomId": "theirs"})
    assert r.status_code == 404
    r = await client.post(
        "/v2/rooms/deactivate", headers=auth(key, moderator=False), json={"roomId": "mine"}
    )
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    r = await client.post("/v2/rooms/deactivate", headers=auth(key), json={})
    assert r.status_code == 422
    assert live.ended_rooms == []
    theirs = store.get_room("theirs")
    assert theirs is not None and theirs.active


async def test_room_with_pin_and_its_own_webhook(
    client: httpx.AsyncClient, key: ApiKey, store: Store
) -> None:
    h = auth(key)
    created = await client.post(
        "/v2/rooms", headers=h, json={"pin": "2468", "webhook": "https://hooks.example.com/room"}
    )
    assert created.status_code in (200, 201), created.text
    body = created.json()
    assert body["hasPin"] is True and body["dialinCode"].isdigit()
    assert body["webhookId"] and body["webhookSecret"].startswith("whsec_")
    assert store.room_pin(body["roomId"]) == "2468"
    (hook,) = store.list_webhooks(key.id)
    assert hook.room_id == body["roomId"] and hook.url == "https://hooks.example.com/room"
    # The room's webhook hears only its room; a key-wide one hears every room.
    store.create_webhook(key.id, "https://hooks.example.com/all", (), "whsec_x")
    other = store.create_room(key.id)
    payload = {"event": "participant-joined"}
    assert (
        len(
            store.enqueue_webhook_event(
                key.id, "participant-joined", lambda w: payload, room_id=other.room_id
            )
        )
        == 1
    )
    assert (
        len(
            store.enqueue_webhook_event(
                key.id, "participant-joined", lambda w: payload, room_id=body["roomId"]
            )
        )
        == 2
    )
    again = (await client.get(f"/v2/rooms/{body['roomId']}", headers=h)).json()
    assert again["webhookSecret"] is None  # shown once only


async def test_bad_pin_and_bad_webhook_url(client: httpx.AsyncClient, key: ApiKey) -> None:
    h = auth(key)
    bad_pin = await client.post("/v2/rooms", headers=h, json={"pin": "12"})
    assert (bad_pin.status_code, bad_pin.json()["code"]) == (422, "invalid_pin")
    bad_url = await client.post("/v2/rooms", headers=h, json={"webhook": "ftp://x"})
    assert (bad_url.status_code, bad_url.json()["code"]) == (422, "invalid_url")
