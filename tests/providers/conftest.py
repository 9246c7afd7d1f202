"""A real store on a temporary directory, a room with SIP credentials, and an HTTP client
for a FastAPI app that mounts the provider webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sipmeet.config import Settings, load_settings
from sipmeet.providers import ProviderContext, Transport, create_provider_router
from sipmeet.storage import Store

DOMAIN = "sip.example.com"
PUBLIC_URL = "https://meet.example.com"
NOW = 1_764_000_000.0  # the fake clock's Unix time


def make_settings(data_dir: Path) -> Settings:
    environ = {
        "SIPMEET_DATA_DIR": str(data_dir),
        "SIPMEET_SIP_DOMAIN": DOMAIN,
        "SIPMEET_PUBLIC_URL": PUBLIC_URL,
    }
    return load_settings({}, environ, None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened


@dataclass(frozen=True)
class Room:
    """A key with SIP enabled and one of its rooms."""

    key_id: str
    room_id: str
    username: str
    password: str

    @property
    def sip_uri(self) -> str:
        return f"sip:{self.room_id}@{DOMAIN}"


@pytest.fixture
def room(store: Store) -> Room:
    key = store.create_api_key("phones", enable_sip=True)
    assert key.sip is not None
    created = store.create_room(key.id, "weekly-sync")
    return Room(key.id, created.room_id, key.sip.username, key.sip.password)


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client_for(
    settings: Settings, store: Store
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """``client_for(transport=None)``: an HTTP client for an app with the provider router."""
    opened: list[httpx.AsyncClient] = []

    def make(transport: Transport | None = None) -> httpx.AsyncClient:
        ctx = ProviderContext(settings, store, transport=transport, clock=lambda: NOW)
        app = FastAPI()
        app.include_router(create_provider_router(ctx))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
async def client(client_for: ClientFactory) -> httpx.AsyncClient:
    return client_for()
