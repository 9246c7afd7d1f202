"""Errors of the SDP core.

::

    SdpError
    └── SdpParseError    text that is not a usable session description (RFC 8866 §9);
                         the message names the line and what is wrong with it
"""

from __future__ import annotations

__all__ = ["SdpError", "SdpParseError"]


class SdpError(Exception):
    """Base of every error the SDP core raises."""


class SdpParseError(SdpError):
    """A session description that does not follow the RFC 8866 grammar."""
