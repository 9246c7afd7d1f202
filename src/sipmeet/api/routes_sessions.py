"""``/v2/sessions``: periods a room had participants, and who took part (from the records of
phone calls and browser presences, with this node's live figures)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from .auth import Auth, require_room
from .context import ApiContext, run_sync
from .errors import ApiError, error_responses
from .participants import group_sessions, live_participants, parse_session_id, room_participants
from .routes_rooms import MAX_RECORDS, get_owned_room
from .schemas import ParticipantsPage, SessionsPage

__all__ = ["router"]

router = APIRouter(prefix="/v2/sessions", tags=["sessions"])


@router.get("", response_model=SessionsPage, responses=error_responses(401, 403, 404, 422))
async def list_sessions(
    request: Request,
    claims: Auth,
    roomId: Annotated[str, Query(min_length=1, max_length=200)],
) -> SessionsPage:
    """The room's sessions, newest first."""
    require_room(claims, roomId)
    ctx: ApiContext = request.app.state.ctx
    room = await get_owned_room(ctx, claims.api_key_id, roomId)
    records = await run_sync(
        ctx.store.list_calls, room.room_id, MAX_RECORDS, api_key_id=claims.api_key_id
    )
    live_ids = frozenset(str(c.get("callId")) for c in live_participants(ctx, room.room_id))
    sessions = group_sessions(records, live_ids)
    data = [s.out() for s in reversed(sessions)]
    return SessionsPage(data=data, total=len(data))


@router.get(
    "/{sessionId}/participants",
    response_model=ParticipantsPage,
    responses=error_responses(401, 403, 404, 422),
)
async def list_session_participants(
    request: Request, claims: Auth, sessionId: str
) -> ParticipantsPage:
    """The participants of one session (phone callers and browsers)."""
    parsed = parse_session_id(sessionId)
    if parsed is None:
        raise ApiError(404, "session_not_found", f"no such session: {sessionId}")
    room_id, _ = parsed
    require_room(claims, room_id)
    ctx: ApiContext = request.app.state.ctx
    try:
        room = await get_owned_room(ctx, claims.api_key_id, room_id)
    except ApiError:
        raise ApiError(404, "session_not_found", f"no such session: {sessionId}") from None
    records = await run_sync(
        ctx.store.list_calls, room.room_id, MAX_RECORDS, api_key_id=claims.api_key_id
    )
    live = live_participants(ctx, room.room_id)
    live_ids = frozenset(str(c.get("callId")) for c in live)
    session = next(
        (s for s in group_sessions(records, live_ids) if s.session_id == sessionId), None
    )
    if session is None:
        raise ApiError(404, "session_not_found", f"no such session: {sessionId}")
    members = sorted(session.records, key=lambda r: (r.started_at, r.id), reverse=True)
    member_ids = {r.sip_call_id for r in members}
    data = room_participants(members, [c for c in live if str(c.get("callId")) in member_ids])
    return ParticipantsPage(data=data, total=len(data))
