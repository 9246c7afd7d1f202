"""Errors of the RTP core.

::

    RtpError
    └── RtpParseError     a datagram that is not a valid RTP or RTCP packet, or a
                          telephone-event payload that is too short; the message
                          says what is wrong
"""

from __future__ import annotations

__all__ = ["RtpError", "RtpParseError"]


class RtpError(Exception):
    """Base of every error the RTP core raises."""


class RtpParseError(RtpError):
    """Bytes that do not follow RFC 3550 (RTP/RTCP) or RFC 4733 (telephone-event)."""
