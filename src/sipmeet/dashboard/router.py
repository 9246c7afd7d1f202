"""``create_dashboard_router``: the admin dashboard under ``/dashboard``."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

from sipmeet.api.context import ApiContext

from .core import PREFIX, Dashboard
from .passwords import Passwords, ensure_admin
from .ratelimit import LoginRateLimiter
from .routes_auth import add_auth_routes
from .routes_history import add_history_routes
from .routes_keys import add_key_routes
from .routes_live import add_live_routes
from .routes_rooms import add_room_routes
from .sessions import SessionSigner

__all__ = ["SESSION_KEY_PURPOSE", "create_dashboard_router"]

SESSION_KEY_PURPOSE = "dashboard-session"
_STATIC = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def create_dashboard_router(
    ctx: ApiContext,
    *,
    passwords: Passwords | None = None,
    limiter: LoginRateLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The dashboard's routes over ``ctx``. Creates the ``admin`` account on first start (its
    password the ``admin.password`` setting, else random and logged once). Sessions are signed
    with a key derived from the master key."""
    passwords = passwords or Passwords()
    ensure_admin(ctx.store, passwords, ctx.settings.admin.password)
    dash = Dashboard(
        ctx,
        passwords=passwords,
        signer=SessionSigner(ctx.store.derive_key(SESSION_KEY_PURPOSE), clock=clock),
        limiter=limiter or LoginRateLimiter(),
        wall_clock=clock,
    )
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    add_auth_routes(router, dash)
    add_key_routes(router, dash)
    add_room_routes(router, dash)
    add_live_routes(router, dash)
    add_history_routes(router, dash)
    assets = {name: _static(name) for name in _STATIC}

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in assets:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(
            assets[name],
            media_type=_STATIC[name],
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    return router
