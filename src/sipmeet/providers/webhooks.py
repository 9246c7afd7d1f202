"""``POST /providers/{twilio|telnyx|plivo}/voice``: a provider asks what to do with a call.

The answer dials the room's SIP URI with the room's API key's SIP credentials, in the
provider's markup. Steps, in order:

1. Read the called number (``To``) from the form (JSON too for Telnyx) and look up its route.
   An unknown number gets the spoken apology (nothing secret is in it).
2. Check the provider's signature with the number's auth token: 403 when it is missing or wrong,
   and also when the number has no token to check with (the answer would carry a password).
3. Route: the room must exist and be active, and the key must have SIP enabled; otherwise
   the apology. Numbers for the dial-in menu (``ivr``) answer with the menu's gather steps
   (:mod:`.menu`) until the caller has keyed in a room's code (and PIN), then dial that room.

A provider speaks whatever 200 answer it gets, so every failure after the signature check is
the apology with status 200, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from sipmeet.config import Settings
from sipmeet.storage import Store
from sipmeet.storage.records import PROVIDERS, PhoneNumber, Provider

from . import plivo, telnyx, twilio
from .base import Params, Transport, last_value
from .menu import menu_step

__all__ = ["ProviderContext", "create_provider_router", "webhook_url"]

log = logging.getLogger(__name__)

XML_MEDIA_TYPE = "application/xml"


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What the provider webhooks need from the node."""

    settings: Settings
    store: Store
    transport: Transport | None = None
    """SIP transport providers should dial with (``;transport=`` on the URI); None: their default."""
    clock: Callable[[], float] = time.time
    """Unix time, for Telnyx's signed timestamps."""
    telnyx_tolerance_s: float = telnyx.TOLERANCE_S


def webhook_url(settings: Settings, provider: Provider) -> str:
    """The voice webhook URL to configure at the provider (signatures are checked against it)."""
    return f"{settings.public_url.rstrip('/')}/providers/{provider}/voice"


@dataclass(frozen=True, slots=True)
class _Call:
    """One webhook request, read once."""

    url: str  # as the provider requested it, under our public URL
    body: bytes
    params: Params
    headers: dict[str, str]  # lowercased names


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _parse_params(body: bytes, content_type: str, *, allow_json: bool) -> Params:
    """Form parameters (or, where allowed, a flat JSON object) as name -> values."""
    if allow_json and content_type.split(";")[0].strip().lower() == "application/json":
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): [v if isinstance(v, str) else json.dumps(v)]
            for k, v in data.items()
            if v is not None
        }
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return _grouped(parse_qsl(text, keep_blank_values=True))


def _signature_ok(ctx: ProviderContext, provider: Provider, token: str, call: _Call) -> bool:
    h = call.headers
    if provider == "twilio":
        return twilio.twilio_signature_valid(
            token,
            call.url,
            call.params,
            h.get(twilio.SIGNATURE_HEADER.lower()),
            signature_settings=h.get(twilio.SIGNATURE_SETTINGS_HEADER.lower()),
        )
    if provider == "telnyx":
        return telnyx.telnyx_signature_valid(
            token,
            call.body,
            h.get(telnyx.SIGNATURE_HEADER),
            h.get(telnyx.TIMESTAMP_HEADER),
            now=ctx.clock(),
            tolerance_s=ctx.telnyx_tolerance_s,
        )
    return plivo.plivo_signature_valid(
        token,
        call.url,
        call.params,
        h.get(plivo.NONCE_HEADER.lower()),
        h.get(plivo.SIGNATURE_HEADER.lower()),
    )


def _dial(provider: Provider, uri: str, user: str, password: str, t: Transport | None) -> str:
    if provider == "twilio":
        return twilio.twilio_dial_twiml(uri, user, password, transport=t)
    if provider == "telnyx":
        return telnyx.telnyx_dial_texml(uri, user, password, transport=t)
    return plivo.plivo_dial_xml(uri, user, password, transport=t)


