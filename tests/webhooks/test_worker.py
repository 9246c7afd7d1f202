"""The delivery worker against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sipmeet.rooms.events import DtmfPressed, ParticipantJoined
from sipmeet.storage import ApiKey, Store
from sipmeet.storage.records import WebhookDelivery
from sipmeet.webhooks import RetryPolicy, WebhookEvent, WebhookWorker, verify_signature

from .conftest import Receiver

FAST = RetryPolicy(max_attempts=8, base_s=0.05, max_delay_s=0.2, jitter=0.0)


@asynccontextmanager
async def running(store: Store, **kwargs: object) -> AsyncIterator[WebhookWorker]:
    options: dict[str, object] = {"policy": FAST, "timeout_s": 2.0, "idle_poll_s": 0.5}
    options.update(kwargs)
    worker = WebhookWorker(store, {"room-a": "KEY"}.get, **options)  # type: ignore[arg-type]
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def deliveries(store: Store, webhook_id: int) -> list[WebhookDelivery]:
    return store.list_webhook_deliveries(webhook_id)


async def test_delivers_signed_events(store: Store, key: ApiKey, receiver: Receiver) -> None:
    hook = store.create_webhook(key.id, receiver.url, [], "whsec_x")
    worker = WebhookWorker(store, {"room-a": key.id}.get, policy=FAST)
    await worker.start()
    try:
        worker.on_room_event(ParticipantJoined("room-a", "p1", "sip", "Alice", "+***67"))
        await until(lambda: len(receiver.requests) >= 2)
        await until(lambda: all(d.status == "delivered" for d in deliveries(store, hook.id)))
    finally:
        await worker.stop()
    events = [str(r.json()["event"]) for r in receiver.requests]
    assert sorted(events) == ["participant-joined", "session-started"]
    for request in receiver.requests:
        assert request.method == "POST" and request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        body = request.json()
        assert request.headers["x-sipmeet-event"] == body["event"]
        assert body["apiKey"] == key.id
        assert str(body["id"]).startswith("evt_")
        signature = request.headers["x-sipmeet-signature"]
        assert verify_signature("whsec_x", request.body, signature, time.time())
        assert not verify_signature("whsec_y", request.body, signature, time.time())
    joined = next(r.json() for r in receiver.requests if r.json()["event"] == "participant-joined")
    assert joined["data"] == {
        "roomId": "room-a",
        "participantId": "p1",
        "kind": "sip",
        "displayName": "Alice",
        "maskedNumber": "+***67",
    }
    assert len({r.json()["id"] for r in receiver.requests}) == 2


async def test_500_twice_then_200_is_three_attempts(
    store: Store, key: ApiKey, receiver: Receiver
) -> None:
    receiver.script = [500, 500, 200]
    hook = store.create_webhook(key.id, receiver.url, ["dtmf"], "whsec_x")
    async with running(store) as worker:
        worker.publish(WebhookEvent("dtmf", key.id, {"digit": "1"}, time.time()))
        await until(lambda: [d.status for d in deliveries(store, hook.id)] == ["delivered"])
        (delivery,) = deliveries(store, hook.id)
        assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (3, 200, None)
        assert worker.failures == 2 and worker.attempts == 3
    assert len(receiver.requests) == 3
    # Retries carry the same event id (receivers can drop duplicates), each freshly signed.
    assert len({r.json()["id"] for r in receiver.requests}) == 1
    assert all(
        verify_signature("whsec_x", r.body, r.headers["x-sipmeet-signature"], time.time())
        for r in receiver.requests
    )
    # Backoff: the retries waited 0.05 s, then 0.1 s.
    times = [r.at for r in receiver.requests]
    assert times[1] - times[0] >= 0.045 and times[2] - times[1] >= 0.095, times


async def test_gives_up_after_max_attempts(store: Store, key: ApiKey, receiver: Receiver) -> None:
    receiver.script = [503]
    hook = store.create_webhook(key.id, receiver.url, [], "whsec_x")
    async with running(store, policy=RetryPolicy(max_attempts=3, base_s=0.02, jitter=0.0)) as w:
        w.publish(WebhookEvent("dtmf", key.id, {}, time.time()))
        await until(lambda: [d.status for d in deliveries(store, hook.id)] == ["failed"])
    (delivery,) = deliveries(store, hook.id)
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        3,
        503,
        "HTTP 503",
    )
    assert len(receiver.requests) == 3


async def test_hanging_receiver_times_out_without_blocking_the_loop(
    store: Store, key: ApiKey, receiver: Receiver
) -> None:
    receiver.script = [None]
    hook = store.create_webhook(key.id, receiver.url, [], "whsec_x")
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    policy = RetryPolicy(max_attempts=2, base_s=0.05, jitter=0.0)
    try:
        async with running(store, policy=policy, timeout_s=0.5) as worker:
            started = time.monotonic()
            for digit in "123":
                worker.publish(WebhookEvent("dtmf", key.id, {"digit": digit}, time.time()))
            assert time.monotonic() - started < 0.01  # publishing never waits
            await until(lambda: [d.status for d in deliveries(store, hook.id)] == ["failed"] * 3)
            assert worker.failures == 6
    finally:
        tick.cancel()
    for delivery in deliveries(store, hook.id):
        assert (delivery.attempts, delivery.last_status_code) == (2, None)
        assert delivery.last_error == "timed out after 0.5 s"
    assert len(receiver.requests) == 6
    assert gaps and max(gaps) < 0.25, max(gaps)


async def test_network_error_is_retried(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "http://127.0.0.1:9/nothing-listens", [], "s")
    async with running(store, policy=RetryPolicy(max_attempts=2, base_s=0.02, jitter=0.0)) as w:
        w.publish(WebhookEvent("dtmf", key.id, {}, time.time()))
        await until(lambda: [d.status for d in deliveries(store, hook.id)] == ["failed"])
    (delivery,) = deliveries(store, hook.id)
    assert delivery.attempts == 2 and delivery.last_status_code is None
    assert delivery.last_error is not None and "ConnectError" in delivery.last_error


async def test_pending_deliveries_resume_after_a_restart(
    store: Store, key: ApiKey, receiver: Receiver
) -> None:
    receiver.script = [None]
    hook = store.create_webhook(key.id, receiver.url, [], "whsec_x")
    async with running(store, timeout_s=5.0) as worker:
        worker.publish(WebhookEvent("dtmf", key.id, {"digit": "9"}, time.time()))
        await asyncio.wait_for(receiver.arrived.wait(), 5)
    # Stopped mid-attempt: still pending; make it due now (the lease would hold it ~35 s).
    (delivery,) = deliveries(store, hook.id)
    assert delivery.status == "pending"
    store.record_webhook_attempt(
        delivery.id, status_code=None, error="stopped", delivered=False, retry_in_s=0.0
    )
    receiver.script = [None, 200]
    async with running(store):
        await until(lambda: [d.status for d in deliveries(store, hook.id)] == ["delivered"])
    assert [r.json()["data"] for r in receiver.requests] == [{"digit": "9"}] * 2


async def test_events_queued_at_stop_are_saved(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "http://127.0.0.1:9/x", [], "s")
    worker = WebhookWorker(store, {"room-a": key.id}.get)
    await worker.start()
    worker.on_room_event(DtmfPressed("room-a", "p1", "4", "rfc4733"))
    await worker.stop()  # before the intake task ran
    (delivery,) = deliveries(store, hook.id)
    assert (delivery.event, delivery.status, delivery.attempts) == ("dtmf", "pending", 0)


async def test_full_queue_drops_and_counts(store: Store, key: ApiKey) -> None:
    worker = WebhookWorker(store, {"room-a": key.id}.get, intake_size=2)
    for digit in "1234":
        worker.publish(WebhookEvent("dtmf", key.id, {"digit": digit}, time.time()))
    assert (worker.dropped, worker.failures) == (2, 2)


async def test_dead_receiver_backlog_is_bounded(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "http://127.0.0.1:9/x", [], "s")
    slow = RetryPolicy(max_attempts=8, base_s=60.0, jitter=0.0)
    async with running(store, policy=slow, max_pending=2) as worker:
        for digit in "12345":
            worker.publish(WebhookEvent("dtmf", key.id, {"digit": digit}, time.time()))
        await until(lambda: len(deliveries(store, hook.id)) == 5)
    statuses = sorted(d.status for d in deliveries(store, hook.id))
    assert statuses == ["failed"] * 3 + ["pending"] * 2
