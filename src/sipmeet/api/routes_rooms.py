"""``/v2/rooms``: create, list, read and deactivate rooms; a room's participants."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query, Request

from sipmeet.storage import Conflict, Invalid, NotFound, RoomRecord
from sipmeet.webhooks import new_secret

from .auth import Auth, require_moderator, require_room, require_unscoped
from .context import ApiContext, run_sync
from .errors import ApiError, error_responses
from .participants import live_participants, room_participants
from .routes_webhooks import valid_url
from .schemas import (
    CreateRoomRequest,
    DeactivateRoomRequest,
    ParticipantsPage,
    RoomOut,
    RoomsPage,
)

__all__ = ["get_owned_room", "room_out", "router"]

router = APIRouter(prefix="/v2/rooms", tags=["rooms"])

MAX_RECORDS = 10_000  # call records read for one room's participants


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def room_out(ctx: ApiContext, room: RoomRecord) -> RoomOut:
    live = ctx.rooms.get(room.room_id) if ctx.rooms is not None else None
    return RoomOut(
        roomId=room.room_id,
        sipUri=f"sip:{room.room_id}@{ctx.settings.sip.domain}",
        active=room.active,
        createdAt=room.created_at,
        deactivatedAt=room.deactivated_at,
        liveParticipants=len(live) if live is not None else 0,
        dialinCode=room.dialin_code,
        hasPin=room.has_pin,
    )


async def get_owned_room(ctx: ApiContext, api_key_id: str, room_id: str) -> RoomRecord:
    """The room if it belongs to the key; 404 otherwise (another key's room is not revealed)."""
    room = await run_sync(ctx.store.get_room, room_id)
    if room is None or room.api_key_id != api_key_id:
        raise ApiError(404, "room_not_found", f"no such room: {room_id}")
    return room


def _encode_cursor(room_id: str) -> str:
    return base64.urlsafe_b64encode(room_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_request", "cursor: not a cursor from this API") from None


_ROOM_ERRORS = error_responses(401, 403, 404, 422)


@router.post(
    "", status_code=201, response_model=RoomOut, responses=error_responses(401, 403, 409, 422)
)
async def create_room(
    request: Request, claims: Auth, body: CreateRoomRequest | None = None
) -> RoomOut:
    """Create a room of the token's API key (optionally with a chosen id)."""
    require_unscoped(claims)
    ctx = _ctx(request)
    custom = body.customRoomId if body is not None else None
    pin = body.pin if body is not None else None
    hook_url = valid_url(body.webhook) if body is not None and body.webhook else None
    try:
        room = await run_sync(ctx.store.create_room, claims.api_key_id, custom, pin=pin)
    except Invalid as exc:
        code = "invalid_pin" if "PIN" in str(exc) else "invalid_room_id"
        raise ApiError(422, code, str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, "room_exists", str(exc)) from None
    except NotFound as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    out = room_out(ctx, room)
    if hook_url is not None:
        hook = await run_sync(
            ctx.store.create_webhook,
            claims.api_key_id,
            hook_url,
            (),
            new_secret(),
            room_id=room.room_id,
        )
        out.webhookId, out.webhookSecret = hook.id, hook.secret
    return out


@router.get("", response_model=RoomsPage, responses=error_responses(401, 422))
async def list_rooms(
    request: Request,
    claims: Auth,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    perPage: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> RoomsPage:
    """The key's rooms, oldest first: by ``page``/``perPage``, or after a ``cursor``."""
    ctx = _ctx(request)
    rooms = await run_sync(ctx.store.list_rooms, claims.api_key_id)
    if claims.room_id is not None:
        rooms = [r for r in rooms if r.room_id == claims.room_id]
    if cursor is not None:
        after = _decode_cursor(cursor)
        ids = [r.room_id for r in rooms]
        start = ids.index(after) + 1 if after in ids else len(ids)
        shown_page = None
    else:
        start = (page - 1) * perPage
        shown_page = page
    chunk = rooms[start : start + perPage]
    more = start + perPage < len(rooms)
    return RoomsPage(
        data=[room_out(ctx, r) for r in chunk],
        total=len(rooms),
        page=shown_page,
        perPage=perPage,
        nextCursor=_encode_cursor(chunk[-1].room_id) if chunk and more else None,
    )


@router.post("/deactivate", response_model=RoomOut, responses=_ROOM_ERRORS)
async def deactivate_room(request: Request, claims: Auth, body: DeactivateRoomRequest) -> RoomOut:
    """Deactivate a room: new calls get 480 and its phone callers are hung up."""
    require_room(claims, body.roomId)
    require_moderator(claims)
    ctx = _ctx(request)
    room = await get_owned_room(ctx, claims.api_key_id, body.roomId)
    await run_sync(ctx.store.deactivate_room, room.room_id)
    if ctx.live is not None:
        ctx.live.end_room(room.room_id, reason="room-deactivated")
    updated = await run_sync(ctx.store.get_room, room.room_id)
    return room_out(ctx, updated or room)


@router.get("/{roomId}", response_model=RoomOut, responses=_ROOM_ERRORS)
async def get_room(request: Request, claims: Auth, roomId: str) -> RoomOut:
    require_room(claims, roomId)
    ctx = _ctx(request)
    return room_out(ctx, await get_owned_room(ctx, claims.api_key_id, roomId))


@router.get("/{roomId}/participants", response_model=ParticipantsPage, responses=_ROOM_ERRORS)
async def list_room_participants(request: Request, claims: Auth, roomId: str) -> ParticipantsPage:
    """The room's participants (phone callers and browsers), live ones first, then past ones
    (newest first)."""
    require_room(claims, roomId)
    ctx = _ctx(request)
    room = await get_owned_room(ctx, claims.api_key_id, roomId)
    records = await run_sync(
        ctx.store.list_calls, room.room_id, MAX_RECORDS, api_key_id=claims.api_key_id
    )
    data = room_participants(records, live_participants(ctx, room.room_id))
    return ParticipantsPage(data=data, total=len(data))
