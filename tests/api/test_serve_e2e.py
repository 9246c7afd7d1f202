"""End to end: the real ``sipmeet serve`` answers /healthz and /v2/rooms over real HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Server, free_port

pytestmark = pytest.mark.timeout(90)

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, int]]:
    port = free_port(udp_and_tcp=False)
    server = Server(tmp_path / "data", extra_env={"SIPMEET_HTTP_PORT": str(port)})
    server.start()
    try:
        yield server, port
    finally:
        server.stop()


def _wait_healthy(base: str, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return httpx.get(f"{base}/healthz", timeout=2.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_answers_health_and_rooms(served: tuple[Server, int]) -> None:
    server, port = served
    base = f"http://127.0.0.1:{port}"
    health = _wait_healthy(base)
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"

    account = server.new_account("e2e-http")
    token = server.cli("token", "--api-key", account["apiKey"], "--mod", json_out=False)
    assert isinstance(token, str)
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{base}/v2/rooms", headers=headers, json={"customRoomId": "e2e-room"})
    assert created.status_code == 201, created.text
    assert created.json()["sipUri"] == "sip:e2e-room@127.0.0.1"
    listed = httpx.get(f"{base}/v2/rooms", headers=headers).json()
    assert [r["roomId"] for r in listed["data"]] == ["e2e-room"]
    # A room made with the command line, while the server runs, is there at once.
    cli_room = server.new_room(account["apiKey"])
    got = httpx.get(f"{base}/v2/rooms/{cli_room}", headers=headers)
    assert got.status_code == 200 and got.json()["active"] is True
    assert httpx.get(f"{base}/v2/rooms").status_code == 401
    metrics = httpx.get(f"{base}/metrics").text
    assert "sipmeet_calls_active 0.0" in metrics
    # every series the node exposes is documented, and the reference names nothing else
    families = {f.name: f.type for f in text_string_to_metric_families(metrics)}
    exposed = {name + ("_total" if kind == "counter" else "") for name, kind in families.items()}
    documented = set(re.findall(r"^\| `(sipmeet_\w+)`", METRICS_DOC.read_text(), re.M))
    assert exposed == documented

    # SIGTERM stops the HTTP side with the rest.
    assert server.proc is not None
    proc = server.proc
    server.stop()
    assert proc.returncode == 0, server.log_tail()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=1.0)
