"""What the bridge needs from the durable side (accounts, rooms, call records)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .results import CallEnd

__all__ = ["CallDirectory", "CallStartInfo", "RoomInfo", "SipAccountInfo"]


@dataclass(frozen=True, slots=True)
class SipAccountInfo:
    api_key_id: str
    username: str
    ha1: Mapping[str, str]  # RFC 7616 algorithm name -> HA1 hex for the current realm
    # During a rotation's grace window: the old password's HA1s, accepted too.
    previous_ha1: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room_id: str
    api_key_id: str
    active: bool
    has_pin: bool = False


@dataclass(frozen=True, slots=True)
class CallStartInfo:
    room_id: str
    api_key_id: str
    sip_call_id: str
    display_name: str
    number: str | None
    transport: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class CallDirectory(Protocol):
    """Asynchronous view of storage; every lookup reads the current state (no caching),
    so that a credential rotated from the command line applies to the next INVITE."""

    async def sip_account(self, username: str) -> SipAccountInfo | None: ...

    async def room(self, room_id: str) -> RoomInfo | None: ...

    async def room_by_dialin_code(self, code: str) -> RoomInfo | None: ...

    async def room_pin(self, room_id: str) -> str | None: ...

    async def call_moved(self, record_id: int, room_id: str) -> None:
        """A dial-in menu call joined ``room_id``."""

    async def call_started(self, info: CallStartInfo) -> int | None: ...

    async def call_answered(self, record_id: int, codec: str) -> None: ...

    async def call_ended(
        self, record_id: int, end: CallEnd, stats: Mapping[str, object]
    ) -> None: ...
