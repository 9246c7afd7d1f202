"""Errors of the SIP core.

::

    SipError
    ├── SipParseError          bytes that are not a valid SIP message or header value
    │   └── RemoteProtocolError a peer's message we must reject; carries the SIP status
    │                          to answer with (400, 420, 513 ...)
    └── LocalProtocolError     our own code misused the core; never reaches a peer
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "RemoteProtocolError", "SipError", "SipParseError"]


class SipError(Exception):
    """Base of every error the SIP core raises."""


class SipParseError(SipError):
    """Input that does not follow the RFC 3261 grammar."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RemoteProtocolError(SipParseError):
    """A peer's message that must be rejected with ``status`` (default 400)."""


class LocalProtocolError(SipError):
    """The core was used in a way the protocol does not allow (a bug on our side)."""
