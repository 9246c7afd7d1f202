"""Webhooks of the API keys (or of one of their rooms) and their delivery queue: one delivery
per event and receiver, leased by a sender, retried until delivered or failed for good."""

from __future__ import annotations

import logging
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select

from .base import StoreBase, _no_key
from .errors import Invalid, NotFound
from .models import ApiKeyRow, RoomRow, WebhookDeliveryRow, WebhookRow
from .records import Webhook, WebhookDelivery, WebhookDue

__all__ = ["WebhooksMixin"]

log = logging.getLogger(__name__)


class WebhooksMixin(StoreBase):
    """Manage webhooks, queue their deliveries and record the attempts."""

    # --- webhooks ----------------------------------------------------------------------------

    def create_webhook(
        self,
        api_key_id: str,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        room_id: str | None = None,
    ) -> Webhook:
        """A new active webhook of the key; ``secret`` (which signs deliveries) is kept
        encrypted. ``events`` empty: every event."""
        if not url or len(url) > 2000:
            raise Invalid("webhook URL must be 1-2000 characters")
        if not secret:
            raise Invalid("webhook secret must not be empty")
        now = self._clock()
        names = list(dict.fromkeys(events))
        with self._session(write=True) as s:
            if s.get(ApiKeyRow, api_key_id) is None:
                raise _no_key(api_key_id)
            if room_id is not None:
                room = s.get(RoomRow, room_id)
                if room is None or room.api_key_id != api_key_id:
                    raise NotFound(f"no such room: {room_id}")
            row = WebhookRow(
                api_key_id=api_key_id,
                room_id=room_id,
                url=url,
                secret_encrypted="",
                events=names,
                active=True,
                created_at=now,
            )
            s.add(row)
            s.flush()
            row.secret_encrypted = self._box.encrypt(secret, _webhook_ctx(row.id))
            webhook = self._webhook(row, secret)
        log.info("created webhook %d of API key %s", webhook.id, api_key_id)
        return webhook

    def list_webhooks(self, api_key_id: str) -> list[Webhook]:
        query = select(WebhookRow).where(WebhookRow.api_key_id == api_key_id)
        with self._session() as s:
            return [self._webhook(row) for row in s.scalars(query.order_by(WebhookRow.id))]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        with self._session() as s:
            row = s.get(WebhookRow, webhook_id)
            return self._webhook(row) if row is not None else None

    def delete_webhook(self, api_key_id: str, webhook_id: int) -> bool:
        """Delete a webhook of the key with its deliveries; False when the key has no such one."""
        with self._session(write=True) as s:
            row = s.get(WebhookRow, webhook_id)
            if row is None or row.api_key_id != api_key_id:
                return False
            s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == row.id))
            s.delete(row)
        log.info("deleted webhook %d of API key %s", webhook_id, api_key_id)
        return True

    def enqueue_webhook_event(
        self,
        api_key_id: str,
        event: str,
        payload_for: Callable[[Webhook], Mapping[str, object]],
        *,
        max_pending: int = 1000,
        room_id: str | None = None,
    ) -> list[int]:
        """One pending delivery of ``event`` for each active webhook of the key that wants it
        (payload from ``payload_for``); returns their ids. A webhook that already has
        ``max_pending`` undelivered deliveries (a dead receiver) gets this one as failed."""
        now = self._clock()
        created: list[int] = []
        with self._session(write=True) as s:
            rows = s.scalars(
                select(WebhookRow)
                .where(WebhookRow.api_key_id == api_key_id, WebhookRow.active.is_(True))
                .order_by(WebhookRow.id)
            ).all()
            for row in rows:
                if row.events and event not in row.events:
                    continue
                if row.room_id is not None and row.room_id != room_id:
                    continue  # a room's own webhook hears only that room
                backlog = s.scalar(
                    select(func.count())
                    .select_from(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.webhook_id == row.id,
                        WebhookDeliveryRow.status == "pending",
                    )
                )
                full = int(backlog or 0) >= max_pending
                delivery = WebhookDeliveryRow(
                    webhook_id=row.id,
                    event=event,
                    payload=dict(payload_for(self._webhook(row))),
                    status="failed" if full else "pending",
                    attempts=0,
                    last_status_code=None,
                    last_error="delivery queue full" if full else None,
                    next_attempt_at=None if full else now,
                    created_at=now,
                    delivered_at=None,
                )
                s.add(delivery)
                s.flush()
                if full:
                    log.warning("webhook %d: delivery queue full, %s dropped", row.id, event)
                else:
                    created.append(delivery.id)
        return created

    def claim_webhook_deliveries(self, limit: int, *, lease_s: float) -> list[WebhookDue]:
        """Up to ``limit`` pending deliveries that are due, oldest first; each is leased (its
        next attempt moved ``lease_s`` ahead) so that no other sender takes it meanwhile."""
        if limit <= 0:
            return []
        now = self._clock()
        with self._session(write=True) as s:
            rows = s.execute(
                select(WebhookDeliveryRow, WebhookRow)
                .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                .where(
                    WebhookDeliveryRow.status == "pending",
                    WebhookDeliveryRow.next_attempt_at <= now,
                )
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(limit)
            ).all()
            due = []
            for delivery, hook in rows:
                delivery.next_attempt_at = now + timedelta(seconds=lease_s)
                due.append(
                    WebhookDue(
                        id=delivery.id,
                        webhook_id=hook.id,
                        url=hook.url,
                        secret=self._box.decrypt(hook.secret_encrypted, _webhook_ctx(hook.id)),
                        event=delivery.event,
                        payload=dict(delivery.payload),
                        attempts=delivery.attempts,
                    )
                )
            return due

    def next_webhook_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        query = select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
            WebhookDeliveryRow.status == "pending"
        )
        with self._session() as s:
            value = s.scalar(query)
        if value is not None and value.tzinfo is None:  # min() bypasses the column type
            value = value.replace(tzinfo=UTC)
        return value

    def record_webhook_attempt(
        self,
        delivery_id: int,
        *,
        status_code: int | None,
        error: str | None,
        delivered: bool,
        retry_in_s: float | None,
    ) -> str:
        """Record one attempt: delivered, or to be retried in ``retry_in_s`` seconds, or (None)
        failed for good. Returns the delivery's new status ("gone" if it was deleted)."""
        now = self._clock()
        with self._session(write=True) as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is None:
                return "gone"
            row.attempts += 1
            row.last_status_code = status_code
            row.last_error = error[:500] if error else None
            if delivered:
                row.status = "delivered"
                row.delivered_at = now
                row.next_attempt_at = None
            elif retry_in_s is not None:
                row.status = "pending"
                row.next_attempt_at = now + timedelta(seconds=retry_in_s)
            else:
                row.status = "failed"
                row.next_attempt_at = None
            return row.status

    def list_webhook_deliveries(self, webhook_id: int, limit: int = 50) -> list[WebhookDelivery]:
        """Newest first."""
        query = (
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.webhook_id == webhook_id)
            .order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id.desc())
            .limit(limit)
        )
        with self._session() as s:
            return [_delivery(row) for row in s.scalars(query)]

    def count_webhook_deliveries(self) -> dict[str, int]:
        """How many deliveries are pending, delivered and failed (for metrics)."""
        query = select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)
        with self._session() as s:
            counts = {str(status): int(n) for status, n in s.execute(query).all()}
        return {status: counts.get(status, 0) for status in ("pending", "delivered", "failed")}

    def _webhook(self, row: WebhookRow, secret: str | None = None) -> Webhook:
        if secret is None:
            secret = self._box.decrypt(row.secret_encrypted, _webhook_ctx(row.id))
        return Webhook(
            row.id,
            row.api_key_id,
            row.url,
            tuple(row.events or ()),
            row.active,
            row.created_at,
            secret,
            room_id=row.room_id,
        )


def _webhook_ctx(webhook_id: int) -> str:
    return f"webhooks.secret:{webhook_id}"


def _delivery(row: WebhookDeliveryRow) -> WebhookDelivery:
    status = row.status if row.status in ("pending", "delivered", "failed") else "failed"
    return WebhookDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event=row.event,
        payload=row.payload,
        status=typing.cast(typing.Literal["pending", "delivered", "failed"], status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )
