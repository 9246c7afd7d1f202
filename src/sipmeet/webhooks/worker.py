"""Background delivery of webhook events.

The event handlers (`on_room_event`, `on_call_event`) only shape the event and put it on a
bounded in-memory queue; they never wait for the database or the network. One task writes queued
events to the store as pending deliveries (one per webhook that wants the event); a dispatcher
claims due deliveries from the store and POSTs each in its own task (at most ``senders`` at a
time), with a total timeout per attempt. Failures (network errors, timeouts, non-2xx) are retried
with exponential backoff and jitter (`RetryPolicy`); every attempt is recorded on the delivery.

The store is the queue: pending deliveries survive a restart and are resumed on start, and memory
stays bounded whatever the receivers do (a webhook with too many undelivered deliveries gets new
ones recorded as failed; if the intake queue itself is full, the event is dropped and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from sipmeet import __version__
from sipmeet.bridge.results import CallEvent
from sipmeet.rooms.events import RoomEvent
from sipmeet.storage import Store
from sipmeet.storage.records import Webhook, WebhookDue

from .events import EventShaper, WebhookEvent, build_payload, encode_body, new_delivery_id
from .retry import RetryPolicy, is_success
from .signing import EVENT_HEADER, SIGNATURE_HEADER, signature_header

__all__ = ["WebhookWorker"]

log = logging.getLogger(__name__)

_random = secrets.SystemRandom()


class WebhookWorker:
    """Delivers webhook events in the background (see module docstring).

    ``api_key_for(room_id)`` names the API key of a live room (room events carry only the room).
    ``failures`` counts failed attempts and dropped events; ``delivery_counts`` is the latest
    count of deliveries by status in the store.
    """

    def __init__(
        self,
        store: Store,
        api_key_for: Callable[[str], str | None],
        *,
        policy: RetryPolicy | None = None,
        timeout_s: float = 5.0,
        senders: int = 4,
        intake_size: int = 1000,
        max_pending: int = 1000,
        idle_poll_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.policy = policy if policy is not None else RetryPolicy()
        self.timeout_s = timeout_s
        self.senders = senders
        self.max_pending = max_pending
        self.idle_poll_s = idle_poll_s
        self._wall_clock = wall_clock
        self._random = random
        self._transport = transport
        self._shaper = EventShaper(api_key_for)
        self._intake: asyncio.Queue[WebhookEvent] = asyncio.Queue(maxsize=intake_size)
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._client: httpx.AsyncClient | None = None
        self.failures = 0
        self.dropped = 0
        self.attempts = 0
        self.delivery_counts: dict[str, int] = {"pending": 0, "delivered": 0, "failed": 0}
        self._counted_at = 0.0

    # -- the event side: never blocks -------------------------------------------------------

    def on_room_event(self, event: RoomEvent) -> None:
        for shaped in self._shaper.room_event(event, self._wall_clock()):
            self.publish(shaped)

    def on_call_event(self, event: CallEvent) -> None:
        for shaped in self._shaper.call_event(event, self._wall_clock()):
            self.publish(shaped)

    def publish(self, event: WebhookEvent) -> None:
        """Queue ``event`` for delivery; when the queue is full it is dropped (and counted)."""
        try:
            self._intake.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.failures += 1
            log.warning(
                "webhook queue full: %s of API key %s dropped",
                event.name,
                event.api_key_id,
                extra={"api_key_id": event.api_key_id},
            )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the tasks; pending deliveries from an earlier run are resumed."""
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_s),
            follow_redirects=False,
            trust_env=False,
            transport=self._transport,
            headers={"User-Agent": f"sipmeet-webhooks/{__version__}"},
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run_intake()), loop.create_task(self._dispatch())]

    async def stop(self) -> None:
        """Stop sending; queued events are still written to the store (resumed on next start)."""
        for task in (*self._tasks, *self._sending):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._sending, return_exceptions=True)
        self._tasks = []
        self._sending.clear()
        leftover = []
        while not self._intake.empty():
            leftover.append(self._intake.get_nowait())
        if leftover:
            try:
                await asyncio.to_thread(self._persist, leftover)
            except Exception:
                log.exception("could not save %d webhook events", len(leftover))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- intake: events -> pending deliveries -----------------------------------------------

    def _persist(self, events: list[WebhookEvent]) -> int:
        created = 0
        for event in events:

            def payload_for(_hook: Webhook, event: WebhookEvent = event) -> dict[str, object]:
                return build_payload(event, new_delivery_id())

            created += len(
                self.store.enqueue_webhook_event(
                    event.api_key_id,
                    event.name,
                    payload_for,
                    max_pending=self.max_pending,
                    room_id=_room_of(event),
                )
            )
        return created

    async def _run_intake(self) -> None:
        while True:
            batch = [await self._intake.get()]
            while not self._intake.empty() and len(batch) < 100:
                batch.append(self._intake.get_nowait())
            try:
                if await asyncio.to_thread(self._persist, batch):
                    self._wake.set()
            except Exception:
                self.failures += len(batch)
                log.exception("could not queue %d webhook events", len(batch))

    # -- dispatch: due deliveries -> HTTP ---------------------------------------------------

    def _claim(self, limit: int) -> tuple[list[WebhookDue], float]:
        """Claimed deliveries, and how long to wait before looking again (thread side)."""
        due = self.store.claim_webhook_deliveries(limit, lease_s=self.timeout_s + 30.0)
        wait_s = self.idle_poll_s
        if len(due) < limit:
            next_due = self.store.next_webhook_due()
            if next_due is not None:
                ahead = (next_due - datetime.now(UTC)).total_seconds()
                wait_s = min(wait_s, max(ahead, 0.01))
        now = time.monotonic()
        if now - self._counted_at >= 1.0:
            self.delivery_counts = self.store.count_webhook_deliveries()
            self._counted_at = now
        return due, wait_s

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            free = self.senders - len(self._sending)
            wait_s = self.idle_poll_s
            if free > 0:
                try:
                    due, wait_s = await asyncio.to_thread(self._claim, free)
                except Exception:
                    log.exception("could not read pending webhook deliveries")
                    due = []
                for delivery in due:
                    task = loop.create_task(self._send(delivery))
                    self._sending.add(task)
                    task.add_done_callback(self._sent)
                if due and len(due) == free:
                    continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery task failed", exc_info=task.exception())

    async def _post(self, delivery: WebhookDue, body: bytes) -> tuple[int | None, str | None]:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.event,
            SIGNATURE_HEADER: signature_header(delivery.secret, body, self._wall_clock()),
        }
        try:
            async with asyncio.timeout(self.timeout_s):
                request = self._client.stream("POST", delivery.url, content=body, headers=headers)
                async with request as response:
                    return response.status_code, None
        except TimeoutError:
            return None, f"timed out after {self.timeout_s:g} s"
        except Exception as exc:  # any network or URL error is this attempt's failure
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def _send(self, delivery: WebhookDue) -> None:
        attempt = delivery.attempts + 1
        status_code, error = await self._post(delivery, encode_body(delivery.payload))
        self.attempts += 1
        delivered = status_code is not None and is_success(status_code)
        retry_in_s = None
        if not delivered:
            self.failures += 1
            if error is None:
                error = f"HTTP {status_code}"
            retry_in_s = self.policy.delay_s(attempt, self._random)
        outcome = await asyncio.to_thread(
            self.store.record_webhook_attempt,
            delivery.id,
            status_code=status_code,
            error=error,
            delivered=delivered,
            retry_in_s=retry_in_s,
        )
        if delivered:
            log.debug("webhook %d: %s delivered", delivery.webhook_id, delivery.event)
        else:
            log.info(
                "webhook %d: %s attempt %d failed (%s)%s",
                delivery.webhook_id,
                delivery.event,
                attempt,
                error,
                f", retry in {retry_in_s:.1f} s" if retry_in_s is not None else f": {outcome}",
            )


def _room_of(event: WebhookEvent) -> str | None:
    room = event.data.get("roomId")
    return room if isinstance(room, str) else None
