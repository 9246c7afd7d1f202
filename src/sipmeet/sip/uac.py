"""The UAC half of the endpoint: requests we send within a dialog and their responses.

BYE, re-INVITE, UPDATE and INFO built from the dialog state (RFC 3261 §12.2.1.1), the ACK
for a 2xx to our re-INVITE (RFC 3261 §13.2.2.4), target refresh and RFC 4028 session
state from the 2xx, and session refreshes the endpoint sends on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .dialog import Dialog, next_hop
from .errors import SipParseError
from .events import DialogId, Outgoing, ResponseReceived, TransactionId, TransactionTimedOut
from .message import Request, Response, canonical_name
from .session_refresh import arm_session, refresh_failed, stop_session
from .session_timer import Refresher, session_from_response, supports_timer
from .transaction import (
    MAGIC_COOKIE,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    Destination,
    Effect,
    PassToTU,
    Terminated,
    TimedOut,
    client_key,
)
from .ua_core import UaCore, sip_host

__all__ = ["UserAgentClient"]

logger = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class _ClientContext:
    key: tuple[str, str]
    dialog: Dialog
    method: str
    offer: bool  # the request carried a body (an SDP offer for INVITE/UPDATE)
    internal: bool = False  # a session refresh the endpoint sent on its own
    answered: bool = False  # a 2xx arrived (INVITE: ACK sent or due)


class UserAgentClient:
    """Client transactions of one endpoint and what their responses do to the dialogs."""

    def __init__(self, core: UaCore) -> None:
        self._core = core
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._by_id: dict[TransactionId, ClientTransaction] = {}
        self._ctx: dict[TransactionId, _ClientContext] = {}

    @property
    def transaction_count(self) -> int:
        return len(self._by_id)

    def owns(self, transaction_id: TransactionId) -> bool:
        return transaction_id in self._by_id

    # ------------------------------------------------------------------ requests out

    def send_in_dialog(
        self,
        dialog: Dialog,
        method: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        now: float,
        *,
        internal: bool = False,
    ) -> TransactionId:
        """RFC 3261 §12.2.1.1: a request in ``dialog``; ``internal``: a session refresh."""
        core = self._core
        config = core.config
        given = {canonical_name(name).lower() for name, _ in headers}
        transport, addr, connection_id = next_hop(dialog)
        extra: list[tuple[str, str]] = []
        if method in ("INVITE", "UPDATE"):
            if "contact" not in given:
                extra.append(("Contact", core.contact(transport)))
            if "supported" not in given and config.supported:
                extra.append(("Supported", ", ".join(config.supported)))
            session = dialog.session
            if session is not None and "session-expires" not in given:
                who = "uac" if session.local_refresher else "uas"
                extra.append(("Session-Expires", f"{session.interval_s};refresher={who}"))
        if method == "INVITE" and "allow" not in given:
            extra.append(("Allow", core.allow_value))
        if "user-agent" not in given:
            extra.append(("User-Agent", config.user_agent))
        request = dialog.build_request(
            method, cseq=dialog.next_local_cseq(), headers=[*extra, *headers], body=body
        )
        branch = self._add_via(request, transport)
        tx_class = ClientInviteTransaction if method == "INVITE" else ClientNonInviteTransaction
        dest = Destination(transport, addr, connection_id)
        tx = tx_class(core.new_id("c"), request, dest, core.timer_config, core.timers)
        offer = bool(body)
        ctx = _ClientContext(client_key(branch, method), dialog, method, offer, internal)
        self._client[ctx.key] = tx
        self._by_id[tx.id] = tx
        self._ctx[tx.id] = ctx
        if method == "INVITE" or (method == "UPDATE" and offer):
            dialog.pending_outgoing = tx.id
        if method == "BYE":
            dialog.terminating = True
            core.cancel_dialog_timers(dialog)
        self.apply(tx, tx.start(now), now)
        return tx.id

    def _add_via(self, request: Request, transport: str) -> str:
        """RFC 3261 §8.1.1.7 Via with a new branch, asking for ``rport`` (RFC 3581 §3)."""
        branch = MAGIC_COOKIE + self._core.token(10)
        config = self._core.config
        host = sip_host(config.host)
        via = f"SIP/2.0/{transport.upper()} {host}:{config.port};branch={branch};rport"
        request.headers.insert(0, "Via", via)
        return branch

    def send_ack(
        self, dialog: Dialog, cseq: int, headers: Sequence[tuple[str, str]], body: bytes
    ) -> None:
        """RFC 3261 §13.2.2.4: ACK for a 2xx, built like any request in the dialog."""
        transport, addr, connection_id = next_hop(dialog)
        given = {canonical_name(name).lower() for name, _ in headers}
        extra = [] if "user-agent" in given else [("User-Agent", self._core.config.user_agent)]
        request = dialog.build_request("ACK", cseq=cseq, headers=[*extra, *headers], body=body)
        self._add_via(request, transport)
        packet = Outgoing(transport, addr, request.serialize(), connection_id)
        self._core.output.append(packet)
        dialog.last_ack = (cseq, packet)
        if body and request.content_type == "application/sdp":
            dialog.local_sdp = ("application/sdp", body)

    # ------------------------------------------------------------------ transactions

    def apply(self, tx: ClientTransaction, effects: list[Effect], now: float) -> None:
        """Carry out what a client transaction asked for."""
        for effect in effects:
            if isinstance(effect, Outgoing):
                self._core.output.append(effect)
            elif isinstance(effect, PassToTU):
                if isinstance(effect.message, Response):
                    self._on_client_response(tx, effect.message, now)
            elif isinstance(effect, TimedOut):
                self._on_timeout(tx, now)
            elif isinstance(effect, Terminated):
                self._forget(tx)

    def _forget(self, tx: ClientTransaction) -> None:
        self._by_id.pop(tx.id, None)
        ctx = self._ctx.pop(tx.id, None)
        if ctx is not None and self._client.get(ctx.key) is tx:
            del self._client[ctx.key]

    # ------------------------------------------------------------------ responses in

    def on_response(self, resp: Response, now: float) -> None:
        """A response from the network (RFC 3261 §8.1.3, §17.1.3 matching)."""
        if not 100 <= resp.status <= 699:
            return
        if len(resp.headers.get_list("Via")) != 1:  # RFC 3261 §8.1.3.3
            return
        cseq = resp.cseq
        tx = self._client.get(client_key(resp.top_via.branch or "", cseq.method))
        if tx is not None:
            self.apply(tx, tx.receive_response(resp, now), now)
            return
        if 200 <= resp.status < 300 and cseq.method == "INVITE":
            # RFC 6026 §8.4 / RFC 3261 §13.2.2.4: a late 2xx retransmission gets our ACK again.
            to_tag = resp.to.tag
            key = DialogId(resp.call_id, resp.from_.tag or "", to_tag or "")
            dialog = self._core.dialogs.get(key)
            last_ack = None if dialog is None else dialog.last_ack
            if last_ack is not None and last_ack[0] == cseq.seq:
                self._core.output.append(last_ack[1])

    def _on_client_response(self, tx: ClientTransaction, resp: Response, now: float) -> None:
        ctx = self._ctx.get(tx.id)
        if ctx is None:
            return
        core = self._core
        dialog = ctx.dialog
        status = resp.status
        success = 200 <= status < 300
        if ctx.method == "INVITE" and success:
            if ctx.answered:  # a 2xx retransmission: ACK again, no new event
                if dialog.last_ack is not None and dialog.last_ack[0] == tx.request.cseq.seq:
                    core.output.append(dialog.last_ack[1])
                return
            ctx.answered = True
        if status >= 200:
            if dialog.pending_outgoing == tx.id:
                dialog.pending_outgoing = None
            if success and ctx.method in ("INVITE", "UPDATE"):
                self._on_refresh_accepted(ctx, tx.request, resp, now)
            if ctx.method == "BYE":
                core.end_dialog(dialog)
            if ctx.internal and not success:
                self._refresh_failed(dialog, status, now)
        if ctx.internal:
            return
        core.events.append(ResponseReceived(tx.id, dialog.id, resp))

    def _on_refresh_accepted(
        self, ctx: _ClientContext, request: Request, resp: Response, now: float
    ) -> None:
        """A 2xx to our re-INVITE or UPDATE: target refresh, session timer, ACK."""
        timers = self._core.timers
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
            arm_session(timers, dialog, se.interval_s, se.refresher is not Refresher.UAS, now)
        elif dialog.session is not None and not supports_timer(resp):
            # RFC 4028 §7.4: the peer does not do timers; we keep refreshing ourselves.
            arm_session(timers, dialog, dialog.session.interval_s, True, now)
        else:
            stop_session(timers, dialog)
        if ctx.method == "INVITE":  # RFC 3261 §13.2.2.4: every 2xx is ACKed
            if ctx.offer:
                self.send_ack(dialog, request.cseq.seq, (), b"")
            else:
                dialog.ack_due = request.cseq.seq  # the TU answers in the ACK (send_ack)

    def _on_timeout(self, tx: ClientTransaction, now: float) -> None:
        ctx = self._ctx.get(tx.id)
        if ctx is None:
            return
        dialog = ctx.dialog
        if dialog.pending_outgoing == tx.id:
            dialog.pending_outgoing = None
        if ctx.method == "BYE":
            self._core.end_dialog(dialog)
        if ctx.internal:
            self._refresh_failed(dialog, 408, now)
            return
        self._core.events.append(TransactionTimedOut(tx.id, dialog.id))

    def _refresh_failed(self, dialog: Dialog, status: int, now: float) -> None:
        expired = refresh_failed(self._core.timers, dialog, status, now)
        if expired is not None:
            self._core.events.append(expired)
