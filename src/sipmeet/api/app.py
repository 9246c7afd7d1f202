"""The FastAPI application: REST API under ``/v2``, ``/healthz``, ``/metrics``; OpenAPI at
``/openapi.json`` with the interactive documentation at ``/docs``."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sipmeet import __version__

from . import (
    routes_calls,
    routes_numbers,
    routes_rooms,
    routes_sessions,
    routes_sip,
    routes_webhooks,
)
from .context import ApiContext
from .errors import install_error_handlers
from .health import HealthOut, run_checks
from .metrics import CONTENT_TYPE, Metrics

__all__ = ["create_app"]

_DESCRIPTION = """\
Rooms, sessions, participants, SIP access and live phone calls of an API key.

Authenticate with `Authorization: <JWT>` (or `Bearer <JWT>`): an HS256 token signed with the
API key's secret, with the claims `apikey`, `permissions` (`allow_join`, `allow_mod`), an
optional `roomId` that limits it to one room, `iat` and `exp` (`sipmeet token` prints one).
Errors are JSON `{"code": "...", "message": "..."}` with a stable `code`.
"""


def create_app(ctx: ApiContext, *, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """A new app over ``ctx``; each app has its own metrics registry. ``routers`` are mounted
    as well (e.g. the meeting page and its WebRTC signalling)."""
    app = FastAPI(
        title="sipmeet",
        version=__version__,
        description=_DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    metrics = Metrics()
    app.state.ctx = ctx
    app.state.metrics = metrics
    if ctx.rooms is not None:
        app.state.unsubscribe = ctx.rooms.subscribe(metrics.on_room_event)
    install_error_handlers(app)
    for module in (
        routes_rooms,
        routes_sessions,
        routes_sip,
        routes_calls,
        routes_webhooks,
        routes_numbers,
    ):
        app.include_router(module.router)
    for router in routers:
        app.include_router(router)

    @app.get(
        "/healthz",
        response_model=HealthOut,
        tags=["operations"],
        responses={503: {"model": HealthOut, "description": "a check failed"}},
    )
    async def healthz(request: Request) -> JSONResponse:
        """Liveness and readiness: SIP listening, RTP ports free, database answering."""
        result = await run_checks(ctx)
        status = 200 if result.status == "ok" else 503
        return JSONResponse(result.model_dump(exclude_none=True), status_code=status)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
    )
    async def prometheus(request: Request) -> Response:
        """Prometheus text exposition of this node's figures."""
        return Response(await metrics.render(ctx), media_type=CONTENT_TYPE)

    return app
