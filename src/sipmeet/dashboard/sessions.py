"""The dashboard's session cookie, CSRF tokens bound to it, and one-shot flash messages.

A session is a signed cookie (HMAC-SHA256 with a key derived from the master key), so any node
with the same master key accepts it:
``base64url(json{"sid", "user", "iat", "pw"}) "." base64url(hmac)``. ``user`` is None before
login (the login form needs a session for its CSRF token); ``pw`` is a short tag of the
administrator's password hash, so changing the password ends every other session. Logging out
revokes the session id on this node until it would have expired anyway.

A CSRF token is ``HMAC(key, "csrf|" + sid)``: valid for exactly one session, nothing to store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "COOKIE",
    "FLASH_COOKIE",
    "SESSION_MAX_AGE_S",
    "DashboardSession",
    "Flash",
    "SessionSigner",
    "password_tag",
]

COOKIE = "sipmeet_dashboard"
FLASH_COOKIE = "sipmeet_dashboard_flash"
SESSION_MAX_AGE_S = 12 * 3600
_MAX_COOKIE_CHARS = 4096


@dataclass(frozen=True, slots=True)
class DashboardSession:
    sid: str
    username: str | None  # None: not logged in yet
    issued_at: int
    password_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Flash:
    """A message shown once on the next page."""

    kind: str  # "ok" or "error"
    text: str


def password_tag(password_hash: str) -> str:
    """A short tag of a password hash: sessions made under another password no longer match."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Signs and checks session and flash cookies; ``clock`` gives Unix time."""

    def __init__(
        self,
        key: bytes,
        *,
        clock: Callable[[], float] = time.time,
        max_age_s: int = SESSION_MAX_AGE_S,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the session key must have at least 16 bytes")
        self._key = key
        self._clock = clock
        self.max_age_s = max_age_s
        self._revoked: dict[str, float] = {}  # sid -> when it would expire anyway

    # -- sessions ----------------------------------------------------------------------------

    def new(
        self, username: str | None = None, password_hash: str | None = None
    ) -> DashboardSession:
        tag = password_tag(password_hash) if password_hash is not None else None
        return DashboardSession(secrets.token_hex(16), username, int(self._clock()), tag)

    def encode(self, session: DashboardSession) -> str:
        payload = {
            "sid": session.sid,
            "user": session.username,
            "iat": session.issued_at,
            "pw": session.password_tag,
        }
        return self._sign("session", payload)

    def decode(self, value: str | None) -> DashboardSession | None:
        """The session in a cookie; None when it is missing, forged, expired or revoked."""
        payload = self._unsign("session", value)
        if payload is None:
            return None
        sid, user, issued, tag = (payload.get(k) for k in ("sid", "user", "iat", "pw"))
        if not isinstance(sid, str) or not isinstance(issued, int) or isinstance(issued, bool):
            return None
        if not (user is None or isinstance(user, str)) or not (tag is None or isinstance(tag, str)):
            return None
        now = self._clock()
        if not (issued - 60 <= now < issued + self.max_age_s) or sid in self._revoked:
            return None
        return DashboardSession(sid, user, issued, tag)

    def revoke(self, session: DashboardSession) -> None:
        now = self._clock()
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        self._revoked[session.sid] = session.issued_at + self.max_age_s

    # -- CSRF --------------------------------------------------------------------------------

    def csrf_token(self, session: DashboardSession) -> str:
        return hmac.new(self._key, f"csrf|{session.sid}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: DashboardSession, token: object) -> bool:
        if not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode(), self.csrf_token(session).encode())

    # -- flash -------------------------------------------------------------------------------

    def encode_flash(self, flash: Flash) -> str:
        return self._sign("flash", {"kind": flash.kind, "text": flash.text[:500]})

    def decode_flash(self, value: str | None) -> Flash | None:
        payload = self._unsign("flash", value)
        if payload is None:
            return None
        kind, text = payload.get("kind"), payload.get("text")
        if kind not in ("ok", "error") or not isinstance(text, str):
            return None
        return Flash(str(kind), text)

    # -- signing -----------------------------------------------------------------------------

    def _mac(self, purpose: str, body: str) -> str:
        digest = hmac.new(self._key, f"{purpose}|{body}".encode(), hashlib.sha256).digest()
        return _b64(digest)

    def _sign(self, purpose: str, payload: Mapping[str, object]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def _unsign(self, purpose: str, value: str | None) -> dict[str, object] | None:
        if not value or len(value) > _MAX_COOKIE_CHARS or not value.isascii():
            return None
        if value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        return payload if isinstance(payload, dict) else None
