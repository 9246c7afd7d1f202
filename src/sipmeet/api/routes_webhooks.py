"""``/v2/webhooks``: the API key's webhooks (signed POSTs of room and call events) and their
recent deliveries. Managing them needs a moderator token not limited to a room.

The signing secret is returned once, when the webhook is created; see docs/webhooks.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from sipmeet.auth_tokens import TokenClaims
from sipmeet.storage import NotFound
from sipmeet.storage.records import Webhook, WebhookDelivery
from sipmeet.webhooks import WEBHOOK_EVENTS, WebhookEventName, new_secret

from .auth import Auth, require_moderator, require_unscoped
from .context import ApiContext, run_sync
from .errors import ApiError, error_responses

__all__ = ["router"]

router = APIRouter(prefix="/v2/webhooks", tags=["webhooks"])

_ERRORS = error_responses(401, 403, 422)
_MAX_URL = 2000


class CreateWebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Where events are POSTed: an http:// or https:// URL")
    events: list[WebhookEventName] | None = Field(
        default=None,
        description=f"Events to send ({', '.join(WEBHOOK_EVENTS)}); omitted or empty: all",
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str] = Field(description="Events sent; empty: all")
    active: bool
    createdAt: datetime


class CreatedWebhookOut(WebhookOut):
    secret: str = Field(description="Signing secret (X-Sipmeet-Signature); shown only once")


class WebhooksPage(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    eventId: str | None = Field(description="The body's `id`, kept across retries")
    event: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    lastStatusCode: int | None
    lastError: str | None
    createdAt: datetime
    nextAttemptAt: datetime | None
    deliveredAt: datetime | None


class DeliveriesPage(BaseModel):
    deliveries: list[DeliveryOut]


def _check(claims: TokenClaims) -> None:
    require_unscoped(claims)
    require_moderator(claims)


def valid_url(url: str) -> str:
    url = url.strip()
    if len(url) > _MAX_URL:
        raise ApiError(422, "invalid_url", f"the URL is longer than {_MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ApiError(422, "invalid_url", f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "invalid_url", "the URL must be http:// or https:// with a host")
    if any(c.isspace() for c in url):
        raise ApiError(422, "invalid_url", "the URL must not contain spaces")
    return url


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        active=hook.active,
        createdAt=hook.created_at,
    )


def _delivery_out(d: WebhookDelivery) -> DeliveryOut:
    event_id = d.payload.get("id")
    return DeliveryOut(
        id=d.id,
        eventId=event_id if isinstance(event_id, str) else None,
        event=d.event,
        status=d.status,
        attempts=d.attempts,
        lastStatusCode=d.last_status_code,
        lastError=d.last_error,
        createdAt=d.created_at,
        nextAttemptAt=d.next_attempt_at if d.status == "pending" else None,
        deliveredAt=d.delivered_at,
    )


async def _own_webhook(ctx: ApiContext, claims: TokenClaims, webhook_id: int) -> Webhook:
    hook = await run_sync(ctx.store.get_webhook, webhook_id)
    if hook is None or hook.api_key_id != claims.api_key_id:
        raise ApiError(404, "webhook_not_found", f"no such webhook: {webhook_id}")
    return hook


@router.post("", status_code=201, response_model=CreatedWebhookOut, responses=_ERRORS)
async def create_webhook(
    request: Request, claims: Auth, body: CreateWebhookRequest
) -> CreatedWebhookOut:
    """Add a webhook; the response carries its signing secret (only this once)."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    url = valid_url(body.url)
    secret = new_secret()
    try:
        hook = await run_sync(
            ctx.store.create_webhook, claims.api_key_id, url, list(body.events or ()), secret
        )
    except NotFound as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None
    return CreatedWebhookOut(**_out(hook).model_dump(), secret=hook.secret)


@router.get("", response_model=WebhooksPage, responses=_ERRORS)
async def list_webhooks(request: Request, claims: Auth) -> WebhooksPage:
    """The key's webhooks (without their secrets)."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    hooks = await run_sync(ctx.store.list_webhooks, claims.api_key_id)
    return WebhooksPage(webhooks=[_out(h) for h in hooks])


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def delete_webhook(request: Request, claims: Auth, webhook_id: int) -> Response:
    """Remove a webhook and its delivery log; pending deliveries are not sent."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    if not await run_sync(ctx.store.delete_webhook, claims.api_key_id, webhook_id):
        raise ApiError(404, "webhook_not_found", f"no such webhook: {webhook_id}")
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveriesPage,
    responses=error_responses(401, 403, 404, 422),
)
async def list_deliveries(
    request: Request,
    claims: Auth,
    webhook_id: int,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveriesPage:
    """The webhook's recent deliveries, newest first: status, attempts, last answer."""
    _check(claims)
    ctx: ApiContext = request.app.state.ctx
    await _own_webhook(ctx, claims, webhook_id)
    deliveries = await run_sync(ctx.store.list_webhook_deliveries, webhook_id, limit)
    return DeliveriesPage(deliveries=[_delivery_out(d) for d in deliveries])
