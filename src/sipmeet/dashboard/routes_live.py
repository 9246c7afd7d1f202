"""Live calls: ``/dashboard/live`` (polls ``/dashboard/live.json``), hang up and mute."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .core import PREFIX, Dashboard, secure_headers
from .views import live_snapshot

__all__ = ["POLL_INTERVAL_MS", "add_live_routes"]

log = logging.getLogger(__name__)

LIVE = f"{PREFIX}/live"
POLL_INTERVAL_MS = 2000


def add_live_routes(router: APIRouter, dash: Dashboard) -> None:
    @router.get("/live", include_in_schema=False)
    async def live_page(request: Request) -> Response:
        session = await dash.user(request)
        if session is None:
            return dash.to_login(request)
        return dash.render(
            request,
            session,
            "live.html",
            snapshot=live_snapshot(dash.ctx),
            poll_ms=POLL_INTERVAL_MS,
        )

    @router.get("/live.json", include_in_schema=False)
    async def live_json(request: Request) -> Response:
        if await dash.user(request) is None:
            return secure_headers(JSONResponse({"error": "login required"}, status_code=401))
        snapshot = live_snapshot(dash.ctx)
        snapshot["at"] = dash.wall_clock()
        return secure_headers(JSONResponse(snapshot))

    @router.post("/calls/{participant_id}/hangup", include_in_schema=False)
    async def hang_up(request: Request, participant_id: str) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        live = dash.ctx.live
        if live is None or not live.hang_up(participant_id, reason="removed-by-moderator"):
            return dash.failed(request, LIVE, f"No live call of {participant_id}.", 404)
        log.info("dashboard: hung up %s", participant_id)
        return dash.done(request, LIVE, "Call ended.", participantId=participant_id)

    @router.post("/calls/{participant_id}/mute", include_in_schema=False)
    async def mute(request: Request, participant_id: str) -> Response:
        got = await dash.form(request)
        if isinstance(got, Response):
            return got
        _, form = got
        muted = str(form.get("muted", "1")) not in ("0", "false", "")
        live = dash.ctx.live
        if live is None or not live.set_muted(participant_id, muted):
            return dash.failed(request, LIVE, f"No live call of {participant_id}.", 404)
        text = "Caller muted." if muted else "Caller unmuted."
        return dash.done(request, LIVE, text, participantId=participant_id, muted=muted)
