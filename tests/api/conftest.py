"""Fixtures for the API tests: a real store on a temporary data directory, fakes of the live side
(calls, rooms, ports) implementing the protocols of ``sipmeet.api.context``, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sipmeet.api import ApiContext, create_app
from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings, load_settings
from sipmeet.storage import ApiKey, Store
from tests.fakes import FakeLive, FakeRooms

DOMAIN = "sip.example.com"


class StepClock:
    """The store's clock: a fixed UTC time that tests move forward."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakePorts:
    in_use: int = 0
    capacity: int = 10


@dataclass
class SipState:
    listening: bool = True


def make_settings(data_dir: Path) -> Settings:
    return load_settings(
        {}, {"SIPMEET_DATA_DIR": str(data_dir), "SIPMEET_SIP_DOMAIN": DOMAIN}, None
    )


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def store(settings: Settings, clock: StepClock) -> Iterator[Store]:
    with Store.open(settings, clock=clock) as opened:
        yield opened


@pytest.fixture
def live() -> FakeLive:
    return FakeLive()


@pytest.fixture
def rooms() -> FakeRooms:
    return FakeRooms()


@pytest.fixture
def ports() -> FakePorts:
    return FakePorts()


@pytest.fixture
def sip_state() -> SipState:
    return SipState()


@pytest.fixture
def ctx(
    settings: Settings,
    store: Store,
    live: FakeLive,
    rooms: FakeRooms,
    ports: FakePorts,
    sip_state: SipState,
) -> ApiContext:
    return ApiContext(
        settings=settings,
        store=store,
        live=live,
        rooms=rooms,
        sip_listening=lambda: sip_state.listening,
        rtp_ports=ports,
        auth_failures=lambda: 3,
    )


@pytest.fixture
async def client(ctx: ApiContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def key(store: Store) -> ApiKey:
    return store.create_api_key("owner", enable_sip=True)


@pytest.fixture
def other_key(store: Store) -> ApiKey:
    return store.create_api_key("someone else")


def auth(key: ApiKey, *, room_id: str | None = None, moderator: bool = True) -> dict[str, str]:
    """Headers with a fresh token of ``key``."""
    token = create_token(key.id, key.secret, room_id=room_id, moderator=moderator)
    return {"Authorization": token}
