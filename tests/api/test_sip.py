"""``/v2/sip``: status, enable, rotate (with a grace window), disable; and the store side."""

from __future__ import annotations

import httpx
import pytest

from sipmeet.sip.digest import ha1
from sipmeet.storage import ApiKey, Invalid, NotFound, Store

from .conftest import DOMAIN, StepClock, auth


async def test_status_enable_rotate_disable(
    client: httpx.AsyncClient, other_key: ApiKey, store: Store
) -> None:
    h = auth(other_key)
    status = (await client.get("/v2/sip", headers=h)).json()
    assert status["enabled"] is False and status["username"] is None
    assert status["sipUriPattern"] == f"sip:<roomId>@{DOMAIN}" and status["domain"] == DOMAIN

    enabled = await client.post("/v2/sip/enable", headers=h)
    assert enabled.status_code == 200, enabled.text
    creds = enabled.json()
    assert creds["username"] and len(creds["password"]) >= 16
    again = (await client.post("/v2/sip/enable", headers=h)).json()
    assert again["password"] == creds["password"]  # idempotent
    status = (await client.get("/v2/sip", headers=h)).json()
    assert status["enabled"] is True and status["username"] == creds["username"]
    assert "password" not in status

    rotated = (await client.post("/v2/sip/rotate", headers=h)).json()
    assert rotated["username"] == creds["username"]
    assert rotated["password"] != creds["password"]
    assert rotated["previousPasswordValidUntil"] is None
    account = store.sip_account(creds["username"])
    assert account is not None and account.previous_ha1 is None
    assert account.ha1["MD5"] == ha1("MD5", creds["username"], DOMAIN, rotated["password"])

    disabled = await client.post("/v2/sip/disable", headers=h)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert store.sip_account(creds["username"]) is None
    r = await client.post("/v2/sip/rotate", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "sip_not_enabled"


async def test_rotate_with_grace_keeps_the_old_password(
    client: httpx.AsyncClient, key: ApiKey, store: Store, clock: StepClock
) -> None:
    assert key.sip is not None
    old = key.sip.password
    r = await client.post("/v2/sip/rotate", headers=auth(key), json={"graceSeconds": 300})
    assert r.status_code == 200, r.text
    new = r.json()["password"]
    assert r.json()["previousPasswordValidUntil"].startswith("2026-01-01T12:05:00")
    account = store.sip_account(key.sip.username)
    assert account is not None and account.previous_ha1 is not None
    assert account.ha1["SHA-256"] == ha1("SHA-256", key.sip.username, DOMAIN, new)
    for algorithm in ("MD5", "SHA-256", "SHA-512-256"):
        assert account.previous_ha1[algorithm] == ha1(algorithm, key.sip.username, DOMAIN, old)
    status = (await client.get("/v2/sip", headers=auth(key))).json()
    assert status["previousPasswordValidUntil"] is not None
    clock.advance(301)
    account = store.sip_account(key.sip.username)
    assert account is not None and account.previous_ha1 is None
    assert account.previous_valid_until is None
    status = (await client.get("/v2/sip", headers=auth(key))).json()
    assert status.get("previousPasswordValidUntil") is None


async def test_a_second_rotation_ends_the_grace_of_the_first(
    client: httpx.AsyncClient, key: ApiKey, store: Store
) -> None:
    assert key.sip is not None
    await client.post("/v2/sip/rotate", headers=auth(key), json={"graceSeconds": 300})
    second = (await client.post("/v2/sip/rotate", headers=auth(key))).json()
    account = store.sip_account(key.sip.username)
    assert account is not None and account.previous_ha1 is None
    assert account.ha1["MD5"] == ha1("MD5", key.sip.username, DOMAIN, second["password"])


async def test_sip_management_needs_an_unscoped_moderator(
    client: httpx.AsyncClient, key: ApiKey
) -> None:
    for method, path in (
        ("GET", "/v2/sip"),
        ("POST", "/v2/sip/enable"),
        ("POST", "/v2/sip/rotate"),
        ("POST", "/v2/sip/disable"),
    ):
        r = await client.request(method, path, headers=auth(key, moderator=False))
        assert r.status_code == 403 and r.json()["code"] == "permission_denied"
        r = await client.request(method, path, headers=auth(key, room_id="x"))
        assert r.status_code == 403 and r.json()["code"] == "room_out_of_scope"
        assert (await client.request(method, path)).status_code == 401


async def test_rotate_body_is_validated(client: httpx.AsyncClient, key: ApiKey) -> None:
    for body in ({"graceSeconds": -1}, {"graceSeconds": "soon"}, {"graceSeconds": 10**9}):
        r = await client.post("/v2/sip/rotate", headers=auth(key), json=body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_store_rotation_edges(store: Store, key: ApiKey) -> None:
    with pytest.raises(Invalid):
        store.rotate_sip(key.id, grace_s=-5)
    with pytest.raises(NotFound):
        store.sip_status("nosuchkey")
    creds = store.rotate_sip(key.id, grace_s=60)
    assert creds.previous_valid_until is not None
    assert store.sip_credentials(key.id) == creds
    store.disable_sip(key.id)  # disabling drops the grace window
    again = store.enable_sip(key.id)
    assert again.previous_valid_until is None
    assert key.sip is not None
    account = store.sip_account(key.sip.username)
    assert account is not None and account.previous_ha1 is None
