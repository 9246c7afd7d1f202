"""RFC 4028 session refresh in a dialog: the refresh and expiry timers, and what to send.

:mod:`.session_timer` negotiates the interval and the refresher; this module runs the
outcome on a dialog. It arms :attr:`DialogTimer.SESSION_REFRESH` (only when we are the
refresher) and :attr:`DialogTimer.SESSION_EXPIRY`, picks the refresh request when the
refresh timer fires, and decides what a failed refresh means. Sending the request is
the caller's (the UAC half of the endpoint).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from .dialog import Dialog, DialogTimer
from .events import SessionExpired
from .session_timer import SessionTimer
from .timers import TimerKey, TimerQueue

__all__ = [
    "RefreshRequest",
    "arm_session",
    "expire_session",
    "refresh_failed",
    "refresh_request",
    "stop_session",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    """The in-dialog request that refreshes the session."""

    method: Literal["UPDATE", "INVITE"]
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def arm_session(
    timers: TimerQueue[TimerKey],
    dialog: Dialog,
    interval_s: int,
    local_refresher: bool,
    now: float,
) -> None:
    """Start (or restart, after a refresh) the session of ``dialog`` at ``now``."""
    session = SessionTimer.start(interval_s, local_refresher, now)
    dialog.session = session
    timers.set((dialog, DialogTimer.SESSION_EXPIRY), session.expires_at)
    if session.refresh_at is not None:
        timers.set((dialog, DialogTimer.SESSION_REFRESH), session.refresh_at)
    else:
        timers.cancel((dialog, DialogTimer.SESSION_REFRESH))


def stop_session(timers: TimerQueue[TimerKey], dialog: Dialog) -> None:
    """The dialog no longer runs a session timer."""
    dialog.session = None
    timers.cancel((dialog, DialogTimer.SESSION_EXPIRY))
    timers.cancel((dialog, DialogTimer.SESSION_REFRESH))


def refresh_request(
    timers: TimerQueue[TimerKey], dialog: Dialog, now: float, *, retry_s: float
) -> RefreshRequest | None:
    """RFC 4028 §7.4 when we are the refresher: UPDATE if the peer allows it, else a
    re-INVITE repeating our last SDP unchanged (RFC 3264 §8: same version).

    None when nothing is to be sent now: no session, the dialog is ending, or an offer
    exchange is pending (then the refresh is retried ``retry_s`` later, if that is still
    before the expiry).
    """
    session = dialog.session
    if session is None or dialog.terminating or dialog.terminated:
        return None
    if dialog.pending_outgoing is not None or dialog.pending_incoming is not None:
        retry = now + retry_s
        if retry < session.expires_at:
            timers.set((dialog, DialogTimer.SESSION_REFRESH), retry)
        return None
    allow = dialog.remote_allow
    if allow is not None and "UPDATE" in allow:
        return RefreshRequest("UPDATE")
    if dialog.local_sdp is not None:
        content_type, body = dialog.local_sdp
        return RefreshRequest("INVITE", (("Content-Type", content_type),), body)
    logger.info("cannot refresh session of %s: no UPDATE and no SDP", dialog.id)
    return None


def refresh_failed(
    timers: TimerQueue[TimerKey], dialog: Dialog, status: int, now: float
) -> SessionExpired | None:
    """Our refresh got a final non-2xx ``status`` (408 for a timeout).

    Returns the event to report when the session is over; otherwise retries once half
    the remaining time has passed (when more than a second remains to wait).
    """
    if dialog.session is None or dialog.terminated:
        return None
    if status in (408, 481):  # RFC 5057: the dialog is gone
        stop_session(timers, dialog)
        return SessionExpired(dialog.id)
    retry = now + (dialog.session.expires_at - now) / 2
    if retry - now > 1.0:
        timers.set((dialog, DialogTimer.SESSION_REFRESH), retry)
    return None


def expire_session(timers: TimerQueue[TimerKey], dialog: Dialog) -> SessionExpired | None:
    """RFC 4028 §10: the expiry timer fired without a refresh; None if no session runs."""
    if dialog.session is None:
        return None
    stop_session(timers, dialog)
    return SessionExpired(dialog.id)
