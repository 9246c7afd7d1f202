"""How calls end and why INVITEs are refused: values, mapped to SIP in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "CallAnswered",
    "CallEnd",
    "CallEnded",
    "CallEvent",
    "CallRejected",
    "CallResult",
    "Reject",
]


class CallResult(StrEnum):
    """The one outcome class every call ends with (metrics, logs, records read it)."""

    SUCCESS = "success"
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    UPSTREAM_ERROR = "upstream_error"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True, slots=True)
class CallEnd:
    """Why a call ended: ``result`` plus a short stable ``reason`` slug."""

    result: CallResult
    reason: str

    def __str__(self) -> str:
        return f"{self.result.value}/{self.reason}"


@dataclass(frozen=True, slots=True)
class Reject:
    """An INVITE we refuse: SIP status, reason slug, and extra header fields."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def result(self) -> CallResult:
        return (
            CallResult.SERVER_ERROR
            if self.status >= 500 and self.status != 503
            else CallResult.CLIENT_ERROR
        )

    def call_end(self) -> CallEnd:
        return CallEnd(self.result, self.reason)


# Reasons and statuses, in one table, so that the bridge never spells a status twice.
NEED_AUTH = "auth-required"
REJECTS: dict[str, Reject] = {
    "bad-credentials": Reject(403, "bad-credentials"),
    "room-not-found": Reject(404, "room-not-found"),
    "room-inactive": Reject(480, "room-inactive"),
    "no-common-codec": Reject(488, "no-common-codec"),
    "server-busy": Reject(503, "server-busy", (("Retry-After", "30"),)),
    "room-full": Reject(486, "room-full"),
    "ports-exhausted": Reject(503, "ports-exhausted", (("Retry-After", "10"),)),
    "internal-error": Reject(500, "internal-error"),
}


# Events the bridge publishes (CallManager.subscribe): what webhooks and metrics report.


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    api_key_id: str
    room_id: str
    participant_id: str
    display_name: str
    masked_number: str | None
    codec: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    api_key_id: str
    room_id: str
    participant_id: str
    result: str
    reason: str
    stats: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallRejected:
    """An INVITE refused after the digest challenge (``api_key_id`` once authenticated)."""

    call_id: str
    api_key_id: str | None
    room_id: str | None
    status: int
    reason: str


CallEvent = CallAnswered | CallEnded | CallRejected
