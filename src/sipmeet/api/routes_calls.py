"""``/v2/calls``: this node's live phone calls of the key; hang up and mute (moderators)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request

from sipmeet.auth_tokens import TokenClaims

from .auth import Auth, require_moderator, require_room
from .context import ApiContext
from .errors import ApiError, error_responses
from .participants import participant_from_live
from .schemas import CallActionResult, CallsPage, LiveCallOut, MuteRequest

__all__ = ["router"]

router = APIRouter(prefix="/v2/calls", tags=["calls"])


def _visible(ctx: ApiContext, claims: TokenClaims) -> list[Mapping[str, object]]:
    if ctx.live is None:
        return []
    out = []
    for call in ctx.live.calls:
        described = call.describe()
        if described.get("apiKeyId") != claims.api_key_id:
            continue
        if not claims.allows_room(call.room_id):
            continue
        out.append(described)
    return out


def _find(ctx: ApiContext, claims: TokenClaims, participant_id: str) -> Mapping[str, object]:
    for described in _visible(ctx, claims):
        if described.get("participantId") == participant_id:
            return described
    raise ApiError(404, "call_not_found", f"no live call of participant {participant_id}")


@router.get("", response_model=CallsPage, responses=error_responses(401))
async def list_calls(request: Request, claims: Auth) -> CallsPage:
    """Live phone calls of the token's key on this node (of its room, for a room token)."""
    ctx: ApiContext = request.app.state.ctx
    data = []
    for described in _visible(ctx, claims):
        p = participant_from_live(described)
        call_id = described.get("callId")
        data.append(
            LiveCallOut(
                participantId=p.participantId,
                callId=call_id if isinstance(call_id, str) else None,
                roomId=p.roomId,
                displayName=p.displayName,
                maskedNumber=p.maskedNumber,
                codec=p.codec,
                muted=bool(p.muted),
                onHold=bool(described.get("onHold", False)),
                quality=p.quality,
            )
        )
    return CallsPage(data=data, total=len(data))


_ERRORS = error_responses(401, 403, 404, 422)


@router.post("/{participantId}/hangup", response_model=CallActionResult, responses=_ERRORS)
async def hang_up(request: Request, claims: Auth, participantId: str) -> CallActionResult:
    """End a phone participant's call (BYE)."""
    require_moderator(claims)
    ctx: ApiContext = request.app.state.ctx
    described = _find(ctx, claims, participantId)
    require_room(claims, str(described.get("roomId")))
    assert ctx.live is not None  # _find found a live call
    if not ctx.live.hang_up(participantId, reason="removed-by-moderator"):
        raise ApiError(404, "call_not_found", f"no live call of participant {participantId}")
    return CallActionResult(participantId=participantId)


@router.post("/{participantId}/mute", response_model=CallActionResult, responses=_ERRORS)
async def mute(
    request: Request, claims: Auth, participantId: str, body: MuteRequest
) -> CallActionResult:
    """Mute or unmute a phone participant (nobody hears it while muted)."""
    require_moderator(claims)
    ctx: ApiContext = request.app.state.ctx
    _find(ctx, claims, participantId)
    assert ctx.live is not None
    if not ctx.live.set_muted(participantId, body.muted):
        raise ApiError(404, "call_not_found", f"no live call of participant {participantId}")
    return CallActionResult(participantId=participantId, muted=body.muted)
