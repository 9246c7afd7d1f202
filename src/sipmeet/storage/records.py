"""Plain values the store hands out; no ORM objects leave the storage package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "CALL_RESULTS",
    "ApiKey",
    "CallRecord",
    "CallResult",
    "CallStart",
    "RoomRecord",
    "SipAccount",
    "SipCredentials",
]

CallResult = Literal["success", "client_error", "server_error", "upstream_error", "indeterminate"]
CALL_RESULTS: frozenset[str] = frozenset(
    ("success", "client_error", "server_error", "upstream_error", "indeterminate")
)


@dataclass(frozen=True, slots=True)
class SipCredentials:
    """The SIP digest username and password of an API key (shown to its owner)."""

    username: str
    password: str = field(repr=False)
    created_at: datetime | None = None
    rotated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key; ``secret`` signs the key's JWTs. ``sip`` is set when SIP is enabled."""

    id: str
    name: str
    secret: str = field(repr=False)
    created_at: datetime
    sip: SipCredentials | None = None


@dataclass(frozen=True, slots=True)
class SipAccount:
    """What digest verification needs: RFC 7616 HA1 per algorithm for the current realm."""

    api_key_id: str
    username: str
    realm: str
    ha1: Mapping[str, str] = field(repr=False)  # "MD5" / "SHA-256" / "SHA-512-256" -> hex


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A meeting room, reachable at ``sip:<room_id>@<domain>`` while active."""

    room_id: str
    api_key_id: str
    active: bool
    created_at: datetime
    deactivated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallStart:
    """A SIP call arriving, as the bridge records it before answering."""

    room_id: str
    sip_call_id: str
    transport: str  # "udp", "tcp", "tls", "ws", "wss"
    api_key_id: str | None = None
    caller_name: str | None = None
    caller_number: str | None = None
    provider_metadata: Mapping[str, object] | None = None
    started_at: datetime | None = None  # None: now


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call, from INVITE to its end."""

    id: int
    room_id: str
    api_key_id: str | None
    sip_call_id: str
    caller_name: str | None
    caller_number: str | None
    provider_metadata: Mapping[str, object] | None
    codec: str | None
    transport: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    result: str | None
    reason: str | None
    stats: Mapping[str, object] | None
