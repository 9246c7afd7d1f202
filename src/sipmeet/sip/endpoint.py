"""The sans-IO SIP endpoint: a user agent core over transactions and dialogs.

The I/O layer feeds it datagrams or framed messages with :meth:`SipEndpoint.receive_datagram`
/ :meth:`SipEndpoint.receive_message`, writes what :meth:`SipEndpoint.pending_output`
returns, runs :meth:`SipEndpoint.handle_timer` at :meth:`SipEndpoint.next_deadline`, and
hands :meth:`SipEndpoint.next_event` values to the transaction user (``bridge/``), which
answers with :meth:`SipEndpoint.respond` and :meth:`SipEndpoint.send_request`.

What the endpoint does on its own: 100 Trying to INVITEs; OPTIONS outside a dialog; the
RFC 3261 §8.2 checks (validate_request, 405/501, 482, 420, 415); 481 for requests that
match no dialog or transaction; CANCEL (200 + 487); BYE (200); glare (491, 500 with
Retry-After); 2xx retransmission until the ACK; ACK for 2xx to its own re-INVITEs;
RFC 3581 ``received``/``rport``; RFC 4028 session timers.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .dialog import (
    AckWait,
    Dialog,
    DialogEvent,
    DialogTimer,
    check_route_set,
    contact_target,
    next_hop,
)
from .errors import LocalProtocolError, SipParseError
from .events import (
    AckReceived,
    AckTimedOut,
    Addr,
    ByeReceived,
    DialogId,
    IncomingInfo,
    IncomingInvite,
    IncomingReinvite,
    IncomingUpdate,
    InviteCancelled,
    Outgoing,
    ResponseReceived,
    SessionExpired,
    SipEvent,
    Source,
    TransactionId,
    TransactionTimedOut,
)
from .headers import Via, split_comma_list
from .message import Request, Response, canonical_name
from .parser import parse_message
from .session_timer import (
    IntervalTooSmall,
    Refresher,
    SessionTimer,
    SessionTimerOffer,
    negotiate_uas,
    session_from_response,
    supports_timer,
)
from .timers import Timer, TimerConfig, TimerKey, TimerQueue
from .transaction import (
    MAGIC_COOKIE,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    Destination,
    Effect,
    PassToTU,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Terminated,
    TimedOut,
    Transaction,
    build_response,
    client_key,
    is_reliable,
    server_key,
)
from .validate import validate_request

__all__ = [
    "HANDLED_METHODS",
    "Addr",
    "EndpointConfig",
    "Outgoing",
    "SipEndpoint",
    "Source",
]

logger = logging.getLogger(__name__)

HANDLED_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO"})
"""Methods the endpoint can process; ``EndpointConfig.allow`` selects among them."""


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Identity and protocol constants of one endpoint."""

    host: str  # our address for Via/Contact
    port: int
    domain: str  # our SIP domain (Warning agent)
    user_agent: str = "sipmeet"
    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    session_expires_s: int = 1800  # RFC 4028 interval we offer/accept
    min_se_s: int = 90  # below this: 422 with Min-SE
    allow: tuple[str, ...] = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO")
    supported: tuple[str, ...] = ("timer",)
    accept: tuple[str, ...] = ("application/sdp", "application/dtmf-relay", "application/dtmf")
    # Answer UDP requests at their source address even without ``rport`` (RFC 3581
    # behaviour for every request, as phones behind NAT need); False: RFC 3261 §18.2.2.
    symmetric_responses: bool = True

    @property
    def timers(self) -> TimerConfig:
        return TimerConfig(t1_s=self.t1_s, t2_s=self.t2_s, t4_s=self.t4_s)


@dataclass(slots=True, eq=False)
class _ServerContext:
    key: tuple[str, ...]
    source: Source
    dialog: Dialog | None = None
    initial_invite: bool = False
    session: SessionTimerOffer | None = None
    merge_key: tuple[str, str, int, str] | None = None
    early_id: DialogId | None = None


@dataclass(slots=True, eq=False)
class _ClientContext:
    key: tuple[str, str]
    dialog: Dialog
    method: str
    offer: bool  # the request carried a body (an SDP offer for INVITE/UPDATE)
    internal: bool = False  # a session refresh the endpoint sent on its own
    answered: bool = False  # a 2xx arrived (INVITE: ACK sent or due)


