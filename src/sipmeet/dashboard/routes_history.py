"""Call history (``/dashboard/history``) and the Twilio set-up page (``/dashboard/twilio``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sipmeet.api.context import run_sync
from sipmeet.providers.base import Transport
from sipmeet.providers.twilio import twilio_dial_twiml
from sipmeet.providers.webhooks import webhook_url
from sipmeet.storage import CALL_RESULTS

from .core import Dashboard
from .views import HISTORY_PAGE, HistoryFilter, history_rows, sip_uri

__all__ = ["add_history_routes"]

_TRANSPORTS: dict[str, Transport] = {"udp": "udp", "tcp": "tcp", "tls": "tls"}


def add_history_routes(router: APIRouter, dash: Dashboard) -> None:
    store = dash.ctx.store

    @router.get("/history", include_in_schema=False)
    async def history_page(request: Request) -> Response:
        session = await dash.user(request)
        if session is None:
            return dash.to_login(request)
        wanted, problems = HistoryFilter.from_query(request.query_params)
        older = request.query_params.get("older", "").strip()
        older_than = int(older) if older.isdigit() else None
        # One more than a page: whether an older page exists.
        calls = await run_sync(
            lambda: store.list_calls(
                limit=HISTORY_PAGE + 1, older_than=older_than, **wanted.query()
            )
        )
        page, more = calls[:HISTORY_PAGE], len(calls) > HISTORY_PAGE
        rows = history_rows(page)
        rooms = await run_sync(store.list_rooms)
        return dash.render(
            request,
            session,
            "history.html",
            rows=rows,
            wanted=wanted,
            problems=problems,
            results=sorted(CALL_RESULTS),
            room_ids=sorted(r.room_id for r in rooms),
            older=wanted.link(page[-1].id) if more else None,
            newest=older_than is not None,
        )

    @router.get("/twilio", include_in_schema=False)
    async def twilio_page(request: Request) -> Response:
        session = await dash.user(request)
        if session is None:
            return dash.to_login(request)
        rooms = [r for r in await run_sync(store.list_rooms) if r.active]
        chosen_id = request.query_params.get("room", "").strip().lower()
        chosen = next((r for r in rooms if r.room_id == chosen_id), None)
        if chosen is None and rooms and not chosen_id:
            chosen = rooms[0]
        twiml = None
        key = None
        numbers = []
        if chosen is not None:
            key = await run_sync(store.get_api_key, chosen.api_key_id)
            if key is not None and key.sip is not None:
                transport = _TRANSPORTS.get(dash.ctx.settings.sip.provider_transport.lower())
                twiml = twilio_dial_twiml(
                    sip_uri(dash.ctx, chosen.room_id),
                    key.sip.username,
                    key.sip.password,
                    transport=transport,
                )
            numbers = [
                n
                for n in await run_sync(store.list_numbers, chosen.api_key_id)
                if n.provider == "twilio" and n.room_id == chosen.room_id
            ]
        return dash.render(
            request,
            session,
            "twilio.html",
            rooms=rooms,
            chosen=chosen,
            chosen_id=chosen_id,
            key=key,
            twiml=twiml,
            numbers=numbers,
            webhook=webhook_url(dash.ctx.settings, "twilio"),
            sip_uri=sip_uri(dash.ctx, chosen.room_id) if chosen is not None else None,
        )
