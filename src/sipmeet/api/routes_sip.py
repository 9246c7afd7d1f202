"""``/v2/sip``: the API key's SIP access (digest credentials callers use to dial its rooms).

Key-wide and sensitive (the password is shown): needs a moderator token not limited to a room.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from sipmeet.auth_tokens import TokenClaims
from sipmeet.storage import NotFound, SipCredentials

from .auth import Auth, require_moderator, require_unscoped
from .context import ApiContext, run_sync
from .errors import ApiError, error_responses
from .schemas import RotateSipRequest, SipCredentialsOut, SipStatusOut

__all__ = ["router"]

router = APIRouter(prefix="/v2/sip", tags=["sip"])

_ERRORS = error_responses(401, 403, 422)


def _check(claims: TokenClaims) -> None:
    require_unscoped(claims)
    require_moderator(claims)


def _pattern(ctx: ApiContext) -> str:
    return f"sip:<roomId>@{ctx.settings.sip.domain}"


def _credentials_out(ctx: ApiContext, creds: SipCredentials) -> SipCredentialsOut:
    return SipCredentialsOut(
        username=creds.username,
        password=creds.password,
        domain=ctx.settings.sip.domain,
        sipUriPattern=_pattern(ctx),
        previousPasswordValidUntil=creds.previous_valid_until,
    )


@router.get("", response_model=SipStatusOut, responses=_ERRORS)
async def sip_status(request: Request, claims: Auth) -> SipStatusOut:
    """Whether SIP is enabled for the key, and its username (not the password)."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    try:
        status = await run_sync(ctx.store.sip_status, claims.api_key_id)
    except NotFound as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    return SipStatusOut(
        enabled=status.enabled,
        username=status.username if status.enabled else None,
        domain=ctx.settings.sip.domain,
        sipUriPattern=_pattern(ctx),
        createdAt=status.created_at,
        rotatedAt=status.rotated_at,
        previousPasswordValidUntil=status.previous_valid_until,
    )


@router.post("/enable", response_model=SipCredentialsOut, responses=_ERRORS)
async def enable_sip(request: Request, claims: Auth) -> SipCredentialsOut:
    """Enable SIP (idempotent: an enabled key keeps its credentials); returns them."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    try:
        creds = await run_sync(ctx.store.enable_sip, claims.api_key_id)
    except NotFound as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    return _credentials_out(ctx, creds)


@router.post(
    "/rotate", response_model=SipCredentialsOut, responses=error_responses(401, 403, 409, 422)
)
async def rotate_sip(
    request: Request, claims: Auth, body: RotateSipRequest | None = None
) -> SipCredentialsOut:
    """A new password; the old one keeps working ``graceSeconds`` more (default: stops now)."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    grace_s = body.graceSeconds if body is not None else 0
    try:
        creds = await run_sync(ctx.store.rotate_sip, claims.api_key_id, grace_s=grace_s)
    except NotFound as exc:
        raise ApiError(409, "sip_not_enabled", str(exc)) from None
    return _credentials_out(ctx, creds)


@router.post("/disable", response_model=SipStatusOut, responses=_ERRORS)
async def disable_sip(request: Request, claims: Auth) -> SipStatusOut:
    """Disable SIP: the credentials stop working on the next INVITE."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    try:
        await run_sync(ctx.store.disable_sip, claims.api_key_id)
    except NotFound as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    return await sip_status(request, claims)