class SipEndpoint:
    """One SIP user agent (UAS-side dialogs, in-dialog requests in both directions)."""

    def __init__(
        self, config: EndpointConfig, *, token: Callable[[int], str] = secrets.token_hex
    ) -> None:
        self.config = config
        self._token = token
        self._timer_config = config.timers
        self._timers: TimerQueue[TimerKey] = TimerQueue()
        self._events: deque[SipEvent] = deque()
        self._output: list[Outgoing] = []
        self._server: dict[tuple[str, ...], ServerTransaction] = {}
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._by_id: dict[TransactionId, Transaction] = {}
        self._server_ctx: dict[TransactionId, _ServerContext] = {}
        self._client_ctx: dict[TransactionId, _ClientContext] = {}
        self._dialogs: dict[DialogId, Dialog] = {}
        self._merged: dict[tuple[str, str, int, str], ServerTransaction] = {}
        self._early: dict[DialogId, ServerInviteTransaction] = {}
        self._seq = 0
        self._methods = tuple(m for m in config.allow if m in HANDLED_METHODS)
        self._allow_value = ", ".join(config.allow)

    # ------------------------------------------------------------------ I/O side

    def receive_datagram(self, data: bytes, source: Source, now: float) -> None:
        """One UDP datagram. Malformed requests get 400 when addressable (RFC 3261 §18.3)."""
        if not data.strip(b"\r\n\t "):
            return  # keep-alive (RFC 5626 §3.5.1)
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            self.reject_malformed(exc, source, now)
            return
        except Exception:  # the parser must not take the endpoint down on peer input
            logger.warning("parser failed on a datagram from %s", source.addr, exc_info=True)
            return
        self.receive_message(msg, source, now)

    def receive_message(self, msg: Request | Response, source: Source, now: float) -> None:
        """A message already framed (stream transports) or parsed."""
        try:
            if isinstance(msg, Request):
                self._on_request(msg, source, now)
            else:
                self._on_response(msg, now)
        except SipParseError as exc:
            logger.debug("dropping %s from %s: %s", type(msg).__name__, source.addr, exc)

    def reject_malformed(self, exc: SipParseError, source: Source, now: float) -> None:
        """Answer a message that failed to parse with 400 (or its status) if addressable."""
        partial = getattr(exc, "partial", None)
        if not isinstance(partial, Request) or partial.method.upper() == "ACK":
            logger.debug("dropping unparseable message from %s: %s", source.addr, exc)
            return
        if "Via" not in partial.headers:
            logger.debug("dropping unparseable request without Via from %s", source.addr)
            return
        try:
            via = self._stamp_via(partial, partial.top_via, source)
            dest = self._response_destination(via, source)
        except SipParseError:
            dest = Destination(source.transport, source.addr, source.connection_id)
        status = getattr(exc, "status", 400)
        if not isinstance(status, int) or not 400 <= status <= 699:
            status = 400
        self._stateless_reply(partial, dest, status, headers=self._warning(str(exc)))

    def next_event(self) -> SipEvent | None:
        return self._events.popleft() if self._events else None

    def pending_output(self) -> list[Outgoing]:
        """Drain the queue of messages to write."""
        out, self._output = self._output, []
        return out

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``."""
        while (key := self._timers.pop_due(now)) is not None:
            owner, timer = key
            if isinstance(owner, Transaction) and isinstance(timer, Timer):
                self._apply(owner, owner.timer_fired(timer, now), now)
            elif isinstance(owner, Dialog) and isinstance(timer, DialogTimer):
                self._dialog_timer(owner, timer, now)

    @property
    def transaction_count(self) -> int:
        return len(self._by_id)

    @property
    def dialog_count(self) -> int:
        return len(self._dialogs)

    # ------------------------------------------------------------------ TU side

    def respond(
        self,
        transaction_id: TransactionId,
        status: int,
        reason: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        now: float,
    ) -> DialogId | None:
        """Answer a request we received (RFC 3261 §8.2.6).

        Returns the dialog id for a 2xx to an INVITE (initial: the new confirmed dialog).
        A transaction that is gone or already has its final response (a CANCEL won the
        race) is ignored and None returned.
        """
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"invalid status code {status}")
        tx = self._by_id.get(transaction_id)
        if tx is None:
            logger.debug("respond(%s): transaction is gone", transaction_id)
            return None
        if not isinstance(tx, ServerTransaction):
            raise LocalProtocolError(f"{transaction_id} is not a server transaction")
        if tx.final_sent:
            logger.debug("respond(%s, %d): final response already sent", transaction_id, status)
            return None
        return self._reply(tx, status, reason, headers, body, now=now)

    def send_request(
        self,
        dialog_id: DialogId,
        method: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        now: float,
    ) -> TransactionId:
        """Send BYE, re-INVITE, UPDATE, INFO ... in a dialog (RFC 3261 §12.2.1.1).

        The ACK for a 2xx to a re-INVITE with a body is sent automatically; for an
        offerless re-INVITE the TU sends it with :meth:`send_ack` (it carries the answer).
        Raises :class:`LocalProtocolError` for an unknown or ending dialog, for ACK/CANCEL,
        and for a new offer while another offer exchange is pending (RFC 3261 §14.1).
        """
        method = method.upper()
        dialog = self._dialogs.get(dialog_id)
        if dialog is None or dialog.terminated or dialog.terminating:
            raise LocalProtocolError(f"no active dialog {dialog_id}")
        if method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{method} is not sent with send_request")
        offer = method == "INVITE" or (method == "UPDATE" and bool(body))
        if offer and (dialog.pending_outgoing is not None or dialog.pending_incoming is not None):
            raise LocalProtocolError(f"an offer/answer exchange is pending in {dialog_id}")
        return self._send_in_dialog(dialog, method, headers, body, now)

    def send_ack(
        self,
        dialog_id: DialogId,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        now: float,
    ) -> None:
        """ACK the 2xx to our offerless re-INVITE (the ACK carries the SDP answer)."""
        dialog = self._dialogs.get(dialog_id)
        due = None if dialog is None else dialog.ack_due
        if dialog is None or due is None:
            raise LocalProtocolError(f"no 2xx awaiting an ACK in {dialog_id}")
        dialog.ack_due = None
        self._send_ack(dialog, due, headers, body)

    def dialog(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog (read-only for the TU), or None once terminated."""
        return self._dialogs.get(dialog_id)

    def terminate(self, dialog_id: DialogId) -> None:
        """Forget a dialog without sending anything."""
        dialog = self._dialogs.get(dialog_id)
        if dialog is not None:
            self._end_dialog(dialog)

    # ------------------------------------------------------------------ plumbing

    def _new_id(self, prefix: str) -> TransactionId:
        self._seq += 1
        return TransactionId(f"{prefix}{self._seq}")

    def _tag(self) -> str:
        return self._token(8)

    def _apply(self, tx: Transaction, effects: list[Effect], now: float) -> None:
        for effect in effects:
            if isinstance(effect, Outgoing):
                self._output.append(effect)
            elif isinstance(effect, PassToTU):
                message = effect.message
                if isinstance(message, Response) and isinstance(tx, ClientTransaction):
                    self._on_client_response(tx, message, now)
                elif isinstance(message, Request) and message.method == "ACK":
                    self._ack_for_2xx(message)  # RFC 2543-style ACK matched the INVITE
            elif isinstance(effect, TimedOut):
                self._on_timeout(tx, now)
            elif isinstance(effect, Terminated):
                self._forget(tx)

    def _forget(self, tx: Transaction) -> None:
        self._by_id.pop(tx.id, None)
        if isinstance(tx, ServerTransaction):
            sctx = self._server_ctx.pop(tx.id, None)
            if sctx is None:
                return
            if self._server.get(sctx.key) is tx:
                del self._server[sctx.key]
            if sctx.merge_key is not None and self._merged.get(sctx.merge_key) is tx:
                del self._merged[sctx.merge_key]
            if sctx.early_id is not None:
                self._early.pop(sctx.early_id, None)
        else:
            cctx = self._client_ctx.pop(tx.id, None)
            if cctx is not None and self._client.get(cctx.key) is tx:
                del self._client[cctx.key]

    def _warning(self, text: str) -> list[tuple[str, str]]:
        clean = "".join(c if c.isprintable() and c not in '"\\' else " " for c in text)[:200]
        return [("Warning", f'399 {self.config.domain} "{clean}"')]

    def _contact(self, transport: str) -> str:
        host = self.config.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        param = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{host}:{self.config.port}{param}>"

    # ------------------------------------------------------------------ requests in

    def _stamp_via(self, req: Request, via: Via, source: Source) -> Via:
        """RFC 3261 §18.2.1 ``received`` and RFC 3581 §4 ``rport`` on the top Via."""
        ip, port = source.addr
        params = dict(via.params)
        rport = "rport" in params
        if rport and not params["rport"]:
            params["rport"] = str(port)
        if (rport or via.host.lower() != ip.lower()) and params.get("received") != ip:
            params["received"] = ip
        if params == via.params:
            return via
        stamped = Via(via.transport, via.host, via.port, params, via.protocol)
        items = req.headers.items()
        for i, (name, value) in enumerate(items):
            if name == "Via":
                rest = split_comma_list(value)[1:]
                items[i] = (name, ", ".join([str(stamped), *rest]))
                break
        req.headers = type(req.headers)(items)
        return stamped

    def _response_destination(self, via: Via, source: Source) -> Destination:
        """RFC 3261 §18.2.2 with RFC 3581 §4: where responses to this request go."""
        if source.connection_id is not None or is_reliable(source.transport):
            return Destination(source.transport, source.addr, source.connection_id)
        if via.params.get("rport") or self.config.symmetric_responses:
            return Destination(source.transport, source.addr)
        default = 5061 if via.transport == "TLS" else 5060
        return Destination(source.transport, (source.addr[0], via.port or default))

    def _on_request(self, req: Request, source: Source, now: float) -> None:
        try:
            via = self._stamp_via(req, req.top_via, source)
        except SipParseError as exc:
            logger.debug("dropping request with an unusable Via from %s: %s", source.addr, exc)
            return
        dest = self._response_destination(via, source)
        if req.method == "ACK":
            self._on_ack(req, via, now)
            return
        try:
            key = server_key(req, via)
        except SipParseError as exc:
            self._stateless_reply(req, dest, 400, headers=self._warning(str(exc)))
            return
        existing = self._server.get(key)
        if existing is not None:  # RFC 3261 §17.2.3: a retransmission
            self._apply(existing, existing.receive_request(req, now), now)
            return
        tx_class = ServerInviteTransaction if req.method == "INVITE" else ServerNonInviteTransaction
        tx = tx_class(self._new_id("s"), req, dest, self._timer_config, self._timers)
        ctx = _ServerContext(key=key, source=source)
        self._server[key] = tx
        self._by_id[tx.id] = tx
        self._server_ctx[tx.id] = ctx
        try:
            self._on_new_request(tx, ctx, req, now)
        except SipParseError as exc:
            if not tx.final_sent:
                self._reply(tx, 400, None, self._warning(str(exc)), now=now)

    def _on_new_request(
        self, tx: ServerTransaction, ctx: _ServerContext, req: Request, now: float
    ) -> None:
        method = req.method
        # RFC 3261 §8.2.1-§8.2.3: version, headers, URI scheme, method (405/501), Require
        # (420), body type (415/406).
        rejection = validate_request(
            req,
            methods=self._methods,
            supported=self.config.supported,
            content_types=self.config.accept,
        )
        if rejection is not None:
            self._reply(tx, rejection.status, rejection.reason, rejection.headers, now=now)
            return
        if method == "CANCEL":
            self._on_cancel(tx, req, now)
            return
        to_tag = req.to.tag
        from_tag = req.from_.tag or ""
        if to_tag is None:  # RFC 3261 §8.2.2.2: merged requests
            cseq = req.cseq
            merge_key = (req.call_id, from_tag, cseq.seq, cseq.method)
            if merge_key in self._merged:
                self._reply(tx, 482, None, now=now)
                return
            self._merged[merge_key] = tx
            ctx.merge_key = merge_key
        if to_tag is not None:
            self._on_in_dialog(tx, ctx, req, DialogId(req.call_id, to_tag, from_tag), now)
        elif method == "INVITE":
            self._on_initial_invite(tx, ctx, req, now)
        elif method == "OPTIONS":
            self._reply(tx, 200, None, [("Accept", ", ".join(self.config.accept))], now=now)
        else:
            self._reply(tx, 481, None, now=now)  # BYE/UPDATE/INFO outside a dialog

    def _negotiate_session(
        self, tx: ServerTransaction, ctx: _ServerContext, req: Request, now: float
    ) -> bool:
        """RFC 4028 §9; False when the request was refused with 422."""
        session = negotiate_uas(
            req, preferred_s=self.config.session_expires_s, min_se_s=self.config.min_se_s
        )
        if isinstance(session, IntervalTooSmall):
            self._reply(tx, 422, None, [("Min-SE", str(session.min_se_s))], now=now)
            return False
        ctx.session = session
        return True

    def _on_initial_invite(
        self, tx: ServerTransaction, ctx: _ServerContext, req: Request, now: float
    ) -> None:
        contact_target(req)  # SipParseError -> 400 (no Contact at all: an RFC 2543 peer)
        check_route_set(req)
        if not self._negotiate_session(tx, ctx, req, now):
            return
        ctx.initial_invite = True
        self._reply(tx, 100, None, now=now)
        self._events.append(IncomingInvite(tx.id, req, ctx.source))

    def _on_in_dialog(
        self,
        tx: ServerTransaction,
        ctx: _ServerContext,
        req: Request,
        dialog_id: DialogId,
        now: float,
    ) -> None:
        method = req.method
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            early = self._early.get(dialog_id)
            if early is not None and method == "BYE" and not early.final_sent:
                # RFC 3261 §15: BYE on the early dialog ends the pending INVITE.
                self._reply(tx, 200, None, now=now)
                self._reply(early, 487, None, now=now)
                self._events.append(InviteCancelled(early.id))
                return
            self._reply(tx, 481, None, now=now)
            return
        if not dialog.accept_remote_cseq(req.cseq.seq):  # RFC 3261 §12.2.2
            self._reply(tx, 500, "CSeq Out of Order", now=now)
            return
        ctx.dialog = dialog
        if method == "BYE":
            self._on_bye(tx, dialog, req, now)
        elif method in ("INVITE", "UPDATE"):
            self._on_offer_request(tx, ctx, dialog, req, now)
        elif method == "INFO":
            self._events.append(IncomingInfo(dialog.id, tx.id, req))
        elif method == "OPTIONS":
            self._reply(tx, 200, None, [("Accept", ", ".join(self.config.accept))], now=now)
        else:
            self._reply(tx, 405, None, [("Allow", self._allow_value)], now=now)

    def _on_bye(self, tx: ServerTransaction, dialog: Dialog, req: Request, now: float) -> None:
        self._reply(tx, 200, None, now=now)
        pending = self._by_id.get(dialog.pending_incoming or TransactionId(""))
        if isinstance(pending, ServerTransaction) and not pending.final_sent:
            self._reply(pending, 487, None, now=now)  # RFC 3261 §15.1.2
        self._end_dialog(dialog)
        self._events.append(ByeReceived(dialog.id, req))

    def _on_offer_request(
        self,
        tx: ServerTransaction,
        ctx: _ServerContext,
        dialog: Dialog,
        req: Request,
        now: float,
    ) -> None:
        """re-INVITE or UPDATE: glare (RFC 3261 §14.2, RFC 3311 §5.2), then the TU."""
        is_invite = req.method == "INVITE"
        offer = is_invite or bool(req.body)
        if offer and dialog.pending_outgoing is not None:
            self._reply(tx, 491, None, now=now)
            return
        if offer and dialog.pending_incoming is not None:
            retry_after = int(self._token(1), 16) % 11
            self._reply(tx, 500, None, [("Retry-After", str(retry_after))], now=now)
            return
        contact_target(req)  # a target refresh must name a SIP URI (SipParseError -> 400)
        if not self._negotiate_session(tx, ctx, req, now):
            return
        if req.headers.get("Allow") is not None:
            dialog.remote_allow = frozenset(m.upper() for m in req.headers.get_list("Allow"))
        if offer:
            dialog.pending_incoming = tx.id
        if is_invite:
            self._reply(tx, 100, None, now=now)
            self._events.append(IncomingReinvite(dialog.id, tx.id, req))
        else:
            self._events.append(IncomingUpdate(dialog.id, tx.id, req))

    def _on_cancel(self, tx: ServerTransaction, req: Request, now: float) -> None:
        """RFC 3261 §9.2."""
        via = req.top_via
        invite = self._server.get(server_key(req, via, method="INVITE"))
        if not isinstance(invite, ServerInviteTransaction):
            self._reply(tx, 481, None, now=now)
            return
        if invite.to_tag is None and invite.request.to.tag is None:
            invite.to_tag = self._tag()
        tx.to_tag = invite.to_tag  # the same To tag in both responses (§9.2)
        self._reply(tx, 200, None, now=now)
        if not invite.final_sent:
            self._reply(invite, 487, None, now=now)
            self._events.append(InviteCancelled(invite.id))

    def _on_ack(self, req: Request, via: Via, now: float) -> None:
        try:
            key = server_key(req, via)
        except SipParseError:
            return
        tx = self._server.get(key)
        if isinstance(tx, ServerInviteTransaction):
            # ACK for a non-2xx final is absorbed; in Accepted it is passed on (RFC 6026).
            self._apply(tx, tx.receive_request(req, now), now)
            return
        self._ack_for_2xx(req)

    def _ack_for_2xx(self, req: Request) -> None:
        """RFC 3261 §13.3.1.4: the ACK stops the 2xx retransmissions."""
        to_tag = req.to.tag
        if to_tag is None:
            return
        dialog = self._dialogs.get(DialogId(req.call_id, to_tag, req.from_.tag or ""))
        if dialog is None or dialog.ack_wait is None or dialog.ack_wait.cseq != req.cseq.seq:
            return  # a stray or repeated ACK
        dialog.ack_wait = None
        self._timers.cancel((dialog, DialogTimer.RETRANSMIT_2XX))
        self._timers.cancel((dialog, DialogTimer.ACK_WAIT))
        self._events.append(AckReceived(dialog.id, req))

    # ------------------------------------------------------------------ responses out

    def _reply(
        self,
        tx: ServerTransaction,
        status: int,
        reason: str | None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        now: float,
    ) -> DialogId | None:
        ctx = self._server_ctx.get(tx.id)
        if ctx is None:
            return None
        response = self._build_response(tx, ctx, status, reason, headers, body)
        self._apply(tx, tx.send_response(response, now), now)
        return self._after_response(tx, ctx, response, now)

    def _build_response(
        self,
        tx: ServerTransaction,
        ctx: _ServerContext,
        status: int,
        reason: str | None,
        headers: Sequence[tuple[str, str]],
        body: bytes,
    ) -> Response:
        req = tx.request
        method = req.method
        given = {canonical_name(name).lower() for name, _ in headers}
        if status > 100 and tx.to_tag is None:
            try:
                has_tag = req.to.tag is not None
            except SipParseError:
                has_tag = False
            if not has_tag:
                tx.to_tag = self._tag()  # RFC 3261 §8.2.6.2: one tag per transaction
        success = 200 <= status < 300
        extra: list[tuple[str, str]] = []
        if method == "INVITE" and ctx.initial_invite and 100 < status < 300:
            extra += [("Record-Route", rr) for rr in req.headers.get_all("Record-Route")]
        needs_contact = (method == "INVITE" and 100 < status < 300) or (
            method == "UPDATE" and success
        )
        if needs_contact and "contact" not in given:
            extra.append(("Contact", self._contact(tx.destination.transport)))
        session = ctx.session if success and method in ("INVITE", "UPDATE") else None
        if session is not None and "session-expires" not in given:
            extra.append(("Session-Expires", str(session.header)))
            if session.uac_supports_timer:
                extra.append(("Require", "timer"))
        wants_allow = (success and method in ("INVITE", "OPTIONS")) or status == 405
        if wants_allow and "allow" not in given:
            extra.append(("Allow", self._allow_value))
        wants_supported = success and method in ("INVITE", "OPTIONS", "UPDATE")
        if wants_supported and "supported" not in given and self.config.supported:
            extra.append(("Supported", ", ".join(self.config.supported)))
        if "server" not in given:
            extra.append(("Server", self.config.user_agent))
        return build_response(
            req, status, reason, to_tag=tx.to_tag, headers=[*extra, *headers], body=body
        )

    def _after_response(
        self, tx: ServerTransaction, ctx: _ServerContext, response: Response, now: float
    ) -> DialogId | None:
        status = response.status
        method = tx.request.method
        if method not in ("INVITE", "UPDATE"):
            return None
        if method == "INVITE" and ctx.initial_invite:
            early = 100 < status < 200 and ctx.early_id is None
            if early and tx.to_tag is not None and isinstance(tx, ServerInviteTransaction):
                req = tx.request
                ctx.early_id = DialogId(req.call_id, tx.to_tag, req.from_.tag or "")
                self._early[ctx.early_id] = tx  # so a BYE on the early dialog finds it
            if status < 200:
                return None
            if ctx.early_id is not None:
                self._early.pop(ctx.early_id, None)
            if status >= 300 or tx.to_tag is None:
                return None
            dialog = Dialog.as_uas(tx.request, tx.to_tag, ctx.source)
            if tx.request.headers.get("Allow") is not None:
                dialog.remote_allow = frozenset(
                    m.upper() for m in tx.request.headers.get_list("Allow")
                )
            self._dialogs[dialog.id] = dialog
            ctx.dialog = dialog
        else:
            dialog_or_none = ctx.dialog
            if dialog_or_none is None or status < 200:
                return None
            dialog = dialog_or_none
            if dialog.pending_incoming == tx.id:
                dialog.pending_incoming = None
            if status >= 300 or dialog.terminated:
                return None
            dialog.refresh_target(tx.request)  # target refresh accepted (RFC 6141 §3)
        if response.body and response.content_type == "application/sdp":
            dialog.local_sdp = ("application/sdp", response.body)
        if ctx.session is not None:
            self._arm_session(
                dialog, ctx.session.interval_s, ctx.session.refresher is Refresher.UAS, now
            )
        if method == "INVITE":
            packet = tx.destination.packet(tx.last_sent or response.serialize())
            self._start_ack_wait(dialog, tx.request.cseq.seq, packet, now)
            return dialog.id
        return None

    def _stateless_reply(
        self,
        req: Request,
        dest: Destination,
        status: int,
        reason: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        extra = [*headers, ("Server", self.config.user_agent)]
        response = build_response(req, status, reason, to_tag=self._tag(), headers=extra)
        self._output.append(dest.packet(response.serialize()))

    # ------------------------------------------------------------------ requests out

    def _send_in_dialog(
        self,
        dialog: Dialog,
        method: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        now: float,
        *,
        internal: bool = False,
    ) -> TransactionId:
        given = {canonical_name(name).lower() for name, _ in headers}
        transport, addr, connection_id = next_hop(dialog)
        extra: list[tuple[str, str]] = []
        if method in ("INVITE", "UPDATE"):
            if "contact" not in given:
                extra.append(("Contact", self._contact(transport)))
            if "supported" not in given and self.config.supported:
                extra.append(("Supported", ", ".join(self.config.supported)))
            session = dialog.session
            if session is not None and "session-expires" not in given:
                who = "uac" if session.local_refresher else "uas"
                extra.append(("Session-Expires", f"{session.interval_s};refresher={who}"))
        if method == "INVITE" and "allow" not in given:
            extra.append(("Allow", self._allow_value))
        if "user-agent" not in given:
            extra.append(("User-Agent", self.config.user_agent))
        request = dialog.build_request(
            method, cseq=dialog.next_local_cseq(), headers=[*extra, *headers], body=body
        )
        branch = self._add_via(request, transport)
        tx_class = ClientInviteTransaction if method == "INVITE" else ClientNonInviteTransaction
        dest = Destination(transport, addr, connection_id)
        tx = tx_class(self._new_id("c"), request, dest, self._timer_config, self._timers)
        offer = bool(body)
        ctx = _ClientContext(client_key(branch, method), dialog, method, offer, internal)
        self._client[ctx.key] = tx
        self._by_id[tx.id] = tx
        self._client_ctx[tx.id] = ctx
        if method == "INVITE" or (method == "UPDATE" and offer):
            dialog.pending_outgoing = tx.id
        if method == "BYE":
            dialog.terminating = True
            self._cancel_dialog_timers(dialog)
        self._apply(tx, tx.start(now), now)
        return tx.id

    def _add_via(self, request: Request, transport: str) -> str:
        branch = MAGIC_COOKIE + self._token(10)
        host = self.config.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        via = f"SIP/2.0/{transport.upper()} {host}:{self.config.port};branch={branch};rport"
        request.headers.insert(0, "Via", via)
        return branch

    def _send_ack(
        self, dialog: Dialog, cseq: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        """RFC 3261 §13.2.2.4: ACK for a 2xx, built like any request in the dialog."""
        transport, addr, connection_id = next_hop(dialog)
        given = {canonical_name(name).lower() for name, _ in headers}
        extra = [] if "user-agent" in given else [("User-Agent", self.config.user_agent)]
        request = dialog.build_request("ACK", cseq=cseq, headers=[*extra, *headers], body=body)
        self._add_via(request, transport)
        packet = Outgoing(transport, addr, request.serialize(), connection_id)
        self._output.append(packet)
        dialog.last_ack = (cseq, packet)
        if body and request.content_type == "application/sdp":
            dialog.local_sdp = ("application/sdp", body)

    # ------------------------------------------------------------------ responses in

    def _on_response(self, resp: Response, now: float) -> None:
        if not 100 <= resp.status <= 699:
            return
        if len(resp.headers.get_list("Via")) != 1:  # RFC 3261 §8.1.3.3
            return
        cseq = resp.cseq
        tx = self._client.get(client_key(resp.top_via.branch or "", cseq.method))
        if tx is not None:
            self._apply(tx, tx.receive_response(resp, now), now)
            return
        if 200 <= resp.status < 300 and cseq.method == "INVITE":
            # RFC 6026 §8.4 / RFC 3261 §13.2.2.4: a late 2xx retransmission gets our ACK again.
            to_tag = resp.to.tag
            dialog = self._dialogs.get(DialogId(resp.call_id, resp.from_.tag or "", to_tag or ""))
            last_ack = None if dialog is None else dialog.last_ack
            if last_ack is not None and last_ack[0] == cseq.seq:
                self._output.append(last_ack[1])

    def _on_client_response(self, tx: ClientTransaction, resp: Response, now: float) -> None:
        ctx = self._client_ctx.get(tx.id)
        if ctx is None:
            return
        dialog = ctx.dialog
        status = resp.status
        success = 200 <= status < 300
        if ctx.method == "INVITE" and success:
            if ctx.answered:  # a 2xx retransmission: ACK again, no new event
                if dialog.last_ack is not None and dialog.last_ack[0] == tx.request.cseq.seq:
                    self._output.append(dialog.last_ack[1])
                return
            ctx.answered = True
        if status >= 200:
            if dialog.pending_outgoing == tx.id:
                dialog.pending_outgoing = None
            if success and ctx.method in ("INVITE", "UPDATE"):
                self._on_refresh_accepted(ctx, tx.request, resp, now)
            if ctx.method == "BYE":
                self._end_dialog(dialog)
            if ctx.internal and not success:
                self._on_refresh_failed(dialog, status, now)
        if ctx.internal:
            return
        self._events.append(ResponseReceived(tx.id, dialog.id, resp))

    def _on_refresh_accepted(
        self, ctx: _ClientContext, request: Request, resp: Response, now: float
    ) -> None:
        dialog = ctx.dialog
        try:
            dialog.refresh_target(resp)
        except SipParseError as exc:
            logger.debug("keeping the remote target: %s", exc)
        if resp.headers.get("Allow") is not None:
            dialog.remote_allow = frozenset(m.upper() for m in resp.headers.get_list("Allow"))
        if ctx.offer and request.content_type == "application/sdp":
            dialog.local_sdp = ("application/sdp", request.body)
        try:
            se = session_from_response(resp)
        except SipParseError:
            se = None
        if dialog.terminated or dialog.terminating:
            pass  # a BYE crossed the refresh: only the ACK below is still due
        elif se is not None:
            self._arm_session(dialog, se.interval_s, se.refresher is not Refresher.UAS, now)
        elif dialog.session is not None and not supports_timer(resp):
            # RFC 4028 §7.4: the peer does not do timers; we keep refreshing ourselves.
            self._arm_session(dialog, dialog.session.interval_s, True, now)
        else:
            self._stop_session(dialog)
        if ctx.method == "INVITE":  # RFC 3261 §13.2.2.4: every 2xx is ACKed
            if ctx.offer:
                self._send_ack(dialog, request.cseq.seq, (), b"")
            else:
                dialog.ack_due = request.cseq.seq  # the TU answers in the ACK (send_ack)

    # ------------------------------------------------------------------ timers

    def _on_timeout(self, tx: Transaction, now: float) -> None:
        if isinstance(tx, ServerTransaction):
            sctx = self._server_ctx.get(tx.id)
            dialog = None if sctx is None else sctx.dialog
            if dialog is not None and dialog.pending_incoming == tx.id:
                dialog.pending_incoming = None
            self._events.append(TransactionTimedOut(tx.id, None if dialog is None else dialog.id))
            return
        cctx = self._client_ctx.get(tx.id)
        if cctx is None:
            return
        dialog = cctx.dialog
        if dialog.pending_outgoing == tx.id:
            dialog.pending_outgoing = None
        if cctx.method == "BYE":
            self._end_dialog(dialog)
        if cctx.internal:
            self._on_refresh_failed(dialog, 408, now)
            return
        self._events.append(TransactionTimedOut(tx.id, dialog.id))

    def _start_ack_wait(self, dialog: Dialog, cseq: int, packet: Outgoing, now: float) -> None:
        t1 = self._timer_config.t1_s
        dialog.ack_wait = AckWait(cseq, packet, t1)
        self._timers.set((dialog, DialogTimer.RETRANSMIT_2XX), now + t1)
        self._timers.set((dialog, DialogTimer.ACK_WAIT), now + self._timer_config.timeout_s)

    def _dialog_timer(self, dialog: Dialog, timer: DialogTimer, now: float) -> None:
        if timer is DialogTimer.RETRANSMIT_2XX:
            wait = dialog.ack_wait
            if wait is not None:
                self._output.append(wait.packet)
                wait.interval_s = min(wait.interval_s * 2, self._timer_config.t2_s)
                self._timers.set((dialog, timer), now + wait.interval_s)
        elif timer is DialogTimer.ACK_WAIT:
            if dialog.ack_wait is not None:
                dialog.ack_wait = None
                self._timers.cancel((dialog, DialogTimer.RETRANSMIT_2XX))
                self._events.append(AckTimedOut(dialog.id))
        elif timer is DialogTimer.SESSION_REFRESH:
            self._send_session_refresh(dialog, now)
        elif dialog.session is not None:  # SESSION_EXPIRY
            self._stop_session(dialog)
            self._events.append(SessionExpired(dialog.id))

    # ------------------------------------------------------------------ session timers

    def _arm_session(
        self, dialog: Dialog, interval_s: int, local_refresher: bool, now: float
    ) -> None:
        session = SessionTimer.start(interval_s, local_refresher, now)
        dialog.session = session
        self._timers.set((dialog, DialogTimer.SESSION_EXPIRY), session.expires_at)
        if session.refresh_at is not None:
            self._timers.set((dialog, DialogTimer.SESSION_REFRESH), session.refresh_at)
        else:
            self._timers.cancel((dialog, DialogTimer.SESSION_REFRESH))

    def _stop_session(self, dialog: Dialog) -> None:
        dialog.session = None
        self._timers.cancel((dialog, DialogTimer.SESSION_EXPIRY))
        self._timers.cancel((dialog, DialogTimer.SESSION_REFRESH))

    def _send_session_refresh(self, dialog: Dialog, now: float) -> None:
        """RFC 4028 §7.4 when we are the refresher: UPDATE if the peer allows it, else a
        re-INVITE repeating our last SDP unchanged (RFC 3264 §8: same version)."""
        session = dialog.session
        if session is None or dialog.terminating or dialog.terminated:
            return
        if dialog.pending_outgoing is not None or dialog.pending_incoming is not None:
            retry = now + self._timer_config.t2_s
            if retry < session.expires_at:
                self._timers.set((dialog, DialogTimer.SESSION_REFRESH), retry)
            return
        allow = dialog.remote_allow
        if allow is not None and "UPDATE" in allow:
            self._send_in_dialog(dialog, "UPDATE", (), b"", now, internal=True)
        elif dialog.local_sdp is not None:
            content_type, body = dialog.local_sdp
            headers = [("Content-Type", content_type)]
            self._send_in_dialog(dialog, "INVITE", headers, body, now, internal=True)
        else:
            logger.info("cannot refresh session of %s: no UPDATE and no SDP", dialog.id)

    def _on_refresh_failed(self, dialog: Dialog, status: int, now: float) -> None:
        if dialog.session is None or dialog.terminated:
            return
        if status in (408, 481):  # RFC 5057: the dialog is gone
            self._stop_session(dialog)
            self._events.append(SessionExpired(dialog.id))
            return
        retry = now + (dialog.session.expires_at - now) / 2
        if retry - now > 1.0:
            self._timers.set((dialog, DialogTimer.SESSION_REFRESH), retry)

    # ------------------------------------------------------------------ dialogs

    def _cancel_dialog_timers(self, dialog: Dialog) -> None:
        for timer in DialogTimer:
            self._timers.cancel((dialog, timer))
        dialog.ack_wait = None
        dialog.session = None

    def _end_dialog(self, dialog: Dialog) -> None:
        self._cancel_dialog_timers(dialog)
        dialog.transition(DialogEvent.BYE)
        if self._dialogs.get(dialog.id) is dialog:
            del self._dialogs[dialog.id]
