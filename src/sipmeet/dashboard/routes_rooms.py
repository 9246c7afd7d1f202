"""Rooms: ``/dashboard/rooms`` (list, create, deactivate, open the meeting page)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sipmeet.api.context import run_sync
from sipmeet.auth_tokens import create_token
from sipmeet.storage import StorageError

from .core import PREFIX, Dashboard
from .views import sip_uri

__all__ = ["MEETING_TOKEN_TTL_S", "add_room_routes"]

ROOMS = f"{PREFIX}/rooms"
MEETING_TOKEN_TTL_S = 4 * 3600


def add_room_routes(router: APIRouter, dash: Dashboard) -> None:
    store = dash.ctx.store

    @router.get("/rooms", include_in_schema=False)
    async def rooms_page(request: Request) -> Response:
        session = await dash.user(request)
        if session is None:
            return dash.to_login(request)
        key_filter = request.query_params.get("key") or None
        keys = await run_sync(store.list_api_keys)
        rooms = await run_sync(store.list_rooms, key_filter)
        names = {k.id: k.name for k in keys}
        live = dash.ctx.rooms
        rows = [
            {
                "room": room,
                "key_name": names.get(room.api_key_id, room.api_key_id),
                "sip_uri": sip_uri(dash.ctx, room.room_id),
                "live": len(found) if live is not None and (found := live.get(room.room_id)) else 0,
            }
            for room in sorted(rooms, key=lambda r: (not r.active, r.room_id))
        ]
        return dash.render(
            request, session, "rooms.html", rows=rows, keys=keys, key_filter=key_filter
        )

    @router.post("/rooms", include_in_schema=False)
    async def create_room(request: Request) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        _, form = got
        key_id = str(form.get("key", ""))
        room_id = str(form.get("room", "")).strip() or None
        pin = str(form.get("pin", "")).strip() or None
        try:
            room = await run_sync(store.create_room, key_id, room_id, pin=pin)
        except StorageError as exc:
            return dash.failed(request, ROOMS, str(exc))
        text = f"Room {room.room_id} created: dial {sip_uri(dash.ctx, room.room_id)}"
        if room.dialin_code:
            text += f" or key in {room.dialin_code} at the dial-in menu"
        return dash.done(request, ROOMS, text + ".", roomId=room.room_id)

    @router.post("/rooms/{room_id}/deactivate", include_in_schema=False)
    async def deactivate_room(request: Request, room_id: str) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        if not await run_sync(store.deactivate_room, room_id):
            return dash.failed(request, ROOMS, f"No such room: {room_id}", 404)
        ended = 0
        if dash.ctx.live is not None:
            ended = dash.ctx.live.end_room(room_id.lower(), reason="room-deactivated")
        calls = f"; {ended} call{'s' if ended != 1 else ''} ended" if ended else ""
        return dash.done(request, ROOMS, f"Room {room_id} deactivated{calls}.")

    @router.post("/rooms/{room_id}/open", include_in_schema=False)
    async def open_room(request: Request, room_id: str) -> Response:
        """The meeting page of the room, with a fresh moderator token of the room's key."""
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        room = await run_sync(store.get_room, room_id)
        key = await run_sync(store.get_api_key, room.api_key_id) if room is not None else None
        if room is None or key is None:
            return dash.failed(request, ROOMS, f"No such room: {room_id}", 404)
        if not room.active:
            return dash.failed(request, ROOMS, f"Room {room.room_id} is deactivated.", 409)
        token = create_token(
            key.id,
            key.secret,
            room_id=room.room_id,
            ttl_s=MEETING_TOKEN_TTL_S,
            moderator=True,
            now=dash.wall_clock(),
        )
        query = urlencode({"token": token, "name": "Dashboard"})
        return dash.redirect(f"/meet/{room.room_id}?{query}")
