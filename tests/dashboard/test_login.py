"""Login, sessions, CSRF on the login form, the rate limit, logout, and the first-start account."""

from __future__ import annotations

import logging

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from sipmeet.dashboard import COOKIE, Passwords, ensure_admin
from sipmeet.storage import Conflict, Invalid, Store

from .conftest import CHEAP, PASSWORD, Clock, csrf_of, login, make_client, page_csrf

PAGES = [
    "/dashboard/keys",
    "/dashboard/rooms",
    "/dashboard/live",
    "/dashboard/history",
    "/dashboard/twilio",
]


@pytest.mark.parametrize("path", PAGES)
async def test_pages_need_a_login(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dashboard/login?next=%2Fdashboard%2F")


async def test_dashboard_root_goes_to_the_keys(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/dashboard")
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/keys"


async def test_live_json_needs_a_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/live.json")
    assert response.status_code == 401
    assert response.json() == {"error": "login required"}


async def test_login_sets_a_strict_session_cookie_and_opens_the_pages(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/dashboard/login")
    assert form.status_code == 200
    assert "Content-Security-Policy" in form.headers
    response = await client.post(
        "/dashboard/login",
        data={"csrf": csrf_of(form.text), "username": "admin", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/keys"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/dashboard"} <= attributes
    for path in PAGES:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    welcome = await client.get("/dashboard/keys")
    assert "Welcome" not in welcome.text  # the flash was shown once


async def test_wrong_password_is_refused(client: httpx.AsyncClient) -> None:
    response = await login(client, password="wrong")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert (await client.get("/dashboard/keys")).status_code == 303
    unknown = await login(client, username="root", password=PASSWORD)
    assert unknown.status_code == 401


async def test_login_without_the_forms_csrf_token_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login", data={"username": "admin", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert (await client.get("/dashboard/keys")).status_code == 303


async def test_login_with_another_sessions_token_is_refused(app: FastAPI) -> None:
    async with make_client(app) as alice, make_client(app) as mallory:
        token = csrf_of((await mallory.get("/dashboard/login")).text)
        await alice.get("/dashboard/login")
        response = await alice.post(
            "/dashboard/login", data={"csrf": token, "username": "admin", "password": PASSWORD}
        )
        assert response.status_code == 403


async def test_five_failures_a_minute_then_429_per_address(app: FastAPI, clock: Clock) -> None:
    async with make_client(app, "198.51.100.7") as attacker, make_client(app) as other:
        for _ in range(5):
            assert (await login(attacker, password="guess")).status_code == 401
        refused = await login(attacker)  # even the right password
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert (await login(other)).status_code == 303  # another address is not limited
        clock.advance(61)
        assert (await login(attacker)).status_code == 303


async def test_a_success_clears_the_failures(client: httpx.AsyncClient) -> None:
    for _ in range(4):
        assert (await login(client, password="guess")).status_code == 401
    assert (await login(client)).status_code == 303
    client.cookies.clear()  # logged out again, same address
    for _ in range(4):
        assert (await login(client, password="guess")).status_code == 401
    assert (await login(client)).status_code == 303


async def test_login_follows_next_to_own_pages_only(client: httpx.AsyncClient) -> None:
    form = await client.get("/dashboard/login?next=%2Fdashboard%2Fhistory")
    assert 'value="/dashboard/history"' in form.text
    token = csrf_of(form.text)
    data = {"csrf": token, "username": "admin", "password": PASSWORD}
    response = await client.post("/dashboard/login", data={**data, "next": "/dashboard/history"})
    assert response.headers["location"] == "/dashboard/history"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/dashboard//x"])
async def test_login_ignores_foreign_next(client: httpx.AsyncClient, target: str) -> None:
    form = await client.get("/dashboard/login")
    response = await client.post(
        "/dashboard/login",
        data={
            "csrf": csrf_of(form.text),
            "username": "admin",
            "password": PASSWORD,
            "next": target,
        },
    )
    assert response.headers["location"] == "/dashboard/keys"


async def test_session_id_changes_at_login(client: httpx.AsyncClient) -> None:
    await client.get("/dashboard/login")
    before = client.cookies[COOKIE]
    await login(client)
    after = client.cookies[COOKIE]
    assert before != after
    async with httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver", cookies={COOKIE: before}
    ) as fixated:
        assert (await fixated.get("/dashboard/keys")).status_code == 303


async def test_logout_ends_the_session_for_good(admin: httpx.AsyncClient) -> None:
    stolen = admin.cookies[COOKIE]
    token = await page_csrf(admin)
    response = await admin.post("/dashboard/logout", data={"csrf": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    assert (await admin.get("/dashboard/keys")).status_code == 303
    async with httpx.AsyncClient(
        transport=admin._transport, base_url="http://testserver", cookies={COOKIE: stolen}
    ) as replay:
        assert (await replay.get("/dashboard/keys")).status_code == 303


async def test_logout_needs_the_csrf_token(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/dashboard/logout", data={})
    assert response.status_code == 403
    assert (await admin.get("/dashboard/keys")).status_code == 200


async def test_tampered_cookie_is_ignored(admin: httpx.AsyncClient) -> None:
    value = admin.cookies[COOKIE]
    body, mac = value.split(".")
    admin.cookies.set(COOKIE, body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"))
    assert (await admin.get("/dashboard/keys")).status_code == 303


async def test_session_expires_after_twelve_hours(admin: httpx.AsyncClient, clock: Clock) -> None:
    clock.advance(11 * 3600)
    assert (await admin.get("/dashboard/keys")).status_code == 200
    clock.advance(3600)
    assert (await admin.get("/dashboard/keys")).status_code == 303


async def test_password_reset_ends_existing_sessions(
    admin: httpx.AsyncClient, store: Store, passwords: Passwords
) -> None:
    assert ensure_admin(store, passwords, "a brand new password") == "a brand new password"
    assert (await admin.get("/dashboard/keys")).status_code == 303
    assert (await login(admin)).status_code == 401
    assert (await login(admin, password="a brand new password")).status_code == 303


def test_first_start_logs_a_random_password_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    passwords = Passwords(CHEAP)
    with caplog.at_level(logging.INFO, logger="sipmeet.dashboard"):
        password = ensure_admin(store, passwords, None)
        assert password is not None and len(password) >= 16
        assert ensure_admin(store, passwords, None) is None
    lines = [r for r in caplog.records if "dashboard admin password:" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    assert lines[0].getMessage() == f"dashboard admin password: {password}"
    stored = store.admin_password_hash("admin")
    assert stored is not None and password not in stored
    assert passwords.verify(stored, password) and not passwords.verify(stored, password + "x")


def test_password_from_the_environment_is_not_logged(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert ensure_admin(store, Passwords(CHEAP), PASSWORD) == PASSWORD
        assert ensure_admin(store, Passwords(CHEAP), PASSWORD) is None  # unchanged: no reset
    assert PASSWORD not in caplog.text
    assert "dashboard admin password:" not in caplog.text


def test_production_hashes_are_argon2id(store: Store) -> None:
    passwords = Passwords()
    ensure_admin(store, passwords, PASSWORD)
    stored = store.admin_password_hash("admin")
    assert stored is not None and stored.startswith("$argon2id$")
    assert passwords.verify(stored, PASSWORD)
    assert not passwords.verify(stored, "wrong")
    assert not passwords.verify("not a hash", PASSWORD)
    assert not passwords.verify(None, PASSWORD)


async def test_login_rehashes_an_outdated_hash(
    client: httpx.AsyncClient, store: Store, passwords: Passwords
) -> None:
    old = Passwords(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)).hash(PASSWORD)
    store.set_admin_password_hash("admin", old)
    assert (await login(client)).status_code == 303
    new = store.admin_password_hash("admin")
    assert new is not None and new != old and not passwords.needs_rehash(new)
    assert (await client.get("/dashboard/keys")).status_code == 200


def test_store_admin_users(store: Store, clock: Clock) -> None:
    assert store.admin_password_hash("admin") is None
    assert store.record_admin_login("admin") is None
    assert store.set_admin_password_hash("admin", "h") is False
    store.create_admin_user("admin", "h1")
    assert store.admin_password_hash("admin") == "h1"
    with pytest.raises(Conflict):
        store.create_admin_user("admin", "h2")
    with pytest.raises(Invalid):
        store.create_admin_user("", "h2")
    with pytest.raises(Invalid):
        store.set_admin_password_hash("admin", "")
    assert store.record_admin_login("admin") is None  # first login
    first = clock()
    clock.advance(60)
    previous = store.record_admin_login("admin")
    assert previous is not None and previous.replace(tzinfo=first.tzinfo) == first
    assert store.set_admin_password_hash("admin", "h3") is True
    assert store.admin_password_hash("admin") == "h3"
