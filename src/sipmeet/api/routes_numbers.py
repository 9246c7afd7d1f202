"""``/v2/numbers``: the API key's phone numbers at trunk providers, each routed to one of its
rooms or to the dial-in menu. Managing them needs a moderator token not limited to a room.

The provider auth token (what checks the provider's webhook signatures) is write-only: the
API says whether a number has one, never what it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from sipmeet.providers.webhooks import webhook_url
from sipmeet.storage import Conflict, Invalid, NotFound
from sipmeet.storage.records import PhoneNumber
from sipmeet.storage.store import normalize_e164

from .auth import Auth, require_moderator, require_unscoped
from .context import ApiContext, run_sync
from .errors import ApiError, error_responses

__all__ = ["router"]

router = APIRouter(prefix="/v2/numbers", tags=["numbers"])

_ERRORS = error_responses(401, 403, 422)


class CreateNumberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(description="E.164, e.g. +14155550100")
    provider: Literal["twilio", "telnyx", "plivo"]
    roomId: str | None = Field(default=None, description="The room calls go to")
    ivr: bool = Field(default=False, description="Calls get the dial-in menu instead of a room")
    authToken: str | None = Field(
        default=None,
        description="Twilio/Plivo auth token or Telnyx public key, to check webhook signatures",
    )


class NumberOut(BaseModel):
    number: str
    provider: str
    roomId: str | None
    ivr: bool
    hasAuthToken: bool
    webhookUrl: str = Field(description="Set this as the number's voice webhook")
    createdAt: datetime


class NumbersPage(BaseModel):
    numbers: list[NumberOut]


def _out(request: Request, n: PhoneNumber) -> NumberOut:
    ctx: ApiContext = request.app.state.ctx
    return NumberOut(
        number=n.number,
        provider=n.provider,
        roomId=n.room_id,
        ivr=n.ivr,
        hasAuthToken=n.auth_token is not None,
        webhookUrl=webhook_url(ctx.settings, n.provider),
        createdAt=n.created_at,
    )


@router.post(
    "",
    status_code=201,
    response_model=NumberOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def add_number(request: Request, claims: Auth, body: CreateNumberRequest) -> NumberOut:
    """Route a phone number to a room of this key, or to the dial-in menu."""
    require_unscoped(claims)
    require_moderator(claims)
    ctx: ApiContext = request.app.state.ctx
    try:
        number = await run_sync(
            ctx.store.add_number,
            body.number,
            api_key_id=claims.api_key_id,
            provider=body.provider,
            room_id=body.roomId,
            ivr=body.ivr,
            auth_token=body.authToken,
        )
    except Invalid as exc:
        raise ApiError(422, "invalid_number", str(exc)) from None
    except Conflict as exc:
        raise ApiError(409, "number_exists", str(exc)) from None
    except NotFound as exc:
        raise ApiError(404, "room_not_found", str(exc)) from None
    return _out(request, number)


@router.get("", response_model=NumbersPage, responses=_ERRORS)
async def list_numbers(request: Request, claims: Auth) -> NumbersPage:
    """This key's numbers."""
    require_unscoped(claims)
    ctx: ApiContext = request.app.state.ctx
    numbers = await run_sync(ctx.store.list_numbers, claims.api_key_id)
    return NumbersPage(numbers=[_out(request, n) for n in numbers])


@router.delete("/{number}", status_code=204, responses=error_responses(401, 403, 404))
async def remove_number(request: Request, claims: Auth, number: str) -> Response:
    """Stop routing the number (at every provider it is set up for)."""
    require_unscoped(claims)
    require_moderator(claims)
    ctx: ApiContext = request.app.state.ctx
    e164 = normalize_e164(number)
    mine = await run_sync(ctx.store.list_numbers, claims.api_key_id)
    if e164 is None or not any(n.number == e164 for n in mine):
        raise ApiError(404, "number_not_found", f"no such number: {number}")
    for n in mine:
        if n.number == e164:
            await run_sync(ctx.store.remove_number, e164, n.provider)
    return Response(status_code=204)
