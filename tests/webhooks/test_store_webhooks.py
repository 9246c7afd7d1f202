from __future__ import annotations

from collections.abc import Mapping

import pytest

from sipmeet.storage import ApiKey, NotFound, Store
from sipmeet.storage.records import Webhook


def payload(hook: Webhook) -> Mapping[str, object]:
    return {"id": f"evt_for_{hook.id}"}


def test_create_list_delete(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "https://example.com/h", ["dtmf", "dtmf"], "whsec_1")
    assert (hook.url, hook.events, hook.active, hook.secret) == (
        "https://example.com/h",
        ("dtmf",),
        True,
        "whsec_1",
    )
    assert "whsec_1" not in repr(hook)
    assert store.list_webhooks(key.id) == [hook]
    assert store.get_webhook(hook.id) == hook
    other = store.create_api_key("other")
    assert not store.delete_webhook(other.id, hook.id)
    assert store.delete_webhook(key.id, hook.id)
    assert store.list_webhooks(key.id) == []
    assert store.get_webhook(hook.id) is None
    with pytest.raises(NotFound, match="no such API key: nope"):
        store.create_webhook("nope", "https://example.com/h", [], "whsec_1")


def test_enqueue_goes_to_the_webhooks_that_want_the_event(store: Store, key: ApiKey) -> None:
    every = store.create_webhook(key.id, "https://a.example/h", [], "s1")
    dtmf_only = store.create_webhook(key.id, "https://b.example/h", ["dtmf"], "s2")
    other = store.create_api_key("other")
    store.create_webhook(other.id, "https://c.example/h", [], "s3")
    ids = store.enqueue_webhook_event(key.id, "participant-joined", payload)
    assert len(ids) == 1
    assert [d.payload for d in store.list_webhook_deliveries(every.id)] == [
        {"id": f"evt_for_{every.id}"}
    ]
    assert store.list_webhook_deliveries(dtmf_only.id) == []
    assert len(store.enqueue_webhook_event(key.id, "dtmf", payload)) == 2
    assert store.count_webhook_deliveries() == {"pending": 3, "delivered": 0, "failed": 0}


def test_claim_leases_and_attempts_are_recorded(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "https://a.example/h", [], "s1")
    (delivery_id,) = store.enqueue_webhook_event(key.id, "dtmf", payload)
    (due,) = store.claim_webhook_deliveries(10, lease_s=60)
    assert (due.id, due.url, due.secret, due.event, due.attempts) == (
        delivery_id,
        "https://a.example/h",
        "s1",
        "dtmf",
        0,
    )
    assert store.claim_webhook_deliveries(10, lease_s=60) == []  # leased
    assert (
        store.record_webhook_attempt(
            delivery_id, status_code=500, error="HTTP 500", delivered=False, retry_in_s=0.0
        )
        == "pending"
    )
    (again,) = store.claim_webhook_deliveries(10, lease_s=60)
    assert again.attempts == 1
    assert (
        store.record_webhook_attempt(
            delivery_id, status_code=204, error=None, delivered=True, retry_in_s=None
        )
        == "delivered"
    )
    (record,) = store.list_webhook_deliveries(hook.id)
    assert (record.status, record.attempts, record.last_status_code, record.last_error) == (
        "delivered",
        2,
        204,
        None,
    )
    assert record.delivered_at is not None and record.next_attempt_at is None
    assert store.next_webhook_due() is None
    assert (
        store.record_webhook_attempt(
            9999, status_code=None, error="x", delivered=False, retry_in_s=None
        )
        == "gone"
    )


def test_final_failure_and_backlog_cap(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "https://a.example/h", [], "s1")
    first, second = (
        store.enqueue_webhook_event(key.id, "dtmf", payload, max_pending=2)[0] for _ in range(2)
    )
    assert store.enqueue_webhook_event(key.id, "dtmf", payload, max_pending=2) == []
    store.record_webhook_attempt(
        first, status_code=None, error="timed out", delivered=False, retry_in_s=None
    )
    newest, *_ = store.list_webhook_deliveries(hook.id)
    assert (newest.status, newest.last_error, newest.attempts) == (
        "failed",
        "delivery queue full",
        0,
    )
    assert store.count_webhook_deliveries() == {"pending": 1, "delivered": 0, "failed": 2}
    assert second in [d.id for d in store.list_webhook_deliveries(hook.id, limit=3)]
    assert store.next_webhook_due() is not None


def test_deleting_the_key_removes_its_webhooks(store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "https://a.example/h", [], "s1")
    store.enqueue_webhook_event(key.id, "dtmf", payload)
    assert store.delete_api_key(key.id)
    assert store.get_webhook(hook.id) is None
    assert store.count_webhook_deliveries() == {"pending": 0, "delivered": 0, "failed": 0}
