"""``/v2/webhooks`` over the real app and store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sipmeet.api import ApiContext, create_app
from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings
from sipmeet.storage import ApiKey, Store
from sipmeet.storage.records import Webhook


@pytest.fixture
async def client(settings: Settings, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiContext(settings=settings, store=store))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def auth(key: ApiKey, *, moderator: bool = True, room_id: str | None = None) -> dict[str, str]:
    return {"Authorization": create_token(key.id, key.secret, moderator=moderator, room_id=room_id)}


async def test_create_list_delete(client: httpx.AsyncClient, store: Store, key: ApiKey) -> None:
    r = await client.post(
        "/v2/webhooks",
        json={"url": "https://example.com/hook", "events": ["participant-joined", "dtmf"]},
        headers=auth(key),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["url"] == "https://example.com/hook"
    assert created["events"] == ["participant-joined", "dtmf"]
    assert created["active"] is True
    assert created["secret"].startswith("whsec_")
    stored = store.get_webhook(created["id"])
    assert stored is not None and stored.secret == created["secret"]

    r = await client.get("/v2/webhooks", headers=auth(key))
    assert r.status_code == 200
    (listed,) = r.json()["webhooks"]
    assert listed["id"] == created["id"] and "secret" not in listed

    r = await client.post("/v2/webhooks", json={"url": "http://10.0.0.1:8080/x"}, headers=auth(key))
    assert r.status_code == 201 and r.json()["events"] == []

    r = await client.delete(f"/v2/webhooks/{created['id']}", headers=auth(key))
    assert r.status_code == 204
    r = await client.delete(f"/v2/webhooks/{created['id']}", headers=auth(key))
    assert (r.status_code, r.json()["code"]) == (404, "webhook_not_found")
    assert len(store.list_webhooks(key.id)) == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "example.com/hook",
        "https://",
        "http://exa mple.com/",
        "http://h:99999/",
    ],
)
async def test_bad_urls_are_refused(client: httpx.AsyncClient, key: ApiKey, url: str) -> None:
    r = await client.post("/v2/webhooks", json={"url": url}, headers=auth(key))
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_url", r.json()


async def test_bad_event_names_are_refused(client: httpx.AsyncClient, key: ApiKey) -> None:
    r = await client.post(
        "/v2/webhooks", json={"url": "https://e.com/", "events": ["nope"]}, headers=auth(key)
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")


async def test_moderator_and_unscoped_token_needed(
    client: httpx.AsyncClient, store: Store, key: ApiKey
) -> None:
    body = {"url": "https://example.com/hook"}
    r = await client.post("/v2/webhooks", json=body, headers=auth(key, moderator=False))
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    r = await client.get("/v2/webhooks", headers=auth(key, room_id="abcd-efgh-ijkl"))
    assert (r.status_code, r.json()["code"]) == (403, "room_out_of_scope")
    r = await client.get("/v2/webhooks")
    assert r.status_code == 401


async def test_other_keys_webhooks_are_invisible(
    client: httpx.AsyncClient, store: Store, key: ApiKey
) -> None:
    other = store.create_api_key("other")
    hook = store.create_webhook(other.id, "https://o.example/h", [], "s")
    assert (await client.get("/v2/webhooks", headers=auth(key))).json() == {"webhooks": []}
    r = await client.get(f"/v2/webhooks/{hook.id}/deliveries", headers=auth(key))
    assert r.status_code == 404
    r = await client.delete(f"/v2/webhooks/{hook.id}", headers=auth(key))
    assert r.status_code == 404
    assert store.get_webhook(hook.id) is not None


async def test_deliveries(client: httpx.AsyncClient, store: Store, key: ApiKey) -> None:
    hook = store.create_webhook(key.id, "https://a.example/h", [], "s")

    def payload(h: Webhook) -> dict[str, object]:
        return {"id": "evt_1", "event": "dtmf"}

    (first,) = store.enqueue_webhook_event(key.id, "dtmf", payload)
    store.record_webhook_attempt(
        first, status_code=500, error="HTTP 500", delivered=False, retry_in_s=1.0
    )
    store.enqueue_webhook_event(key.id, "participant-left", payload)
    r = await client.get(f"/v2/webhooks/{hook.id}/deliveries", headers=auth(key))
    assert r.status_code == 200
    newest, oldest = r.json()["deliveries"]
    assert newest["event"] == "participant-left" and newest["attempts"] == 0
    assert {k: oldest[k] for k in ("eventId", "event", "status", "attempts")} == {
        "eventId": "evt_1",
        "event": "dtmf",
        "status": "pending",
        "attempts": 1,
    }
    assert (oldest["lastStatusCode"], oldest["lastError"]) == (500, "HTTP 500")
    assert oldest["nextAttemptAt"] is not None and oldest["deliveredAt"] is None
    r = await client.get(f"/v2/webhooks/{hook.id}/deliveries?limit=1", headers=auth(key))
    assert len(r.json()["deliveries"]) == 1
    r = await client.get(f"/v2/webhooks/{hook.id}/deliveries?limit=0", headers=auth(key))
    assert r.status_code == 422
