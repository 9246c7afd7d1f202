"""Access tokens for the REST API and the meeting page: HS256 JWTs signed with an API key's secret.

Claims: ``apikey`` (the key id, which tells the verifier whose secret to check against),
``permissions`` (``"allow_join"``, plus ``"allow_mod"`` for moderators), optionally ``roomId``
(the token is then good for that room only), ``iat`` and ``exp`` (seconds since the epoch).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jwt

__all__ = [
    "ALLOW_JOIN",
    "ALLOW_MOD",
    "DEFAULT_TTL_S",
    "TokenClaims",
    "TokenError",
    "create_token",
    "unverified_api_key",
    "verify_token",
]

ALGORITHM = "HS256"
ALLOW_JOIN = "allow_join"
ALLOW_MOD = "allow_mod"
DEFAULT_TTL_S = 3600
_KNOWN_PERMISSIONS = frozenset((ALLOW_JOIN, ALLOW_MOD))


class TokenError(Exception):
    """The token is malformed, expired, unsigned by the key, or names an unknown key."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token grants."""

    api_key_id: str
    permissions: tuple[str, ...]
    room_id: str | None
    issued_at: int
    expires_at: int

    @property
    def can_join(self) -> bool:
        return ALLOW_JOIN in self.permissions

    @property
    def is_moderator(self) -> bool:
        return ALLOW_MOD in self.permissions

    def allows_room(self, room_id: str) -> bool:
        """True when the token is not limited to a room, or is limited to this one."""
        return self.room_id is None or self.room_id == room_id


def create_token(
    api_key_id: str,
    secret: str,
    *,
    room_id: str | None = None,
    ttl_s: int = DEFAULT_TTL_S,
    moderator: bool = False,
    now: float | None = None,
) -> str:
    """A signed token for the key; ``ttl_s`` seconds of validity from ``now`` (default: the clock)."""
    if ttl_s <= 0:
        raise ValueError(f"token lifetime must be positive, got {ttl_s}")
    issued = int(time.time() if now is None else now)
    permissions = [ALLOW_JOIN, ALLOW_MOD] if moderator else [ALLOW_JOIN]
    claims: dict[str, object] = {"apikey": api_key_id, "permissions": permissions}
    if room_id is not None:
        claims["roomId"] = room_id
    claims["iat"] = issued
    claims["exp"] = issued + ttl_s
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def unverified_api_key(token: str) -> str:
    """The ``apikey`` claim, read without checking the signature (to look up the secret)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(f"malformed token: {exc}") from None
    key = claims.get("apikey") if isinstance(claims, dict) else None
    if not isinstance(key, str) or not key:
        raise TokenError("token has no apikey claim")
    return key


def verify_token(
    token: str,
    secret_for: Callable[[str], str | None],
    *,
    now: float | None = None,
    leeway_s: int = 0,
) -> TokenClaims:
    """Check the signature with the secret of the key the token names, then its lifetime.

    ``secret_for(api_key_id)`` returns that key's secret, or None for an unknown key.
    """
    api_key_id = unverified_api_key(token)
    secret = secret_for(api_key_id)
    if secret is None:
        raise TokenError(f"unknown API key: {api_key_id}")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["apikey", "iat", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    issued, expires = claims["iat"], claims["exp"]
    if not (isinstance(issued, int) and isinstance(expires, int)):
        raise TokenError("invalid token: iat and exp must be integers")
    current = time.time() if now is None else now
    if current >= expires + leeway_s:
        raise TokenError("token has expired")
    if issued > current + leeway_s + 60:
        raise TokenError("token is issued in the future")
    permissions = _permissions(claims.get("permissions"))
    room_id = claims.get("roomId")
    if room_id is not None and not isinstance(room_id, str):
        raise TokenError("invalid token: roomId must be a string")
    return TokenClaims(api_key_id, permissions, room_id, issued, expires)


def _permissions(value: object) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TokenError("invalid token: permissions must be a list")
    return tuple(p for p in value if isinstance(p, str) and p in _KNOWN_PERMISSIONS)