def _apology(provider: Provider) -> Response:
    if provider == "twilio":
        markup = twilio.twilio_apology_twiml()
    elif provider == "telnyx":
        markup = telnyx.telnyx_apology_texml()
    else:
        markup = plivo.plivo_apology_xml()
    return Response(markup, media_type=XML_MEDIA_TYPE)


def _forbidden() -> Response:
    return Response("invalid webhook signature\n", status_code=403, media_type="text/plain")


def _route(
    ctx: ProviderContext,
    provider: Provider,
    number: PhoneNumber,
    query: dict[str, str],
    params: Params,
) -> str | None:
    """The markup for a verified call to ``number``, or None (with the reason logged)."""
    room_id = number.room_id
    if number.ivr:
        base = webhook_url(ctx.settings, provider)
        markup, room_id = menu_step(
            ctx.store, provider, number, base, query, last_value(params, "Digits")
        )
        if room_id is None:
            return markup
    if room_id is None:
        return None
    room = ctx.store.get_room(room_id)
    if room is None or not room.active:
        log.info("%s call to %s: room %s is not active", provider, number.number, number.room_id)
        return None
    creds = ctx.store.sip_credentials(number.api_key_id)
    if creds is None:
        log.info("%s call to %s: SIP is disabled for its API key", provider, number.number)
        return None
    uri = f"sip:{room.room_id}@{ctx.settings.sip.domain}"
    log.info("%s call to %s: dialling %s", provider, number.number, uri)
    return _dial(provider, uri, creds.username, creds.password, ctx.transport)


async def _answer(ctx: ProviderContext, provider: Provider, request: Request) -> Response:
    body = await request.body()
    params = _parse_params(
        body, request.headers.get("content-type", ""), allow_json=provider == "telnyx"
    )
    url = webhook_url(ctx.settings, provider)
    if request.url.query:
        url += "?" + request.url.query
    headers = {name.lower(): value for name, value in request.headers.items()}
    call = _Call(url, body, params, headers)

    called = last_value(params, "To")
    if called is None:
        log.info("%s webhook without a called number (To)", provider)
        return _apology(provider)
    number = await asyncio.to_thread(ctx.store.number_for, provider, called)
    if number is None:
        log.info("%s call to an unknown number", provider)
        return _apology(provider)
    if number.auth_token is None:
        log.warning(
            "%s call to %s refused: the number has no auth token to check signatures with "
            "(add one with `sipmeet numbers add ... --auth-token`)",
            provider,
            number.number,
        )
        return _forbidden()
    if not _signature_ok(ctx, provider, number.auth_token, call):
        log.warning("%s call to %s refused: bad webhook signature", provider, number.number)
        return _forbidden()
    query = dict(parse_qsl(request.url.query))
    markup = await asyncio.to_thread(_route, ctx, provider, number, query, params)
    if markup is None:
        return _apology(provider)
    return Response(markup, media_type=XML_MEDIA_TYPE)


def create_provider_router(ctx: ProviderContext) -> APIRouter:
    """The voice webhooks of the three providers, to mount on the HTTP app."""
    router = APIRouter(prefix="/providers", tags=["providers"])

    def endpoint(provider: Provider) -> Callable[[Request], Awaitable[Response]]:
        async def voice(request: Request) -> Response:
            try:
                return await _answer(ctx, provider, request)
            except Exception:
                # The caller hears the apology; we keep the traceback.
                log.exception("%s voice webhook failed", provider)
                return _apology(provider)

        voice.__name__ = f"{provider}_voice"
        return voice

    for provider in PROVIDERS:
        router.add_api_route(
            f"/{provider}/voice",
            endpoint(provider),
            methods=["POST"],
            response_class=Response,
            summary=f"{provider.capitalize()} voice webhook: dial the number's meeting room",
            responses={
                200: {"content": {XML_MEDIA_TYPE: {}}},
                403: {"description": "bad signature"},
            },
        )
    return router
