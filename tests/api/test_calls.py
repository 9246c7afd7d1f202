"""``/v2/calls``: live calls of the key, hang up and mute (moderators only)."""

from __future__ import annotations

import httpx

from sipmeet.storage import ApiKey
from tests.fakes import FakeCall, FakeLive

from .conftest import auth


def _calls(live: FakeLive, key: ApiKey, other: ApiKey) -> None:
    live.live_calls += [
        FakeCall("sip-1", "room-a", key.id, "c1", quality={"packets_in": 100, "lost": 0}),
        FakeCall("sip-2", "room-b", key.id, "c2"),
        FakeCall("sip-3", "room-z", other.id, "c3"),
    ]


async def test_list_live_calls(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, live: FakeLive
) -> None:
    _calls(live, key, other_key)
    body = (await client.get("/v2/calls", headers=auth(key, moderator=False))).json()
    assert [c["participantId"] for c in body["data"]] == ["sip-1", "sip-2"]
    assert body["total"] == 2
    first = body["data"][0]
    assert first["maskedNumber"] == "+*******4567" and first["codec"] == "PCMU"
    assert first["quality"]["lossPercent"] == 0.0
    scoped = (await client.get("/v2/calls", headers=auth(key, room_id="room-b"))).json()
    assert [c["participantId"] for c in scoped["data"]] == ["sip-2"]


async def test_hang_up(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, live: FakeLive
) -> None:
    _calls(live, key, other_key)
    r = await client.post("/v2/calls/sip-1/hangup", headers=auth(key))
    assert r.status_code == 200 and r.json()["participantId"] == "sip-1"
    assert live.hung_up == [("sip-1", "removed-by-moderator")]
    r = await client.post("/v2/calls/sip-1/hangup", headers=auth(key))
    assert r.status_code == 404 and r.json()["code"] == "call_not_found"
    # Another key's call is invisible.
    r = await client.post("/v2/calls/sip-3/hangup", headers=auth(key))
    assert r.status_code == 404
    # Permission and scope.
    r = await client.post("/v2/calls/sip-2/hangup", headers=auth(key, moderator=False))
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    r = await client.post("/v2/calls/sip-2/hangup", headers=auth(key, room_id="room-a"))
    assert r.status_code == 404
    assert [c.participant_id for c in live.live_calls] == ["sip-2", "sip-3"]


async def test_mute(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, live: FakeLive
) -> None:
    _calls(live, key, other_key)
    r = await client.post("/v2/calls/sip-2/mute", headers=auth(key), json={"muted": True})
    assert r.status_code == 200 and r.json() == {
        "participantId": "sip-2",
        "ok": True,
        "muted": True,
    }
    assert live.live_calls[1].muted is True
    listed = (await client.get("/v2/calls", headers=auth(key))).json()["data"]
    assert [c["muted"] for c in listed] == [False, True]
    r = await client.post("/v2/calls/sip-2/mute", headers=auth(key), json={"muted": False})
    assert r.status_code == 200 and live.live_calls[1].muted is False
    r = await client.post("/v2/calls/sip-3/mute", headers=auth(key), json={"muted": True})
    assert r.status_code == 404
    r = await client.post(
        "/v2/calls/sip-2/mute", headers=auth(key, moderator=False), json={"muted": True}
    )
    assert r.status_code == 403
    r = await client.post("/v2/calls/sip-2/mute", headers=auth(key), json={})
    assert r.status_code == 422
    assert live.live_calls[2].muted is False
