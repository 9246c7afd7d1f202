"""The UAS half of the endpoint: requests we receive and the responses we send to them.

What it does on its own: 100 Trying to INVITEs; OPTIONS outside a dialog; the RFC 3261
§8.2 checks (validate_request, 405/501, 482, 420, 415); 481 for requests that match no
dialog or transaction; CANCEL (200 + 487); BYE (200); glare (491, 500 with Retry-After);
RFC 4028 negotiation (422); dialogs created by a 2xx to an initial INVITE; 2xx
retransmission until the ACK (RFC 3261 §13.3.1.4).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .dialog import AckWait, Dialog, DialogTimer, check_route_set, contact_target
from .errors import SipParseError
from .events import (
    AckReceived,
    AckTimedOut,
    ByeReceived,
    DialogId,
    IncomingInfo,
    IncomingInvite,
    IncomingReinvite,
    IncomingUpdate,
    InviteCancelled,
    Outgoing,
    Source,
    TransactionId,
    TransactionTimedOut,
)
from .headers import Via
from .message import Request, Response
from .responses import (
    has_to_tag,
    response_destination,
    stamp_via,
    stateless_response,
    uas_response,
    warning_headers,
)
from .session_refresh import arm_session
from .session_timer import IntervalTooSmall, Refresher, SessionTimerOffer, negotiate_uas
from .transaction import (
    Destination,
    Effect,
    PassToTU,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    Terminated,
    TimedOut,
    server_key,
)
from .ua_core import UaCore
from .validate import validate_request

__all__ = ["UserAgentServer"]

logger = logging.getLogger(__name__)

MergeKey = tuple[str, str, int, str]
"""RFC 3261 §8.2.2.2: Call-ID, From tag, CSeq of a request without a To tag."""


@dataclass(slots=True, eq=False)
class _ServerContext:
    key: tuple[str, ...]
    source: Source
    dialog: Dialog | None = None
    initial_invite: bool = False
    session: SessionTimerOffer | None = None
    merge_key: MergeKey | None = None
    early_id: DialogId | None = None


class UserAgentServer:
    """Server transactions of one endpoint and the dialogs they create and change."""

    def __init__(self, core: UaCore) -> None:
        self._core = core
        self._server: dict[tuple[str, ...], ServerTransaction] = {}
        self._by_id: dict[TransactionId, ServerTransaction] = {}
        self._ctx: dict[TransactionId, _ServerContext] = {}
        self._merged: dict[MergeKey, ServerTransaction] = {}
        self._early: dict[DialogId, ServerInviteTransaction] = {}

    @property
    def transaction_count(self) -> int:
        return len(self._by_id)

    def transaction(self, transaction_id: TransactionId) -> ServerTransaction | None:
        return self._by_id.get(transaction_id)

    def _warning(self, text: str) -> list[tuple[str, str]]:
        return warning_headers(self._core.config.domain, text)

    # ------------------------------------------------------------------ requests in

    def reject_malformed(self, exc: SipParseError, source: Source) -> None:
        """Answer a message that failed to parse with 400 (or its status) if addressable."""
        partial = getattr(exc, "partial", None)
        if not isinstance(partial, Request) or partial.method.upper() == "ACK":
            logger.debug("dropping unparseable message from %s: %s", source.addr, exc)
            return
        if "Via" not in partial.headers:
            logger.debug("dropping unparseable request without Via from %s", source.addr)
            return
        try:
            via = stamp_via(partial, partial.top_via, source)
            dest = self._destination(via, source)
        except SipParseError:
            dest = Destination(source.transport, source.addr, source.connection_id)
        status = getattr(exc, "status", 400)
        if not isinstance(status, int) or not 400 <= status <= 699:
            status = 400
        self._stateless_reply(partial, dest, status, headers=self._warning(str(exc)))

    def _destination(self, via: Via, source: Source) -> Destination:
        return response_destination(via, source, symmetric=self._core.config.symmetric_responses)

    def on_request(self, req: Request, source: Source, now: float) -> None:
        """A request from the network: a retransmission, an ACK, or a new transaction."""
        try:
            via = stamp_via(req, req.top_via, source)
        except SipParseError as exc:
            logger.debug("dropping request with an unusable Via from %s: %s", source.addr, exc)
            return
        dest = self._destination(via, source)
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
            self.apply(existing, existing.receive_request(req, now), now)
            return
        core = self._core
        tx_class = ServerInviteTransaction if req.method == "INVITE" else ServerNonInviteTransaction
        tx = tx_class(core.new_id("s"), req, dest, core.timer_config, core.timers)
        ctx = _ServerContext(key=key, source=source)
        self._server[key] = tx
        self._by_id[tx.id] = tx
        self._ctx[tx.id] = ctx
        try:
            self._on_new_request(tx, ctx, req, now)
        except SipParseError as exc:
            if not tx.final_sent:
                self.reply(tx, 400, None, self._warning(str(exc)), now=now)

    def _on_new_request(
        self, tx: ServerTransaction, ctx: _ServerContext, req: Request, now: float
    ) -> None:
        config = self._core.config
        method = req.method
        # RFC 3261 §8.2.1-§8.2.3: version, headers, URI scheme, method (405/501), Require
        # (420), body type (415/406).
        rejection = validate_request(
            req,
            methods=self._core.methods,
            supported=config.supported,
            content_types=config.accept,
        )
        if rejection is not None:
            self.reply(tx, rejection.status, rejection.reason, rejection.headers, now=now)
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
                self.reply(tx, 482, None, now=now)
                return
            self._merged[merge_key] = tx
            ctx.merge_key = merge_key
        if to_tag is not None:
            self._on_in_dialog(tx, ctx, req, DialogId(req.call_id, to_tag, from_tag), now)
        elif method == "INVITE":
            self._on_initial_invite(tx, ctx, req, now)
        elif method == "OPTIONS":
            self.reply(tx, 200, None, [("Accept", ", ".join(config.accept))], now=now)
        else:
            self.reply(tx, 481, None, now=now)  # BYE/UPDATE/INFO outside a dialog

    def _negotiate_session(
        self, tx: ServerTransaction, ctx: _ServerContext, req: Request, now: float
    ) -> bool:
        """RFC 4028 §9; False when the request was refused with 422."""
        config = self._core.config
        session = negotiate_uas(req, preferred_s=config.session_expires_s, min_se_s=config.min_se_s)
        if isinstance(session, IntervalTooSmall):
            self.reply(tx, 422, None, [("Min-SE", str(session.min_se_s))], now=now)
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
        self.reply(tx, 100, None, now=now)
        self._core.events.append(IncomingInvite(tx.id, req, ctx.source))

    def _on_in_dialog(
        self,
        tx: ServerTransaction,
        ctx: _ServerContext,
        req: Request,
        dialog_id: DialogId,
        now: float,
    ) -> None:
        method = req.method
        dialog = self._core.dialogs.get(dialog_id)
        if dialog is None:
            early = self._early.get(dialog_id)
            if early is not None and method == "BYE" and not early.final_sent:
                # RFC 3261 §15: BYE on the early dialog ends the pending INVITE.
                self.reply(tx, 200, None, now=now)
                self.reply(early, 487, None, now=now)
                self._core.events.append(InviteCancelled(early.id))
                return
            self.reply(tx, 481, None, now=now)
            return
        if not dialog.accept_remote_cseq(req.cseq.seq):  # RFC 3261 §12.2.2
            self.reply(tx, 500, "CSeq Out of Order", now=now)
            return
        ctx.dialog = dialog
        if method == "BYE":
            self._on_bye(tx, dialog, req, now)
        elif method in ("INVITE", "UPDATE"):
            self._on_offer_request(tx, ctx, dialog, req, now)
        elif method == "INFO":
            self._core.events.append(IncomingInfo(dialog.id, tx.id, req))
        elif method == "OPTIONS":
            accept = ", ".join(self._core.config.accept)
            self.reply(tx, 200, None, [("Accept", accept)], now=now)
        else:
            self.reply(tx, 405, None, [("Allow", self._core.allow_value)], now=now)

    def _on_bye(self, tx: ServerTransaction, dialog: Dialog, req: Request, now: float) -> None:
        self.reply(tx, 200, None, now=now)
        pending = self._by_id.get(dialog.pending_incoming or TransactionId(""))
        if pending is not None and not pending.final_sent:
            self.reply(pending, 487, None, now=now)  # RFC 3261 §15.1.2
        self._core.end_dialog(dialog)
        self._core.events.append(ByeReceived(dialog.id, req))

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
            self.reply(tx, 491, None, now=now)
            return
        if offer and dialog.pending_incoming is not None:
            retry_after = int(self._core.token(1), 16) % 11
            self.reply(tx, 500, None, [("Retry-After", str(retry_after))], now=now)
            return
        contact_target(req)  # a target refresh must name a SIP URI (SipParseError -> 400)
        if not self._negotiate_session(tx, ctx, req, now):
            return
        if req.headers.get("Allow") is not None:
            dialog.remote_allow = frozenset(m.upper() for m in req.headers.get_list("Allow"))
        if offer:
            dialog.pending_incoming = tx.id
        if is_invite:
            self.reply(tx, 100, None, now=now)
            self._core.events.append(IncomingReinvite(dialog.id, tx.id, req))
        else:
            self._core.events.append(IncomingUpdate(dialog.id, tx.id, req))

    def _on_cancel(self, tx: ServerTransaction, req: Request, now: float) -> None:
        """RFC 3261 §9.2."""
        via = req.top_via
        invite = self._server.get(server_key(req, via, method="INVITE"))
        if not isinstance(invite, ServerInviteTransaction):
            self.reply(tx, 481, None, now=now)
            return
        if invite.to_tag is None and invite.request.to.tag is None:
            invite.to_tag = self._core.tag()
        tx.to_tag = invite.to_tag  # the same To tag in both responses (§9.2)
        self.reply(tx, 200, None, now=now)
        if not invite.final_sent:
            self.reply(invite, 487, None, now=now)
            self._core.events.append(InviteCancelled(invite.id))

    def _on_ack(self, req: Request, via: Via, now: float) -> None:
        try:
            key = server_key(req, via)
        except SipParseError:
            return
        tx = self._server.get(key)
        if isinstance(tx, ServerInviteTransaction):
            # ACK for a non-2xx final is absorbed; in Accepted it is passed on (RFC 6026).
            self.apply(tx, tx.receive_request(req, now), now)
            return
        self._ack_for_2xx(req)

    def _ack_for_2xx(self, req: Request) -> None:
        """RFC 3261 §13.3.1.4: the ACK stops the 2xx retransmissions."""
        to_tag = req.to.tag
        if to_tag is None:
            return
        dialog = self._core.dialogs.get(DialogId(req.call_id, to_tag, req.from_.tag or ""))
        if dialog is None or dialog.ack_wait is None or dialog.ack_wait.cseq != req.cseq.seq:
            return  # a stray or repeated ACK
        dialog.ack_wait = None
        self._core.timers.cancel((dialog, DialogTimer.RETRANSMIT_2XX))
        self._core.timers.cancel((dialog, DialogTimer.ACK_WAIT))
        self._core.events.append(AckReceived(dialog.id, req))

    # ------------------------------------------------------------------ transactions

    def apply(self, tx: ServerTransaction, effects: list[Effect], now: float) -> None:
        """Carry out what a server transaction asked for."""
        for effect in effects:
            if isinstance(effect, Outgoing):
                self._core.output.append(effect)
            elif isinstance(effect, PassToTU):
                message = effect.message
                if isinstance(message, Request) and message.method == "ACK":
                    self._ack_for_2xx(message)  # RFC 2543-style ACK matched the INVITE
            elif isinstance(effect, TimedOut):
                self._on_timeout(tx)
            elif isinstance(effect, Terminated):
                self._forget(tx)

    def _forget(self, tx: ServerTransaction) -> None:
        self._by_id.pop(tx.id, None)
        ctx = self._ctx.pop(tx.id, None)
        if ctx is None:
            return
        if self._server.get(ctx.key) is tx:
            del self._server[ctx.key]
        if ctx.merge_key is not None and self._merged.get(ctx.merge_key) is tx:
            del self._merged[ctx.merge_key]
        if ctx.early_id is not None:
            self._early.pop(ctx.early_id, None)

    def _on_timeout(self, tx: ServerTransaction) -> None:
        ctx = self._ctx.get(tx.id)
        dialog = None if ctx is None else ctx.dialog
        if dialog is not None and dialog.pending_incoming == tx.id:
            dialog.pending_incoming = None
        self._core.events.append(TransactionTimedOut(tx.id, None if dialog is None else dialog.id))

    # ------------------------------------------------------------------ responses out

    def reply(
        self,
        tx: ServerTransaction,
        status: int,
        reason: str | None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        now: float,
    ) -> DialogId | None:
        """Send a response on ``tx``; the dialog id for a 2xx to an INVITE."""
        ctx = self._ctx.get(tx.id)
        if ctx is None:
            return None
        req = tx.request
        if status > 100 and tx.to_tag is None and not has_to_tag(req):
            tx.to_tag = self._core.tag()  # RFC 3261 §8.2.6.2: one tag per transaction
        config = self._core.config
        response = uas_response(
            req,
            status,
            reason,
            to_tag=tx.to_tag,
            headers=headers,
            body=body,
            initial_invite=ctx.initial_invite,
            session=ctx.session,
            contact=self._core.contact(tx.destination.transport),
            allow=self._core.allow_value,
            supported=config.supported,
            server=config.user_agent,
        )
        self.apply(tx, tx.send_response(response, now), now)
        return self._after_response(tx, ctx, response, now)

    def _after_response(
        self, tx: ServerTransaction, ctx: _ServerContext, response: Response, now: float
    ) -> DialogId | None:
        """Dialog state after a response to INVITE or UPDATE (RFC 3261 §12.1.1, §13.3.1)."""
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
            self._core.dialogs[dialog.id] = dialog
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
            local_refresher = ctx.session.refresher is Refresher.UAS
            arm_session(self._core.timers, dialog, ctx.session.interval_s, local_refresher, now)
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
        server = self._core.config.user_agent
        response = stateless_response(
            req, status, reason, to_tag=self._core.tag(), server=server, headers=headers
        )
        self._core.output.append(dest.packet(response.serialize()))

    # ------------------------------------------------------------------ 2xx retransmission

    def _start_ack_wait(self, dialog: Dialog, cseq: int, packet: Outgoing, now: float) -> None:
        """RFC 3261 §13.3.1.4: resend the 2xx from T1, doubling to T2, for 64*T1."""
        timers, config = self._core.timers, self._core.timer_config
        dialog.ack_wait = AckWait(cseq, packet, config.t1_s)
        timers.set((dialog, DialogTimer.RETRANSMIT_2XX), now + config.t1_s)
        timers.set((dialog, DialogTimer.ACK_WAIT), now + config.timeout_s)

    def retransmit_2xx(self, dialog: Dialog, now: float) -> None:
        """:attr:`DialogTimer.RETRANSMIT_2XX` fired."""
        wait = dialog.ack_wait
        if wait is not None:
            self._core.output.append(wait.packet)
            wait.interval_s = min(wait.interval_s * 2, self._core.timer_config.t2_s)
            self._core.timers.set((dialog, DialogTimer.RETRANSMIT_2XX), now + wait.interval_s)

    def ack_wait_expired(self, dialog: Dialog) -> None:
        """:attr:`DialogTimer.ACK_WAIT` fired: no ACK for the 2xx in 64*T1."""
        if dialog.ack_wait is not None:
            dialog.ack_wait = None
            self._core.timers.cancel((dialog, DialogTimer.RETRANSMIT_2XX))
            self._core.events.append(AckTimedOut(dialog.id))
