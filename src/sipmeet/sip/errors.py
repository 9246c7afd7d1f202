"""Errors of the SIP core.

::

    SipError
    ├── SipParseError          bytes that are not a valid SIP message or header value;
    │   │                      ``status`` is the response to answer with (400, 505, 513 ...)
    │   │                      and ``partial`` the request as far as it could be read
    │   └── RemoteProtocolError a peer's message we must reject; carries the SIP status
    │                          to answer with (400, 420, 513 ...)
    └── LocalProtocolError     our own code misused the core; never reaches a peer
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .message import Request

__all__ = ["LocalProtocolError", "RemoteProtocolError", "SipError", "SipParseError"]


class SipError(Exception):
    """Base of every error the SIP core raises."""


class SipParseError(SipError):
    """Input that does not follow the RFC 3261 grammar.

    ``status`` is the SIP status a server answers a request with (400 unless the
    grammar failure has its own code, such as 513 Message Too Large).

    ``partial`` is set by the message parser when the failure came after the
    header section could be split into lines: the request line and the header
    fields that could be read, unvalidated (values are raw text, names canonical).
    It lets a server address a 400 response to the sender (Via, From, To, Call-ID,
    CSeq). It is ``None`` for responses and when nothing usable could be read.
    """

    def __init__(self, message: str, status: int = 400, *, partial: Request | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.partial = partial


class RemoteProtocolError(SipParseError):
    """A peer's message that must be rejected with ``status`` (default 400)."""


class LocalProtocolError(SipError):
    """The core was used in a way the protocol does not allow (a bug on our side)."""
