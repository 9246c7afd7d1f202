"""SIP dialogs (RFC 3261 §12): identity, route set, remote target, CSeq spaces.

One :class:`Dialog` class serves both roles: :meth:`Dialog.as_uas` builds it from the
INVITE we answered with a 2xx, :meth:`Dialog.as_uac` from a 2xx to an INVITE we sent.
:meth:`Dialog.build_request` makes the in-dialog requests (§12.2.1.1, loose and strict
routing). The endpoint keeps its bookkeeping for a dialog (2xx awaiting ACK, pending
offers, session timer) on the same object; to the transaction user it is a read-only view.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from .errors import SipParseError
from .events import DialogId, Outgoing, Source, TransactionId
from .headers import NameAddr, parse_name_addr
from .message import Headers, Request, Response
from .session_timer import SessionTimer
from .uri import SipUri, parse_uri

__all__ = [
    "DIALOG_TRANSITIONS",
    "AckWait",
    "Dialog",
    "DialogEvent",
    "DialogId",
    "DialogRole",
    "DialogState",
    "DialogTimer",
    "check_route_set",
    "contact_target",
    "next_hop",
]


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogRole(Enum):
    UAS = "uas"
    UAC = "uac"


class DialogEvent(Enum):
    RESPONSE_2XX = "2xx to the INVITE"
    RESPONSE_FAILURE = "3xx-6xx to the INVITE"
    BYE = "BYE sent or received"


# RFC 3261 §12: an early dialog is confirmed by a 2xx and ended by a failure; BYE ends
# either (§15). Both roles follow this one table.
DIALOG_TRANSITIONS: dict[tuple[DialogState, DialogEvent], DialogState] = {
    (DialogState.EARLY, DialogEvent.RESPONSE_2XX): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogEvent.RESPONSE_FAILURE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogEvent.BYE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogEvent.BYE): DialogState.TERMINATED,
}


class DialogTimer(Enum):
    """Timers the endpoint runs per dialog."""

    RETRANSMIT_2XX = "2xx retransmit"  # RFC 3261 §13.3.1.4: T1 doubling up to T2
    ACK_WAIT = "ACK wait"  # 64*T1 without ACK: AckTimedOut
    SESSION_REFRESH = "session refresh"  # RFC 4028: we are the refresher
    SESSION_EXPIRY = "session expiry"  # RFC 4028 §10: SessionExpired


@dataclass(slots=True)
class AckWait:
    """A 2xx to an INVITE we keep retransmitting until its ACK arrives."""

    cseq: int
    packet: Outgoing
    interval_s: float


def _strip_tag(addr: NameAddr) -> NameAddr:
    params = {k: v for k, v in addr.params.items() if k != "tag"}
    return NameAddr(addr.uri, addr.display, params)


class Dialog:
    """One dialog. Attributes are public for reading; only the endpoint changes them."""

    __slots__ = (
        "ack_due",
        "ack_wait",
        "call_id",
        "id",
        "last_ack",
        "local_cseq",
        "local_party",
        "local_sdp",
        "local_tag",
        "pending_incoming",
        "pending_outgoing",
        "remote_allow",
        "remote_cseq",
        "remote_party",
        "remote_tag",
        "remote_target",
        "role",
        "route_set",
        "secure",
        "session",
        "source",
        "state",
        "terminating",
    )

    def __init__(
        self,
        *,
        role: DialogRole,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_party: NameAddr,
        remote_party: NameAddr,
        remote_target: str,
        route_set: Sequence[str],
        source: Source,
        local_cseq: int | None = None,
        remote_cseq: int | None = None,
        secure: bool = False,
        state: DialogState = DialogState.CONFIRMED,
    ) -> None:
        self.role = role
        self.id = DialogId(call_id, local_tag, remote_tag)
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_party = _strip_tag(local_party)
        self.remote_party = _strip_tag(remote_party)
        self.remote_target = remote_target
        self.route_set: tuple[str, ...] = tuple(route_set)
        self.source = source
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.secure = secure
        self.state = state
        # Endpoint bookkeeping.
        self.session: SessionTimer | None = None
        self.ack_wait: AckWait | None = None
        self.ack_due: int | None = None  # CSeq of a 2xx to our offerless re-INVITE to ACK
        self.last_ack: tuple[int, Outgoing] | None = None  # our ACK for a 2xx we received
        self.pending_incoming: TransactionId | None = None  # their re-INVITE/offer unanswered
        self.pending_outgoing: TransactionId | None = None  # our re-INVITE/offer unanswered
        self.remote_allow: frozenset[str] | None = None
        self.local_sdp: tuple[str, bytes] | None = None  # (Content-Type, body) we last sent
        self.terminating = False  # we sent BYE

    def __repr__(self) -> str:
        return f"<Dialog {self.role.value} {self.id} {self.state.value}>"

    @property
    def local_uri(self) -> str:
        return self.local_party.uri

    @property
    def remote_uri(self) -> str:
        return self.remote_party.uri

    @property
    def terminated(self) -> bool:
        return self.state is DialogState.TERMINATED

    def transition(self, event: DialogEvent) -> DialogState:
        """Apply ``event``; events the table does not list leave the state unchanged."""
        self.state = DIALOG_TRANSITIONS.get((self.state, event), self.state)
        return self.state

    # -- construction (RFC 3261 §12.1) --

    @classmethod
    def as_uas(cls, request: Request, local_tag: str, source: Source) -> Dialog:
        """§12.1.1: the dialog a 2xx we send to ``request`` creates."""
        remote = request.from_
        # RFC 2543 peers may leave Contact out: their From address is the target then.
        target = contact_target(request) or remote.uri
        secure = request.uri.lower().startswith("sips:") and source.transport.upper() == "TLS"
        return cls(
            role=DialogRole.UAS,
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local_party=request.to,
            remote_party=remote,
            remote_target=target,
            route_set=request.headers.get_list("Record-Route"),
            source=source,
            remote_cseq=request.cseq.seq,
            secure=secure,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response, source: Source) -> Dialog:
        """§12.1.2: the dialog a 2xx (or 1xx with a To tag) to our ``request`` creates."""
        target = contact_target(response)
        if target is None:
            raise SipParseError("2xx to INVITE without Contact")
        remote = response.to
        if remote.tag is None:
            raise SipParseError("dialog-creating response without To tag")
        local = request.from_
        return cls(
            role=DialogRole.UAC,
            call_id=request.call_id,
            local_tag=local.tag or "",
            remote_tag=remote.tag,
            local_party=local,
            remote_party=remote,
            remote_target=target,
            route_set=list(reversed(response.headers.get_list("Record-Route"))),
            source=source,
            local_cseq=request.cseq.seq,
            secure=request.uri.lower().startswith("sips:"),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
        )

    # -- CSeq (§12.2.1.1, §12.2.2) --

    def next_local_cseq(self) -> int:
        self.local_cseq = 1 if self.local_cseq is None else self.local_cseq + 1
        return self.local_cseq

    def accept_remote_cseq(self, seq: int) -> bool:
        """Record a request's CSeq; False when it is lower than the last one (500)."""
        if self.remote_cseq is not None and seq < self.remote_cseq:
            return False
        self.remote_cseq = seq
        return True

    def refresh_target(self, message: Request | Response) -> None:
        """§12.2: a target refresh request/response replaces the remote target."""
        target = contact_target(message)
        if target is not None:
            self.remote_target = target

    # -- requests (§12.2.1.1) --

    def build_request(
        self,
        method: str,
        *,
        cseq: int,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Request:
        """An in-dialog request without Via (the transport layer adds it)."""
        uri, routes = self._request_uri_and_routes()
        out = Headers()
        for route in routes:
            out.add("Route", route)
        out.add("Max-Forwards", "70")
        out.add("From", str(self.local_party.with_tag(self.local_tag)))
        out.add("To", str(self.remote_party.with_tag(self.remote_tag)))
        out.add("Call-ID", self.call_id)
        out.add("CSeq", f"{cseq} {method}")
        for name, value in headers:
            out.add(name, value)
        return Request(method=method, uri=uri, headers=out, body=body)

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0])
        if "lr" in parse_uri(first.uri).params:
            return self.remote_target, list(self.route_set)
        # Strict routing: the first route becomes the Request-URI, the remote target the
        # last Route (§12.2.1.1).
        return first.uri, [*self.route_set[1:], f"<{self.remote_target}>"]

    def next_hop(self) -> SipUri:
        """§8.1.2: where an in-dialog request goes (first Route, else the remote target)."""
        if self.route_set:
            return parse_uri(parse_name_addr(self.route_set[0]).uri)
        return parse_uri(self.remote_target)


