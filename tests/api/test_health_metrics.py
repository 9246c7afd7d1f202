"""``/healthz`` and ``/metrics``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sipmeet.api import ApiContext, create_app, health
from sipmeet.config import Settings
from sipmeet.rooms.events import ParticipantJoined, ParticipantLeft
from sipmeet.storage import ApiKey, CallStart, StorageError, Store, create_store_engine
from tests.fakes import FakeCall, FakeFrameClock, FakeLive, FakeRoom, FakeRooms

from .conftest import FakePorts, SipState


async def test_healthy(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert {name: c["ok"] for name, c in body["checks"].items()} == {
        "sip": True,
        "rtpPorts": True,
        "database": True,
    }
    assert body["checks"]["rtpPorts"]["detail"] == "10 of 10 port pairs free"


async def test_unhealthy_sip_and_ports(
    client: httpx.AsyncClient, sip_state: SipState, ports: FakePorts
) -> None:
    sip_state.listening = False
    ports.in_use = ports.capacity
    r = await client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "fail" and body["code"] == "unhealthy"
    assert body["message"] == "failing checks: sip, rtpPorts"
    assert body["checks"]["database"]["ok"] is True


async def test_unhealthy_database(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise StorageError("database error: disk I/O error")

    monkeypatch.setattr(store, "ping", broken)
    r = await client.get("/healthz")
    assert r.status_code == 503
    check = r.json()["checks"]["database"]
    assert check == {"ok": False, "detail": "database error: disk I/O error"}


async def test_database_that_does_not_answer(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "DB_TIMEOUT_S", 0.05)
    monkeypatch.setattr(store, "ping", lambda: time.sleep(0.5))
    r = await client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"]["detail"] == "no answer in 0.05 s"


def test_store_ping_fails_on_an_unusable_database(store: Store, tmp_path: Path) -> None:
    store.ping()  # the real one answers
    (tmp_path / "notadb").write_bytes(b"this is not sqlite" * 100)
    engine = create_store_engine(f"sqlite:///{tmp_path / 'notadb'}")
    broken = Store(engine, store._box, store.realm)
    try:
        with pytest.raises(StorageError):
            broken.ping()
    finally:
        broken.close()


async def test_without_a_sip_side(settings: Settings, store: Store) -> None:
    app = create_app(ApiContext(settings=settings, store=store))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/healthz")
        assert r.status_code == 503
        assert set(r.json()["message"].split(": ")[1].split(", ")) == {"sip", "rtpPorts"}
        metrics = (await c.get("/metrics")).text
        assert "sipmeet_calls_active 0.0" in metrics
        assert "sipmeet_sip_auth_failures" not in metrics


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics(
    client: httpx.AsyncClient,
    key: ApiKey,
    store: Store,
    live: FakeLive,
    rooms: FakeRooms,
) -> None:
    store.create_room(key.id, "room-a")
    for result, reason in (
        ("success", "caller-hangup"),
        ("success", "caller-hangup"),
        ("client_error", "busy"),
    ):
        rid = store.record_call_start(CallStart("room-a", f"x{rid_suffix()}", "udp", key.id))
        store.record_call_end(rid, result, reason, {})
    live.live_calls += [
        FakeCall(
            "sip-1",
            "room-a",
            key.id,
            "c1",
            quality={"packets_in": 100, "packets_out": 110, "lost": 3, "jitter_ms": 2.0},
        ),
        FakeCall(
            "sip-2",
            "room-a",
            key.id,
            "c2",
            quality={"packets_in": 50, "packets_out": 40, "lost": -1, "jitter_ms": 6.0},
        ),
    ]
    rooms.rooms["room-a"] = FakeRoom("room-a", 2)
    rooms.clocks["room-a"] = FakeFrameClock(
        ticks=100, skipped=2, lateness_s_max=0.004, lateness_s_sum=0.1
    )
    for subscriber in rooms.subscribers:
        subscriber(ParticipantJoined("room-a", "sip-1", "sip", "Alice"))
        subscriber(ParticipantJoined("room-a", "w-1", "webrtc", "Bob"))
        subscriber(ParticipantLeft("room-a", "w-1", "webrtc", "left"))
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    m = _samples(r.text)
    assert m[("sipmeet_calls_active", ())] == 2
    assert m[("sipmeet_rooms_open", ())] == 1
    assert (
        m[("sipmeet_calls_ended_total", (("reason", "caller-hangup"), ("result", "success")))] == 2
    )
    assert m[("sipmeet_calls_ended_total", (("reason", "busy"), ("result", "client_error")))] == 1
    assert m[("sipmeet_sip_auth_failures_total", ())] == 3
    assert m[("sipmeet_rtp_packets", (("direction", "in"),))] == 150
    assert m[("sipmeet_rtp_packets", (("direction", "out"),))] == 150
    assert m[("sipmeet_rtp_packets_lost", ())] == 3
    assert m[("sipmeet_rtp_jitter_ms", (("stat", "max"),))] == 6.0
    assert m[("sipmeet_rtp_jitter_ms", (("stat", "mean"),))] == 4.0
    assert m[("sipmeet_mixer_ticks", ())] == 100
    assert m[("sipmeet_mixer_ticks_skipped", ())] == 2
    assert m[("sipmeet_mixer_tick_lateness_seconds", (("stat", "max"),))] == 0.004
    assert m[("sipmeet_mixer_tick_lateness_seconds", (("stat", "mean"),))] == pytest.approx(0.001)
    assert m[("sipmeet_participants_joined_total", (("kind", "sip"),))] == 1
    assert m[("sipmeet_participants_joined_total", (("kind", "webrtc"),))] == 1
    assert m[("sipmeet_participants_left_total", (("kind", "webrtc"),))] == 1


_counter = iter(range(10**6))


def rid_suffix() -> int:
    return next(_counter)


async def test_each_app_has_its_own_registry(ctx: ApiContext) -> None:
    first, second = create_app(ctx), create_app(ctx)
    assert first.state.metrics.registry is not second.state.metrics.registry
    first.state.metrics.api_auth_failures.inc()
    assert second.state.metrics.api_auth_failures._value.get() == 0
