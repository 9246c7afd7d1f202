"""Plain values the store hands out; no ORM objects leave the storage package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "CALL_RESULTS",
    "PROVIDERS",
    "WEBRTC_TRANSPORT",
    "ApiKey",
    "CallRecord",
    "CallResult",
    "CallStart",
    "PhoneNumber",
    "Provider",
    "RoomRecord",
    "SipAccount",
    "SipCredentials",
    "SipStatus",
    "Webhook",
    "WebhookDelivery",
    "WebhookDue",
]

CallResult = Literal["success", "client_error", "server_error", "upstream_error", "indeterminate"]
Provider = Literal["twilio", "telnyx", "plivo"]
PROVIDERS: tuple[Provider, ...] = ("twilio", "telnyx", "plivo")

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
    previous_valid_until: datetime | None = None  # the old password works until then


@dataclass(frozen=True, slots=True)
class SipStatus:
    """The SIP state of an API key, without the password."""

    username: str | None  # None: SIP was never enabled
    enabled: bool
    created_at: datetime | None = None
    rotated_at: datetime | None = None
    previous_valid_until: datetime | None = None


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
    """What digest verification needs: RFC 7616 HA1 per algorithm for the current realm.

    ``previous_ha1`` is set during the grace window of a rotation (until
    ``previous_valid_until``): the old password's HA1s, which verification accepts too.
    """

    api_key_id: str
    username: str
    realm: str
    ha1: Mapping[str, str] = field(repr=False)  # "MD5" / "SHA-256" / "SHA-512-256" -> hex
    previous_ha1: Mapping[str, str] | None = field(default=None, repr=False)
    previous_valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """A meeting room, reachable at ``sip:<room_id>@<domain>`` while active."""

    room_id: str
    api_key_id: str
    active: bool
    created_at: datetime
    deactivated_at: datetime | None = None
    dialin_code: str | None = None  # digits for the dial-in menu
    has_pin: bool = False


WEBRTC_TRANSPORT = "webrtc"  # the transport of a browser participant's record


@dataclass(frozen=True, slots=True)
class CallStart:
    """A SIP call arriving, as the bridge records it before answering (or a browser joining,
    with transport ``webrtc`` and its participant id as ``sip_call_id``)."""

    room_id: str
    sip_call_id: str
    transport: str  # "udp", "tcp", "tls", "ws", "wss"; "webrtc" for a browser
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

    @property
    def kind(self) -> str:
        """``webrtc`` for a browser's presence (recorded with transport ``webrtc``), else
        ``sip``."""
        return "webrtc" if self.transport == WEBRTC_TRANSPORT else "sip"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A phone number (E.164) at a trunk provider, routed to a room or (``ivr``) the dial-in menu.

    ``auth_token`` checks the provider's webhook signatures: the Twilio or Plivo auth token, or
    the Telnyx public key (base64); None when none was given.
    """

    number: str
    provider: Provider
    api_key_id: str
    room_id: str | None
    ivr: bool
    created_at: datetime
    auth_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Webhook:
    """An API key's webhook; ``events`` empty means every event. ``secret`` signs deliveries."""

    id: int
    api_key_id: str
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    secret: str = field(repr=False)
    room_id: str | None = None  # only this room's events (None: every room of the key)


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for one webhook and how its delivery went."""

    id: int
    webhook_id: int
    event: str
    payload: Mapping[str, object]
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class WebhookDue:
    """A delivery claimed for its next attempt, with what sending it needs."""

    id: int
    webhook_id: int
    url: str
    secret: str = field(repr=False)
    event: str = ""
    payload: Mapping[str, object] = field(default_factory=dict)
    attempts: int = 0  # attempts made before this one
