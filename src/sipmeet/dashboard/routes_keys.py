"""API keys and their SIP credentials: ``/dashboard/keys``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sipmeet.api.context import run_sync
from sipmeet.storage import NotFound, StorageError

from .core import PREFIX, Dashboard
from .views import sip_uri

__all__ = ["MAX_GRACE_S", "add_key_routes"]

log = logging.getLogger(__name__)

KEYS = f"{PREFIX}/keys"
MAX_GRACE_S = 7 * 24 * 3600


def _grace_s(value: object) -> int | None:
    text = str(value or "0").strip() or "0"
    if not (text.isascii() and text.isdigit()):
        return None
    seconds = int(text)
    return seconds if seconds <= MAX_GRACE_S else None


def add_key_routes(router: APIRouter, dash: Dashboard) -> None:
    store = dash.ctx.store

    @router.get("/keys", include_in_schema=False)
    async def keys_page(request: Request) -> Response:
        session = await dash.user(request)
        if session is None:
            return dash.to_login(request)
        keys = await run_sync(store.list_api_keys)
        rooms = await run_sync(store.list_rooms)
        counts = {k.id: sum(1 for r in rooms if r.api_key_id == k.id and r.active) for k in keys}
        return dash.render(request, session, "keys.html", keys=keys, room_counts=counts)

    @router.post("/keys", include_in_schema=False)
    async def create_key(request: Request) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        _, form = got
        name = str(form.get("name", ""))
        try:
            key = await run_sync(store.create_api_key, name, enable_sip=bool(form.get("sip")))
        except StorageError as exc:
            return dash.failed(request, KEYS, str(exc))
        return dash.done(request, f"{KEYS}/{key.id}", f"API key {key.name!r} created.")

    @router.get("/keys/{key_id}", include_in_schema=False)
    async def key_page(request: Request, key_id: str) -> Response:
        session = await dash.user(request)
        if session is None:
            return dash.to_login(request)
        key = await run_sync(store.get_api_key, key_id)
        if key is None:
            return dash.failed(request, KEYS, f"No such API key: {key_id}", 404)
        status = await run_sync(store.sip_status, key_id)
        rooms = await run_sync(store.list_rooms, key_id)
        return dash.render(
            request,
            session,
            "key.html",
            key=key,
            sip=key.sip,
            status=status,
            rooms=rooms,
            pattern=sip_uri(dash.ctx, "<room-id>"),
            max_grace_s=MAX_GRACE_S,
        )

    @router.post("/keys/{key_id}/delete", include_in_schema=False)
    async def delete_key(request: Request, key_id: str) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        rooms = await run_sync(store.list_rooms, key_id)
        if not await run_sync(store.delete_api_key, key_id):
            return dash.failed(request, KEYS, f"No such API key: {key_id}", 404)
        if dash.ctx.live is not None:  # its rooms are gone: so are their calls
            for room in rooms:
                dash.ctx.live.end_room(room.room_id, reason="room-deactivated")
        return dash.done(request, KEYS, f"API key {key_id} deleted with its rooms.")

    @router.post("/keys/{key_id}/sip/{action}", include_in_schema=False)
    async def sip_action(request: Request, key_id: str, action: str) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        _, form = got
        page = f"{KEYS}/{key_id}"
        try:
            if action == "enable":
                await run_sync(store.enable_sip, key_id)
                message = "SIP enabled."
            elif action == "rotate":
                grace = _grace_s(form.get("grace"))
                if grace is None:
                    return dash.failed(
                        request, page, f"Grace period: 0 to {MAX_GRACE_S} whole seconds.", 422
                    )
                creds = await run_sync(store.rotate_sip, key_id, grace_s=grace)
                message = "SIP password rotated; the old one stopped working."
                if creds.previous_valid_until is not None:
                    message = (
                        "SIP password rotated; the old one works until "
                        f"{creds.previous_valid_until:%Y-%m-%d %H:%M:%S} UTC."
                    )
            elif action == "disable":
                await run_sync(store.disable_sip, key_id)
                message = "SIP disabled: calls with these credentials are refused."
            else:
                return dash.failed(request, page, f"Unknown SIP action: {action}", 404)
        except NotFound as exc:
            return dash.failed(request, page, str(exc), 404)
        except StorageError as exc:
            return dash.failed(request, page, str(exc))
        return dash.done(request, page, message)
