"""Webhook signatures: ``X-Sipmeet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The HMAC key is the webhook's secret (UTF-8) and the message is ``"<t>.<body>"``: the timestamp,
a dot, and the raw request body. Receivers recompute it, compare in constant time and reject
timestamps too far from their clock (replays). Sans-IO: the time is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

__all__ = [
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "compute_signature",
    "new_secret",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Sipmeet-Signature"
EVENT_HEADER = "X-Sipmeet-Event"
SECRET_PREFIX = "whsec_"


def new_secret(token: Callable[[int], str] = secrets.token_urlsafe) -> str:
    """A fresh signing secret (``whsec_`` and 32 random bytes, URL-safe base64)."""
    return SECRET_PREFIX + token(32)


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` keyed with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, now: float) -> str:
    """The ``X-Sipmeet-Signature`` value for ``body`` sent at ``now`` (Unix seconds)."""
    timestamp = int(now)
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def verify_signature(
    secret: str, body: bytes, header: str, now: float, *, tolerance_s: float = 300.0
) -> bool:
    """True when ``header`` carries a ``v1`` signature of ``body`` with ``secret`` and a
    timestamp within ``tolerance_s`` of ``now``."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        return False
    expected = compute_signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
