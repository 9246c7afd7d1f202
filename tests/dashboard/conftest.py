"""Fixtures for the dashboard tests: a real store, fakes of the live side, the app over httpx."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from sipmeet.api import ApiContext, create_app
from sipmeet.config import Settings, load_settings
from sipmeet.dashboard import LoginRateLimiter, Passwords, create_dashboard_router
from sipmeet.storage import Store
from tests.fakes import FakeLive

DOMAIN = "sip.example.com"
PUBLIC_URL = "https://meet.example.com"
PASSWORD = "correct horse battery staple"
# Cheap argon2 parameters keep the tests fast; one test checks the production defaults.
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


class Clock:
    """One fake time for the store (datetime), sessions (Unix time) and the login limiter."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def unix(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_settings(data_dir: Path) -> Settings:
    env = {
        "SIPMEET_DATA_DIR": str(data_dir),
        "SIPMEET_SIP_DOMAIN": DOMAIN,
        "SIPMEET_PUBLIC_URL": PUBLIC_URL,
        "SIPMEET_ADMIN_PASSWORD": PASSWORD,
    }
    return load_settings({}, env, None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def store(settings: Settings, clock: Clock) -> Iterator[Store]:
    with Store.open(settings, clock=clock) as opened:
        yield opened


@pytest.fixture
def live() -> FakeLive:
    return FakeLive()


@pytest.fixture
def ctx(settings: Settings, store: Store, live: FakeLive) -> ApiContext:
    return ApiContext(settings=settings, store=store, live=live)


@pytest.fixture
def passwords() -> Passwords:
    return Passwords(CHEAP)


@pytest.fixture
def app(ctx: ApiContext, clock: Clock, passwords: Passwords) -> FastAPI:
    router = create_dashboard_router(
        ctx,
        passwords=passwords,
        limiter=LoginRateLimiter(clock=clock.unix),
        clock=clock.unix,
    )
    return create_app(ctx, routers=[router])


def make_client(app: FastAPI, address: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def login(
    client: httpx.AsyncClient, password: str = PASSWORD, username: str = "admin"
) -> httpx.Response:
    form = await client.get("/dashboard/login")
    assert form.status_code == 200
    return await client.post(
        "/dashboard/login",
        data={"csrf": csrf_of(form.text), "username": username, "password": password},
    )


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, logged in."""
    response = await login(client)
    assert response.status_code == 303, response.text
    return client


async def page_csrf(client: httpx.AsyncClient, path: str = "/dashboard/keys") -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def text_of(page: str) -> str:
    """The page's text with tags removed and entities decoded (for assertions on content)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))
