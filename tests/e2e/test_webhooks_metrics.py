"""Webhooks and /metrics around a real SIPp call into the real ``sipmeet serve``.

Two webhooks of one API key: one receiver answers 200, the other always 500. One authenticated
SIPp call must reach the first with signed participant and session events, make the second see
retries, and not be affected by it; /metrics must count the call exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sipmeet.webhooks import verify_signature

from .harness import HOST, Server, free_port, run_sipp, running_server
from .store_view import StoreView

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 in a thread, answering every POST with ``status``."""

    status: int
    hits: list[Hit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{HOST}:{self.server.server_address[1]}/events"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.hits.append(Hit(headers, body, time.time()))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def events(self) -> list[dict[str, object]]:
        return [json.loads(hit.body) for hit in list(self.hits)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = str(free_port(udp_and_tcp=False))
    with running_server(
        tmp_path_factory.mktemp("webhooks-server"), {"SIPMEET_HTTP_PORT": port}
    ) as srv:
        yield srv


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    good, bad = Receiver(200), Receiver(500)
    good.start()
    bad.start()
    try:
        yield good, bad
    finally:
        good.stop()
        bad.stop()


def base_url(server: Server) -> str:
    return f"http://{HOST}:{server.env['SIPMEET_HTTP_PORT']}"


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def scrape(server: Server) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics as {sample name: {sorted labels: value}}."""
    text = httpx.get(f"{base_url(server)}/metrics", timeout=5).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def calls_by_result(
    metrics: dict[str, dict[tuple[tuple[str, str], ...], float]],
) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in metrics.get("sipmeet_calls_ended_total", {}).items():
        result = dict(labels)["result"]
        totals[result] = totals.get(result, 0.0) + value
    return totals


def test_call_drives_webhooks_and_metrics(
    server: Server,
    account: dict[str, str],
    wavs: dict[str, Path],
    receivers: tuple[Receiver, Receiver],
    tmp_path: Path,
) -> None:
    good, bad = receivers
    base = base_url(server)
    token = server.cli("token", "--api-key", account["apiKey"], "--mod", json_out=False)
    assert isinstance(token, str)
    headers = {"Authorization": token}
    wait_for(lambda: _healthy(base), 20, "the HTTP API")

    created = {}
    for name, receiver in (("good", good), ("bad", bad)):
        r = httpx.post(f"{base}/v2/webhooks", json={"url": receiver.url}, headers=headers)
        assert r.status_code == 201, r.text
        created[name] = r.json()
    room = server.new_room(account["apiKey"])
    before = calls_by_result(scrape(server))

    workdir = tmp_path / "sipp"
    workdir.mkdir()
    (workdir / "speech_pcmu.wav").write_bytes(wavs["speech_pcmu"].read_bytes())
    started = time.monotonic()
    result = run_sipp(
        "call_auth.xml",
        server.sip_port,
        workdir,
        inject=[("-", room, "-")],
        credentials=(account["username"], account["password"]),
        extra=["-d", "3000"],
        timeout_s=30,
    )
    elapsed = time.monotonic() - started
    # The failing receiver does not affect the call.
    assert result.returncode == 0, result.explain() + server.log_tail()
    assert elapsed < 15, elapsed
    with StoreView(server.data_dir) as view:
        (call,) = view.ended_calls(room)
    assert (call["result"], call["reason"]) == ("success", "caller-hangup")

    # The good receiver: the call's room events, each signed with the webhook's secret.
    wanted = ["session-started", "participant-joined", "participant-left", "session-ended"]
    wait_for(
        lambda: sorted(str(e["event"]) for e in good.events()) == sorted(wanted),
        15,
        "the four events at the good receiver",
    )
    secret = str(created["good"]["secret"])
    for hit in good.hits:
        assert verify_signature(secret, hit.body, hit.headers["x-sipmeet-signature"], time.time())
        assert not verify_signature(
            str(created["bad"]["secret"]), hit.body, hit.headers["x-sipmeet-signature"], time.time()
        )
    for hit, event in zip(good.hits, good.events(), strict=True):
        assert hit.headers["x-sipmeet-event"] == event["event"]
        assert hit.headers["content-type"] == "application/json"
        assert event["apiKey"] == account["apiKey"]
    events = {str(e["event"]): e for e in good.events()}
    joined = events["participant-joined"]["data"]
    left = events["participant-left"]["data"]
    assert isinstance(joined, dict) and isinstance(left, dict)
    assert (joined["roomId"], joined["kind"]) == (room, "sip")
    assert joined["displayName"] == "Alice Example"
    assert (left["roomId"], left["participantId"]) == (room, joined["participantId"])

    # The failing receiver: every event is retried (same id), recorded with the last answer.
    wait_for(lambda: len(bad.hits) >= 8, 15, "retries at the failing receiver")
    ids = [str(e["id"]) for e in bad.events()]
    assert len(set(ids)) < len(ids)
    r = httpx.get(f"{base}/v2/webhooks/{created['bad']['id']}/deliveries", headers=headers)
    assert r.status_code == 200
    deliveries = r.json()["deliveries"]
    assert len(deliveries) == 4
    assert all(d["status"] == "pending" and d["lastStatusCode"] == 500 for d in deliveries)
    assert max(d["attempts"] for d in deliveries) >= 2
    r = httpx.get(f"{base}/v2/webhooks/{created['good']['id']}/deliveries", headers=headers)
    assert [d["status"] for d in r.json()["deliveries"]] == ["delivered"] * 4
    assert all(d["attempts"] == 1 for d in r.json()["deliveries"])

    # /metrics: the call moved the calls counter by exactly one; webhook series are there.
    wait_for(lambda: calls_by_result(scrape(server)) != before, 10, "the calls counter")
    time.sleep(1.0)
    metrics = scrape(server)
    after = calls_by_result(metrics)
    assert after.get("success", 0) - before.get("success", 0) == 1, (before, after)
    assert sum(after.values()) - sum(before.values()) == 1, (before, after)
    assert metrics["sipmeet_webhook_failures_total"][()] >= 8
    wait_for(
        lambda: scrape(server)["sipmeet_webhook_deliveries"][(("status", "delivered"),)] >= 4,
        5,
        "delivered deliveries in /metrics",
    )


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_rejected_call_is_reported(
    server: Server, receivers: tuple[Receiver, Receiver], tmp_path: Path
) -> None:
    good, _ = receivers
    account = server.new_account("rejected")
    base = base_url(server)
    token = server.cli("token", "--api-key", account["apiKey"], "--mod", json_out=False)
    assert isinstance(token, str)
    r = httpx.post(
        f"{base}/v2/webhooks",
        json={"url": good.url, "events": ["call-rejected"]},
        headers={"Authorization": token},
    )
    assert r.status_code == 201, r.text
    room = server.new_room(account["apiKey"])
    server.cli("rooms", "deactivate", room, json_out=False)
    labels = (("reason", "room-inactive"), ("status", "480"))
    refused_before = scrape(server).get("sipmeet_calls_rejected_total", {}).get(labels, 0.0)
    result = run_sipp(
        "invite_rejected.xml",
        server.sip_port,
        tmp_path,
        inject=[("-", room, "-")],
        credentials=(account["username"], account["password"]),
        substitutions={"STATUS": "480", "CODECS": "0"},
    )
    assert result.returncode == 0, result.explain()
    wait_for(lambda: len(good.hits) >= 1, 10, "call-rejected at the receiver")
    (event,) = good.events()
    assert event["event"] == "call-rejected" and event["apiKey"] == account["apiKey"]
    data = event["data"]
    assert isinstance(data, dict)
    assert (data["roomId"], data["status"], data["reason"]) == (room, 480, "room-inactive")
    # /metrics counts the refusal (it leaves no call record) exactly once
    refused = scrape(server)["sipmeet_calls_rejected_total"]
    assert refused[labels] == refused_before + 1
    hit = good.hits[0]
    secret = str(r.json()["secret"])
    assert verify_signature(secret, hit.body, hit.headers["x-sipmeet-signature"], time.time())
