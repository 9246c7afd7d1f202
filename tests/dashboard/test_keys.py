"""API keys and SIP credentials through the dashboard; every form refuses a missing CSRF token."""

from __future__ import annotations

import html

import httpx
import pytest
from fastapi import FastAPI

from sipmeet.storage import Store
from tests.fakes import FakeCall, FakeLive

from .conftest import (
    DOMAIN,
    Clock,
    csrf_of,
    login,
    make_client,
    page_csrf,
    text_of,
)


async def test_create_key_with_sip_shows_secret_and_credentials(
    admin: httpx.AsyncClient, store: Store
) -> None:
    token = await page_csrf(admin)
    response = await admin.post("/dashboard/keys", data={"csrf": token, "name": "prod", "sip": "1"})
    assert response.status_code == 303
    [key] = store.list_api_keys()
    assert key.name == "prod" and key.sip is not None
    assert response.headers["location"] == f"/dashboard/keys/{key.id}"
    page = await admin.get(response.headers["location"])
    assert page.status_code == 200
    assert f'<code id="api-secret" class="secret concealed">{key.secret}</code>' in page.text
    assert f'<code id="sip-username" class="">{key.sip.username}</code>' in page.text
    assert (
        f'<code id="sip-password" class="secret concealed">{key.sip.password}</code>' in page.text
    )
    assert html.escape(f"sip:<room-id>@{DOMAIN}") in page.text
    assert 'data-copy="sip-password"' in page.text and 'data-copy="sip-uri-pattern"' in page.text
    assert "API key 'prod' created." in html.unescape(page.text)
    listing = await admin.get("/dashboard/keys")
    assert f'data-key-id="{key.id}"' in listing.text and key.sip.username in listing.text


async def test_create_key_without_sip_and_with_a_bad_name(
    admin: httpx.AsyncClient, store: Store
) -> None:
    token = await page_csrf(admin)
    await admin.post("/dashboard/keys", data={"csrf": token, "name": "plain"})
    [key] = store.list_api_keys()
    assert key.sip is None
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert "Enable SIP" in page.text and 'id="sip-password"' not in page.text
    bad = await admin.post("/dashboard/keys", data={"csrf": token, "name": "  "})
    assert bad.status_code == 303 and bad.headers["location"] == "/dashboard/keys"
    shown = await admin.get("/dashboard/keys")
    assert "API key name must be 1-200 characters" in shown.text
    assert len(store.list_api_keys()) == 1


async def test_enable_rotate_disable(admin: httpx.AsyncClient, store: Store) -> None:
    key = store.create_api_key("k")
    token = await page_csrf(admin)
    base = f"/dashboard/keys/{key.id}/sip"
    assert (await admin.post(f"{base}/enable", data={"csrf": token})).status_code == 303
    first = store.sip_credentials(key.id)
    assert first is not None
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert first.password in page.text and "SIP enabled." in page.text

    await admin.post(f"{base}/rotate", data={"csrf": token, "grace": "0"})
    second = store.sip_credentials(key.id)
    assert second is not None
    assert second.username == first.username and second.password != first.password
    assert second.previous_valid_until is None
    assert second.password in (await admin.get(f"/dashboard/keys/{key.id}")).text

    await admin.post(f"{base}/rotate", data={"csrf": token, "grace": "120"})
    third = store.sip_credentials(key.id)
    assert third is not None and third.previous_valid_until is not None
    account = store.sip_account(first.username)
    assert account is not None and account.previous_ha1 is not None  # second still works
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert 'id="grace"' in page.text and "the old one works until" in html.unescape(page.text)

    await admin.post(f"{base}/disable", data={"csrf": token})
    assert store.sip_credentials(key.id) is None
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert "SIP is disabled for this key" in page.text


