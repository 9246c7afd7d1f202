"""What the UAS and UAC halves of the user agent core share (RFC 3261 §6 "User Agent Core").

:class:`UaCore` holds the endpoint's configuration, its output and event queues, the one
timer queue, the table of confirmed dialogs, and the sources of transaction ids and tags.
:mod:`.uas` (requests we receive) and :mod:`.uac` (requests we send in a dialog) both work
on it; :class:`~sipmeet.sip.endpoint.SipEndpoint` owns it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .dialog import Dialog, DialogEvent, DialogTimer
from .events import DialogId, Outgoing, SipEvent, TransactionId
from .timers import TimerConfig, TimerKey, TimerQueue

__all__ = ["HANDLED_METHODS", "EndpointConfig", "UaCore"]

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


def sip_host(host: str) -> str:
    """An IPv6 literal in brackets, as a SIP URI or Via needs it (RFC 3261 §25.1)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class UaCore:
    """Queues, timers, dialogs and identifiers of one endpoint."""

    def __init__(self, config: EndpointConfig, token: Callable[[int], str]) -> None:
        self.config = config
        self.token = token
        self.timer_config = config.timers
        self.timers: TimerQueue[TimerKey] = TimerQueue()
        self.events: deque[SipEvent] = deque()
        self.output: list[Outgoing] = []
        self.dialogs: dict[DialogId, Dialog] = {}
        self.methods = tuple(m for m in config.allow if m in HANDLED_METHODS)
        self.allow_value = ", ".join(config.allow)
        self._seq = 0

    def new_id(self, prefix: str) -> TransactionId:
        """Transaction ids, one sequence for both halves: ``s1``, ``c2``, ``s3`` ..."""
        self._seq += 1
        return TransactionId(f"{prefix}{self._seq}")

    def tag(self) -> str:
        """A From/To tag (RFC 3261 §19.3: at least 32 bits of randomness)."""
        return self.token(8)

    def contact(self, transport: str) -> str:
        """Our Contact header value for a request or response sent over ``transport``."""
        param = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{sip_host(self.config.host)}:{self.config.port}{param}>"

    def cancel_dialog_timers(self, dialog: Dialog) -> None:
        for timer in DialogTimer:
            self.timers.cancel((dialog, timer))
        dialog.ack_wait = None
        dialog.session = None

    def end_dialog(self, dialog: Dialog) -> None:
        """Stop the dialog's timers and forget it (sending nothing)."""
        self.cancel_dialog_timers(dialog)
        dialog.transition(DialogEvent.BYE)
        if self.dialogs.get(dialog.id) is dialog:
            del self.dialogs[dialog.id]
