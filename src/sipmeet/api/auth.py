"""Request authentication: ``Authorization: <JWT>`` (or ``Bearer <JWT>``) signed with the key's
secret (see `sipmeet.auth_tokens`). Bad tokens get 401; valid tokens without the permission or
out of their room scope get 403."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from sipmeet.auth_tokens import TokenClaims, TokenError, verify_token

from .context import ApiContext, run_sync
from .errors import ApiError

__all__ = ["Auth", "authenticate", "require_moderator", "require_room", "require_unscoped"]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _token_from(request: Request) -> str:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise ApiError(401, "missing_token", "send a token in the Authorization header", _CHALLENGE)
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        header = rest.strip()
    if not header or " " in header:
        raise ApiError(401, "invalid_token", "malformed Authorization header", _CHALLENGE)
    return header


# Documents the header in OpenAPI (and gives /docs its "Authorize" button); checked below.
_TOKEN_HEADER = APIKeyHeader(
    name="Authorization",
    scheme_name="token",
    description="An access token (JWT), bare or as `Bearer <JWT>`",
    auto_error=False,
)


async def authenticate(
    request: Request, _header: Annotated[str | None, Security(_TOKEN_HEADER)] = None
) -> TokenClaims:
    """FastAPI dependency: the verified claims of the request's token."""
    ctx: ApiContext = request.app.state.ctx
    token = _token_from(request)
    now = ctx.clock() if ctx.clock is not None else time.time()

    def secret_for(api_key_id: str) -> str | None:
        key = ctx.store.get_api_key(api_key_id)
        return key.secret if key is not None else None

    try:
        return await run_sync(verify_token, token, secret_for, now=now)
    except TokenError as exc:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.api_auth_failures.inc()
        expired = "expired" in str(exc)
        code = "token_expired" if expired else "invalid_token"
        raise ApiError(401, code, str(exc), _CHALLENGE) from None


Auth = Annotated[TokenClaims, Depends(authenticate)]


def require_room(claims: TokenClaims, room_id: str) -> None:
    """403 unless the token may act on ``room_id``."""
    if not claims.allows_room(room_id):
        raise ApiError(403, "room_out_of_scope", f"this token is limited to room {claims.room_id}")


def require_unscoped(claims: TokenClaims) -> None:
    """403 for tokens limited to one room (key-wide operations)."""
    if claims.room_id is not None:
        raise ApiError(
            403, "room_out_of_scope", "this operation needs a token not limited to a room"
        )


def require_moderator(claims: TokenClaims) -> None:
    if not claims.is_moderator:
        raise ApiError(403, "permission_denied", "this operation needs the allow_mod permission")