# Addresses a phone behind NAT puts in its Contact (RFC 1918, RFC 6598, RFC 4193, link-local).
_NAT_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


def contact_target(message: Request | Response) -> str | None:
    """The first Contact URI (None without Contact); raises :class:`SipParseError` unless
    it is a SIP or SIPS URI (RFC 3261 §8.1.1.8: a dialog's target must be one)."""
    contacts = message.headers.get_list("Contact")
    if not contacts:
        return None
    uri = parse_name_addr(contacts[0]).uri
    parse_uri(uri)
    return uri


def check_route_set(message: Request | Response) -> None:
    """Raise :class:`SipParseError` unless every Record-Route entry is a SIP(S) URI."""
    for value in message.headers.get_list("Record-Route"):
        parse_uri(parse_name_addr(value).uri)


def _is_private(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in _NAT_NETWORKS)


def next_hop(dialog: Dialog) -> tuple[str, tuple[str, int], int | None]:
    """``(transport, (host, port), connection_id)`` for a request in ``dialog``.

    Stream transports reuse the connection the dialog came in on. Over UDP the request
    goes to :meth:`Dialog.next_hop`, except that a private (RFC 1918 ...) remote target of a
    peer whose packets come from another address (a phone behind NAT, no route set) is
    replaced by the address its packets come from.
    """
    source = dialog.source
    if source.connection_id is not None:
        return source.transport, source.addr, source.connection_id
    uri = dialog.next_hop()
    default_port = 5061 if uri.scheme == "sips" or source.transport.upper() == "TLS" else 5060
    behind_nat = _is_private(uri.host) and uri.host != source.addr[0]
    if not dialog.route_set and behind_nat:
        return source.transport, source.addr, None
    return source.transport, (uri.host, uri.port or default_port), None
