"""SIP session timers (RFC 4028): header values, the UAS negotiation, the deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import SipParseError
from .headers import parse_params
from .message import Request, Response

__all__ = [
    "DEFAULT_MIN_SE_S",
    "IntervalTooSmall",
    "Refresher",
    "SessionExpires",
    "SessionTimer",
    "SessionTimerOffer",
    "expiry_margin_s",
    "negotiate_uas",
    "parse_min_se",
    "parse_session_expires",
    "session_from_response",
    "supports_timer",
]

DEFAULT_MIN_SE_S = 90  # RFC 4028 §4


class Refresher(Enum):
    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """RFC 4028 §4: ``Session-Expires: delta-seconds [;refresher=uac|uas]``."""

    interval_s: int
    refresher: Refresher | None = None

    def __str__(self) -> str:
        if self.refresher is None:
            return str(self.interval_s)
        return f"{self.interval_s};refresher={self.refresher.value}"


def _delta_seconds(text: str, what: str) -> int:
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        raise SipParseError(f"invalid {what} value {text!r}")
    return int(text)


def parse_session_expires(value: str) -> SessionExpires:
    head, _, params_text = value.partition(";")
    interval = _delta_seconds(head, "Session-Expires")
    if interval == 0:
        raise SipParseError("Session-Expires of zero")
    params = parse_params(params_text) if params_text else {}
    raw = params.get("refresher")
    refresher: Refresher | None = None
    if raw is not None:
        try:
            refresher = Refresher(raw.lower())
        except ValueError:
            raise SipParseError(f"invalid refresher {raw!r}") from None
    return SessionExpires(interval, refresher)


def parse_min_se(value: str) -> int:
    """RFC 4028 §5: ``Min-SE: delta-seconds *(;generic-param)``."""
    return _delta_seconds(value.partition(";")[0], "Min-SE")


def supports_timer(request: Request | Response) -> bool:
    """Whether the sender listed ``timer`` in Supported or Require."""
    names = request.headers.get_list("Supported") + request.headers.get_list("Require")
    return any(n.strip().lower() == "timer" for n in names)


@dataclass(frozen=True, slots=True)
class IntervalTooSmall:
    """Answer 422 with ``Min-SE: min_se_s`` (RFC 4028 §9)."""

    min_se_s: int


@dataclass(frozen=True, slots=True)
class SessionTimerOffer:
    """What a UAS puts in its 2xx: ``Session-Expires`` and, when the UAC supports the
    extension, ``Require: timer``."""

    interval_s: int
    refresher: Refresher
    uac_supports_timer: bool

    @property
    def header(self) -> SessionExpires:
        return SessionExpires(self.interval_s, self.refresher)


def negotiate_uas(
    request: Request, *, preferred_s: int, min_se_s: int
) -> SessionTimerOffer | IntervalTooSmall:
    """RFC 4028 §9 for a session refresh or initial INVITE/UPDATE we received.

    A Session-Expires below our ``min_se_s`` is refused (422). Otherwise the interval is
    the smaller of the request's and ``preferred_s``, never below either side's Min-SE.
    The refresher is the request's choice, else the UAC when it supports timers (so the
    peer keeps the session alive), else us. Raises :class:`SipParseError` for malformed
    headers.
    """
    uac_timer = supports_timer(request)
    se_value = request.headers.get("Session-Expires")
    se = parse_session_expires(se_value) if se_value is not None else None
    min_se_value = request.headers.get("Min-SE")
    request_min = parse_min_se(min_se_value) if min_se_value is not None else DEFAULT_MIN_SE_S
    if se is not None and se.interval_s < min_se_s:
        return IntervalTooSmall(min_se_s)
    floor = max(request_min, min_se_s)
    interval = preferred_s if se is None else min(se.interval_s, preferred_s)
    interval = max(interval, floor)
    if not uac_timer:
        refresher = Refresher.UAS
    elif se is not None and se.refresher is not None:
        refresher = se.refresher
    else:
        refresher = Refresher.UAC
    return SessionTimerOffer(interval, refresher, uac_timer)


def session_from_response(response: Response) -> SessionExpires | None:
    """The session a 2xx to our refresh request set up (None: no session timer)."""
    value = response.headers.get("Session-Expires")
    if value is None:
        return None
    return parse_session_expires(value)


def expiry_margin_s(interval_s: float) -> float:
    """RFC 4028 §10: act ``min(32, SE/3)`` seconds before the session would expire."""
    return min(32.0, interval_s / 3)


@dataclass(frozen=True, slots=True)
class SessionTimer:
    """A dialog's running session timer."""

    interval_s: int
    local_refresher: bool  # we send the refreshes
    refreshed_at: float
    expires_at: float  # SessionExpired is emitted here (expiry minus the margin)
    refresh_at: float | None  # when we refresh (local refresher only)

    @classmethod
    def start(cls, interval_s: int, local_refresher: bool, now: float) -> SessionTimer:
        return cls(
            interval_s=interval_s,
            local_refresher=local_refresher,
            refreshed_at=now,
            expires_at=now + interval_s - expiry_margin_s(interval_s),
            refresh_at=now + interval_s / 2 if local_refresher else None,
        )