@pytest.mark.parametrize("grace", ["-5", "abc", str(7 * 24 * 3600 + 1)])
async def test_rotate_refuses_a_bad_grace_period(
    admin: httpx.AsyncClient, store: Store, grace: str
) -> None:
    key = store.create_api_key("k", enable_sip=True)
    assert key.sip is not None
    token = await page_csrf(admin)
    response = await admin.post(
        f"/dashboard/keys/{key.id}/sip/rotate",
        data={"csrf": token, "grace": grace},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    creds = store.sip_credentials(key.id)
    assert creds is not None and creds.password == key.sip.password


async def test_rotate_of_a_key_without_sip_says_so(admin: httpx.AsyncClient, store: Store) -> None:
    key = store.create_api_key("k")
    token = await page_csrf(admin)
    await admin.post(f"/dashboard/keys/{key.id}/sip/rotate", data={"csrf": token, "grace": "0"})
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert f"SIP is not enabled for API key {key.id}" in page.text


async def test_unknown_key_and_action(admin: httpx.AsyncClient) -> None:
    page = await admin.get("/dashboard/keys/APInope")
    assert page.status_code == 303 and page.headers["location"] == "/dashboard/keys"
    assert "No such API key: APInope" in (await admin.get("/dashboard/keys")).text
    token = await page_csrf(admin)
    bogus = await admin.post(
        "/dashboard/keys/APInope/sip/explode",
        data={"csrf": token},
        headers={"Accept": "application/json"},
    )
    assert bogus.status_code == 404


async def test_delete_key_removes_it_and_ends_its_calls(
    admin: httpx.AsyncClient, store: Store, live: FakeLive
) -> None:
    key = store.create_api_key("doomed", enable_sip=True)
    room = store.create_room(key.id, "doomed-room")
    live.live_calls.append(FakeCall("p1", room.room_id, key.id))
    token = await page_csrf(admin)
    response = await admin.post(f"/dashboard/keys/{key.id}/delete", data={"csrf": token})
    assert response.status_code == 303
    assert store.get_api_key(key.id) is None and store.get_room(room.room_id) is None
    assert live.live_calls == [] and [r for r, _ in live.ended_rooms] == ["doomed-room"]


FORMS = [
    "/dashboard/keys",
    "/dashboard/keys/{key}/delete",
    "/dashboard/keys/{key}/sip/enable",
    "/dashboard/keys/{key}/sip/rotate",
    "/dashboard/keys/{key}/sip/disable",
    "/dashboard/rooms",
    "/dashboard/rooms/{room}/deactivate",
    "/dashboard/rooms/{room}/open",
    "/dashboard/calls/p1/hangup",
    "/dashboard/calls/p1/mute",
    "/dashboard/logout",
]


@pytest.mark.parametrize("form", FORMS)
async def test_every_form_refuses_a_missing_or_foreign_csrf_token(
    app: FastAPI, store: Store, live: FakeLive, form: str
) -> None:
    key = store.create_api_key("k", enable_sip=True)
    room = store.create_room(key.id, "room-one")
    live.live_calls.append(FakeCall("p1", room.room_id, key.id))
    path = form.format(key=key.id, room=room.room_id)
    data = {"name": "x", "key": key.id, "room": "room-two", "grace": "0", "muted": "1"}
    async with make_client(app) as admin, make_client(app, "192.0.2.99") as other:
        assert (await login(admin)).status_code == 303
        assert (await login(other)).status_code == 303
        foreign = await page_csrf(other)  # a valid token, of another session
        for token in (None, "", foreign, "0" * 64):
            sent = dict(data) if token is None else {**data, "csrf": token}
            response = await admin.post(path, data=sent)
            assert response.status_code == 403, (path, token)
        assert (await admin.get("/dashboard/keys")).status_code == 200  # still logged in
    assert [k.id for k in store.list_api_keys()] == [key.id]
    assert store.sip_credentials(key.id) == key.sip
    rooms = store.list_rooms()
    assert [(r.room_id, r.active) for r in rooms] == [("room-one", True)]
    assert [c.participant_id for c in live.live_calls] == ["p1"] and not live.live_calls[0].muted


async def test_forms_of_a_logged_out_browser_go_to_the_login(
    client: httpx.AsyncClient, store: Store
) -> None:
    token = csrf_of((await client.get("/dashboard/login")).text)  # an anonymous session's token
    response = await client.post("/dashboard/keys", data={"csrf": token, "name": "x"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login")
    assert store.list_api_keys() == []


async def test_grace_period_display_ends(
    admin: httpx.AsyncClient, store: Store, clock: Clock
) -> None:
    key = store.create_api_key("k", enable_sip=True)
    store.rotate_sip(key.id, grace_s=60)
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert "still works until" in text_of(page.text)
    clock.advance(61)
    page = await admin.get(f"/dashboard/keys/{key.id}")
    assert "still works until" not in text_of(page.text)
