"""``/v2/numbers``: add, list and remove the key's phone numbers."""

from __future__ import annotations

import httpx

from sipmeet.storage import ApiKey, Store

from .conftest import auth


async def test_add_list_remove(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey, store: Store
) -> None:
    room = store.create_room(key.id)
    h = auth(key)
    added = await client.post(
        "/v2/numbers",
        headers=h,
        json={
            "number": "+1 (415) 555-0100",
            "provider": "twilio",
            "roomId": room.room_id,
            "authToken": "t0k",
        },
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["number"] == "+14155550100" and body["roomId"] == room.room_id
    assert body["hasAuthToken"] is True and "authToken" not in body
    assert body["webhookUrl"].endswith("/providers/twilio/voice")
    menu = await client.post(
        "/v2/numbers", headers=h, json={"number": "+14155550111", "provider": "plivo", "ivr": True}
    )
    assert menu.status_code == 201 and menu.json()["ivr"] is True
    duplicate = await client.post(
        "/v2/numbers",
        headers=h,
        json={"number": "+14155550100", "provider": "twilio", "roomId": room.room_id},
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "number_exists")
    listed = (await client.get("/v2/numbers", headers=h)).json()["numbers"]
    assert [n["number"] for n in listed] == ["+14155550100", "+14155550111"]
    # Another key sees none of them and cannot remove them.
    theirs = auth(other_key)
    assert (await client.get("/v2/numbers", headers=theirs)).json() == {"numbers": []}
    assert (await client.delete("/v2/numbers/+14155550100", headers=theirs)).status_code == 404
    assert (await client.delete("/v2/numbers/+14155550100", headers=h)).status_code == 204
    assert [n.number for n in store.list_numbers(key.id)] == ["+14155550111"]


async def test_errors(client: httpx.AsyncClient, key: ApiKey, store: Store) -> None:
    h = auth(key)
    bad = await client.post(
        "/v2/numbers", headers=h, json={"number": "12", "provider": "twilio", "ivr": True}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_number")
    both = await client.post(
        "/v2/numbers", headers=h, json={"number": "+14155550100", "provider": "twilio"}
    )
    assert (both.status_code, both.json()["code"]) == (422, "invalid_number")
    missing = await client.post(
        "/v2/numbers",
        headers=h,
        json={"number": "+14155550100", "provider": "twilio", "roomId": "zzzz-zzzz-zzzz"},
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "room_not_found")
    unknown_provider = await client.post(
        "/v2/numbers", headers=h, json={"number": "+14155550100", "provider": "vonage", "ivr": True}
    )
    assert unknown_provider.status_code == 422
    not_mod = auth(key, moderator=False)
    assert (await client.get("/v2/numbers", headers=not_mod)).status_code == 200
    denied = await client.post(
        "/v2/numbers",
        headers=not_mod,
        json={"number": "+14155550100", "provider": "twilio", "ivr": True},
    )
    assert denied.status_code == 403
