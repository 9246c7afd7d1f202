"""What the API needs from the running node, as protocols (test doubles implement the same)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sipmeet.config import Settings
from sipmeet.rooms.events import RoomEvent
from sipmeet.storage import Store

__all__ = [
    "ApiContext",
    "FrameClockView",
    "LiveCall",
    "LiveControl",
    "LiveRoom",
    "PortUsage",
    "RoomView",
    "run_sync",
]

T = TypeVar("T")


class LiveCall(Protocol):
    """A live phone call (``sipmeet.bridge.call.Call``)."""

    room_id: str

    def describe(self) -> Mapping[str, object]: ...


class LiveControl(Protocol):
    """Live calls and moderation (``sipmeet.bridge.manager.CallManager``)."""

    @property
    def calls(self) -> Sequence[LiveCall]: ...  # pragma: no cover - protocol

    def hang_up(self, participant_id: str, *, reason: str = ...) -> bool: ...

    def set_muted(self, participant_id: str, muted: bool) -> bool: ...

    def end_room(self, room_id: str, *, reason: str = ...) -> int: ...


class LiveParticipant(Protocol):
    """Someone in a live room (``sipmeet.rooms.room.Participant``)."""

    participant_id: str
    display_name: str
    muted: bool

    @property
    def kind(self) -> str: ...


class LiveRoom(Protocol):
    """A live room (``sipmeet.rooms.room.Room``)."""

    room_id: str

    def __len__(self) -> int: ...

    @property
    def participants(self) -> Sequence[LiveParticipant]: ...


class FrameClockView(Protocol):
    """A room's 20 ms clock (``sipmeet.media.clock.FrameClock``): its lateness figures."""

    ticks: int
    skipped: int
    lateness_s_max: float
    lateness_s_sum: float


class RoomView(Protocol):
    """The live rooms (``sipmeet.rooms.registry.RoomRegistry``)."""

    def get(self, room_id: str) -> LiveRoom | None: ...

    def __iter__(self) -> Iterator[LiveRoom]: ...

    def __len__(self) -> int: ...

    def clock(self, room_id: str) -> FrameClockView | None: ...

    def subscribe(self, subscriber: Callable[[RoomEvent], None]) -> Callable[[], None]: ...


class PortUsage(Protocol):
    """The RTP port allocator (``sipmeet.net.ports.PortAllocator``)."""

    @property
    def in_use(self) -> int: ...  # pragma: no cover - protocol

    @property
    def capacity(self) -> int: ...  # pragma: no cover - protocol


@dataclass
class ApiContext:
    """Everything the HTTP side reads or drives.

    ``live`` and ``rooms`` are None when no SIP side runs (then live calls are empty).
    ``sip_listening`` and ``rtp_ports`` feed ``/healthz``; ``auth_failures`` (a running count of
    SIP digest failures) feeds ``/metrics`` when the bridge provides it.
    """

    settings: Settings
    store: Store
    live: LiveControl | None = None
    rooms: RoomView | None = None
    sip_listening: Callable[[], bool] | None = None
    rtp_ports: PortUsage | None = None
    auth_failures: Callable[[], int] | None = None
    clock: Callable[[], float] | None = field(default=None)  # wall clock for tokens; None: time


async def run_sync(func: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """Run a synchronous store call in a worker thread."""
    return await asyncio.to_thread(func, *args, **kwargs)
