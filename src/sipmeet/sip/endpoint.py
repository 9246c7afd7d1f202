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

The work is split by the spec's own seams: :mod:`.uas` handles requests we receive,
:mod:`.uac` the requests we send in a dialog, :mod:`.session_refresh` the RFC 4028
timers, :mod:`.responses` the pure response-building rules, and :mod:`.ua_core` the
state they share.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence

from .dialog import Dialog, DialogTimer
from .errors import LocalProtocolError, SipParseError
from .events import Addr, DialogId, Outgoing, SipEvent, Source, TransactionId
from .message import Request, Response
from .parser import parse_message
from .session_refresh import expire_session, refresh_request
from .timers import Timer
from .transaction import ClientTransaction, ServerTransaction
from .ua_core import HANDLED_METHODS, EndpointConfig, UaCore
from .uac import UserAgentClient
from .uas import UserAgentServer

__all__ = [
    "HANDLED_METHODS",
    "Addr",
    "EndpointConfig",
    "Outgoing",
    "SipEndpoint",
    "Source",
]

logger = logging.getLogger(__name__)


class SipEndpoint:
    """One SIP user agent (UAS-side dialogs, in-dialog requests in both directions)."""

    def __init__(
        self, config: EndpointConfig, *, token: Callable[[int], str] = secrets.token_hex
    ) -> None:
        self.config = config
        self._core = UaCore(config, token)
        self._uas = UserAgentServer(self._core)
        self._uac = UserAgentClient(self._core)

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
                self._uas.on_request(msg, source, now)
            else:
                self._uac.on_response(msg, now)
        except SipParseError as exc:
            logger.debug("dropping %s from %s: %s", type(msg).__name__, source.addr, exc)

    def reject_malformed(self, exc: SipParseError, source: Source, now: float) -> None:
        """Answer a message that failed to parse with 400 (or its status) if addressable."""
        self._uas.reject_malformed(exc, source)

    def next_event(self) -> SipEvent | None:
        events = self._core.events
        return events.popleft() if events else None

    def pending_output(self) -> list[Outgoing]:
        """Drain the queue of messages to write."""
        core = self._core
        out, core.output = core.output, []
        return out

    def next_deadline(self) -> float | None:
        return self._core.timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``."""
        while (key := self._core.timers.pop_due(now)) is not None:
            owner, timer = key
            if isinstance(owner, ServerTransaction) and isinstance(timer, Timer):
                self._uas.apply(owner, owner.timer_fired(timer, now), now)
            elif isinstance(owner, ClientTransaction) and isinstance(timer, Timer):
                self._uac.apply(owner, owner.timer_fired(timer, now), now)
            elif isinstance(owner, Dialog) and isinstance(timer, DialogTimer):
                self._dialog_timer(owner, timer, now)

    def _dialog_timer(self, dialog: Dialog, timer: DialogTimer, now: float) -> None:
        core = self._core
        if timer is DialogTimer.RETRANSMIT_2XX:
            self._uas.retransmit_2xx(dialog, now)
        elif timer is DialogTimer.ACK_WAIT:
            self._uas.ack_wait_expired(dialog)
        elif timer is DialogTimer.SESSION_REFRESH:
            request = refresh_request(core.timers, dialog, now, retry_s=core.timer_config.t2_s)
            if request is not None:
                self._uac.send_in_dialog(
                    dialog, request.method, request.headers, request.body, now, internal=True
                )
        else:  # SESSION_EXPIRY
            expired = expire_session(core.timers, dialog)
            if expired is not None:
                core.events.append(expired)

    @property
    def transaction_count(self) -> int:
        return self._uas.transaction_count + self._uac.transaction_count

    @property
    def dialog_count(self) -> int:
        return len(self._core.dialogs)

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
        tx = self._uas.transaction(transaction_id)
        if tx is None:
            if self._uac.owns(transaction_id):
                raise LocalProtocolError(f"{transaction_id} is not a server transaction")
            logger.debug("respond(%s): transaction is gone", transaction_id)
            return None
        if tx.final_sent:
            logger.debug("respond(%s, %d): final response already sent", transaction_id, status)
            return None
        return self._uas.reply(tx, status, reason, headers, body, now=now)

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
        dialog = self._core.dialogs.get(dialog_id)
        if dialog is None or dialog.terminated or dialog.terminating:
            raise LocalProtocolError(f"no active dialog {dialog_id}")
        if method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{method} is not sent with send_request")
        offer = method == "INVITE" or (method == "UPDATE" and bool(body))
        if offer and (dialog.pending_outgoing is not None or dialog.pending_incoming is not None):
            raise LocalProtocolError(f"an offer/answer exchange is pending in {dialog_id}")
        return self._uac.send_in_dialog(dialog, method, headers, body, now)

    def send_ack(
        self,
        dialog_id: DialogId,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        now: float,
    ) -> None:
        """ACK the 2xx to our offerless re-INVITE (the ACK carries the SDP answer)."""
        dialog = self._core.dialogs.get(dialog_id)
        due = None if dialog is None else dialog.ack_due
        if dialog is None or due is None:
            raise LocalProtocolError(f"no 2xx awaiting an ACK in {dialog_id}")
        dialog.ack_due = None
        self._uac.send_ack(dialog, due, headers, body)

    def dialog(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog (read-only for the TU), or None once terminated."""
        return self._core.dialogs.get(dialog_id)

    def terminate(self, dialog_id: DialogId) -> None:
        """Forget a dialog without sending anything."""
        dialog = self._core.dialogs.get(dialog_id)
        if dialog is not None:
            self._core.end_dialog(dialog)
