"""What crosses the boundary of :class:`~sipmeet.sip.endpoint.SipEndpoint`.

In: :class:`Source` (where a message came from). Out: :class:`Outgoing` (bytes to write)
and the :data:`SipEvent` values, each a past-tense fact for the transaction user
(``bridge/``). Identifiers are :data:`TransactionId` and :class:`DialogId`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from .message import Request, Response

__all__ = [
    "AckReceived",
    "AckTimedOut",
    "Addr",
    "ByeReceived",
    "DialogId",
    "IncomingInfo",
    "IncomingInvite",
    "IncomingReinvite",
    "IncomingUpdate",
    "InviteCancelled",
    "Outgoing",
    "ResponseReceived",
    "SessionExpired",
    "SipEvent",
    "Source",
    "TransactionId",
    "TransactionTimedOut",
]

Addr = tuple[str, int]

TransactionId = NewType("TransactionId", str)
"""Opaque id of one server or client transaction of an endpoint."""


@dataclass(frozen=True, slots=True)
class DialogId:
    """RFC 3261 §12: Call-ID, local tag and remote tag."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message came from."""

    transport: str  # "UDP" | "TCP" | "TLS" | "WS" | "WSS"
    addr: Addr  # remote (ip, port) as the socket saw it
    connection_id: int | None = None  # stream transports: the connection it arrived on


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes the I/O layer must write."""

    transport: str
    addr: Addr  # (host, port); host may be a name for the I/O layer to resolve
    data: bytes
    connection_id: int | None = None  # write on this connection when set


@dataclass(frozen=True, slots=True)
class IncomingInvite:
    """An initial INVITE (100 Trying already queued). Answer with ``respond``."""

    transaction_id: TransactionId
    request: Request
    source: Source


@dataclass(frozen=True, slots=True)
class IncomingReinvite:
    """An INVITE inside a dialog (100 Trying already queued); the body may be empty."""

    dialog_id: DialogId
    transaction_id: TransactionId
    request: Request


@dataclass(frozen=True, slots=True)
class IncomingUpdate:
    """An UPDATE (RFC 3311) inside a dialog."""

    dialog_id: DialogId
    transaction_id: TransactionId
    request: Request


@dataclass(frozen=True, slots=True)
class IncomingInfo:
    """An INFO (RFC 6086) inside a dialog, e.g. DTMF as application/dtmf-relay."""

    dialog_id: DialogId
    transaction_id: TransactionId
    request: Request


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The ACK for our 2xx to an INVITE (it may carry the SDP answer)."""

    dialog_id: DialogId
    request: Request


@dataclass(frozen=True, slots=True)
class InviteCancelled:
    """CANCEL (or BYE on the early dialog) ended a pending INVITE: 200 and 487 already sent."""

    transaction_id: TransactionId


@dataclass(frozen=True, slots=True)
class ByeReceived:
    """The peer hung up: 200 already sent, dialog terminated."""

    dialog_id: DialogId
    request: Request


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response to a request we sent (each 2xx to an INVITE only once)."""

    transaction_id: TransactionId
    dialog_id: DialogId | None
    response: Response


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B/F (no final response to our request) or H (no ACK for our non-2xx final)."""

    transaction_id: TransactionId
    dialog_id: DialogId | None


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """No ACK for our 2xx within 64*T1 (RFC 3261 §13.3.1.4): send BYE."""

    dialog_id: DialogId


@dataclass(frozen=True, slots=True)
class SessionExpired:
    """RFC 4028 §10: no session refresh arrived in time; send BYE."""

    dialog_id: DialogId


SipEvent = (
    IncomingInvite
    | IncomingReinvite
    | IncomingUpdate
    | IncomingInfo
    | AckReceived
    | InviteCancelled
    | ByeReceived
    | ResponseReceived
    | TransactionTimedOut
    | AckTimedOut
    | SessionExpired
)
