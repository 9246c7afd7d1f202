"""Fixtures for the API tests: a real store on a temporary data directory, fakes of the live side
(calls, rooms, ports) implementing the protocols of ``sipmeet.api.context``, and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sipmeet.api import ApiContext, create_app
from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings, load_settings
from sipmeet.rooms.events import RoomEvent
from sipmeet.storage import ApiKey, Store

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
class FakeCall:
    participant_id: str
    room_id: str
    api_key_id: str
    call_id: str
    muted: bool = False
    quality: dict[str, object] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        return {
            "participantId": self.participant_id,
            "callId": self.call_id,
            "roomId": self.room_id,
            "apiKeyId": self.api_key_id,
            "displayName": "Alice",
            "maskedNumber": "+*******4567",
            "codec": "PCMU",
            "muted": self.muted,
            "onHold": False,
            "quality": self.quality,
        }


@dataclass
class FakeLive:
    """The live-control protocol, as `CallManager` implements it."""

    live_calls: list[FakeCall] = field(default_factory=list)
    hung_up: list[tuple[str, str]] = field(default_factory=list)
    ended_rooms: list[tuple[str, str]] = field(default_factory=list)

    @property
    def calls(self) -> list[FakeCall]:
        return list(self.live_calls)

    def hang_up(self, participant_id: str, *, reason: str = "removed") -> bool:
        for call in self.live_calls:
            if call.participant_id == participant_id:
                self.live_calls.remove(call)
                self.hung_up.append((participant_id, reason))
                return True
        return False

    def set_muted(self, participant_id: str, muted: bool) -> bool:
        for call in self.live_calls:
            if call.participant_id == participant_id:
                call.muted = muted
                return True
        return False

    def end_room(self, room_id: str, *, reason: str = "room-deactivated") -> int:
        ended = [c for c in self.live_calls if c.room_id == room_id]
        for call in ended:
            self.live_calls.remove(call)
        self.ended_rooms.append((room_id, reason))
        return len(ended)


@dataclass
class FakeFrameClock:
    ticks: int = 0
    skipped: int = 0
    lateness_s_max: float = 0.0
    lateness_s_sum: float = 0.0


@dataclass
class FakeRoom:
    room_id: str
    size: int = 1

    def __len__(self) -> int:
        return self.size


@dataclass
class FakeRooms:
    rooms: dict[str, FakeRoom] = field(default_factory=dict)
    clocks: dict[str, FakeFrameClock] = field(default_factory=dict)
    subscribers: list[Callable[[RoomEvent], None]] = field(default_factory=list)

    def get(self, room_id: str) -> FakeRoom | None:
        return self.rooms.get(room_id)

    def __iter__(self) -> Iterator[FakeRoom]:
        return iter(list(self.rooms.values()))

    def __len__(self) -> int:
        return len(self.rooms)

    def clock(self, room_id: str) -> FakeFrameClock | None:
        return self.clocks.get(room_id)

    def subscribe(self, subscriber: Callable[[RoomEvent], None]) -> Callable[[], None]:
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def publish(self, event: RoomEvent) -> None:
        for subscriber in self.subscribers:
            subscriber(event)


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
