"""Token checks and the error shape: 401 for bad tokens, 403 for scope/permission, JSON errors."""

from __future__ import annotations

import time

import httpx
import jwt

from sipmeet.auth_tokens import create_token
from sipmeet.storage import ApiKey

from .conftest import auth


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert body["message"]


async def test_missing_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/v2/rooms")
    _error(r, 401, "missing_token")
    assert r.headers["www-authenticate"] == "Bearer"


async def test_bearer_and_bare_tokens_both_work(client: httpx.AsyncClient, key: ApiKey) -> None:
    token = auth(key)["Authorization"]
    assert (await client.get("/v2/rooms", headers={"Authorization": token})).status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v2/rooms", headers=bearer)).status_code == 200


async def test_malformed_tokens(client: httpx.AsyncClient) -> None:
    for value in ("garbage", "Bearer ", "Bearer a b", "a.b.c", "Basic dXNlcjpwYXNz"):
        r = await client.get("/v2/rooms", headers={"Authorization": value})
        _error(r, 401, "invalid_token")


async def test_expired_token(client: httpx.AsyncClient, key: ApiKey) -> None:
    token = create_token(key.id, key.secret, ttl_s=60, now=time.time() - 120)
    _error(await client.get("/v2/rooms", headers={"Authorization": token}), 401, "token_expired")


async def test_forged_and_wrong_key_tokens(
    client: httpx.AsyncClient, key: ApiKey, other_key: ApiKey
) -> None:
    forged = create_token(key.id, "not-the-secret-" + "x" * 32)
    _error(await client.get("/v2/rooms", headers={"Authorization": forged}), 401, "invalid_token")
    # Signed with another key's secret while claiming this key.
    wrong = create_token(key.id, other_key.secret)
    _error(await client.get("/v2/rooms", headers={"Authorization": wrong}), 401, "invalid_token")
    unknown = create_token("nosuchkey", key.secret)
    _error(await client.get("/v2/rooms", headers={"Authorization": unknown}), 401, "invalid_token")
    # alg=none is never accepted.
    claims = {"apikey": key.id, "permissions": ["allow_join"], "iat": 1, "exp": 2**40}
    unsigned = jwt.encode(claims, "", algorithm="none")
    _error(await client.get("/v2/rooms", headers={"Authorization": unsigned}), 401, "invalid_token")


async def test_auth_failures_are_counted(client: httpx.AsyncClient) -> None:
    await client.get("/v2/rooms", headers={"Authorization": "x.y.z"})
    text = (await client.get("/metrics")).text
    assert "sipmeet_api_auth_failures_total 1.0" in text


async def test_unknown_route_and_method(client: httpx.AsyncClient, key: ApiKey) -> None:
    _error(await client.get("/v2/nothing-here"), 404, "not_found")
    _error(await client.delete("/v2/rooms", headers=auth(key)), 405, "method_not_allowed")


async def test_validation_errors_are_422_invalid_request(
    client: httpx.AsyncClient, key: ApiKey
) -> None:
    h = auth(key)
    _error(await client.get("/v2/rooms?perPage=0", headers=h), 422, "invalid_request")
    _error(await client.get("/v2/rooms?page=x", headers=h), 422, "invalid_request")
    r = await client.post("/v2/rooms/deactivate", headers=h, content=b"{not json")
    _error(r, 422, "invalid_request")
    r = await client.post("/v2/rooms/deactivate", headers=h, json={"room": "x"})
    _error(r, 422, "invalid_request")
    r = await client.post("/v2/calls/p1/mute", headers=h, json={"muted": "loud"})
    _error(r, 422, "invalid_request")
