"""Headless Chromium (the system's) joins through the meeting page with a fake microphone.

Each test starts the signalling router in-process (uvicorn on 127.0.0.1) over a room with a
fake phone caller, and Debian's Chromium through Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import subprocess
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings, Sip, WebRtc
from sipmeet.rooms import RoomRegistry
from sipmeet.webrtc import allow_remote_addresses, tapped_frames
from sipmeet.webrtc.routes import WebRtcContext
from tests.chromium import CHROMIUM, media_args

from .test_loopback import FakePhone
from .test_room_media import peak_hz
from .test_routes import SECRET_A, MemoryStore, serve

TURNSERVER = Path("/usr/bin/turnserver")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]

CONNECTED_JS = (
    "window.meeting && window.meeting.pc && window.meeting.pc.connectionState === 'connected'"
)


def _tone_wav(path: Path, freq_hz: float, seconds: float = 10.0) -> Path:
    t = np.arange(int(48000 * seconds)) / 48000
    samples = (9000 * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(samples.tobytes())
    return path


@dataclass
class Lab:
    """Room ``room-1`` with a fake phone caller, its signalling context and Chromium."""

    ctx: WebRtcContext
    registry: RoomRegistry
    phone: FakePhone
    token: str
    browser: Any

    async def open(self, host: str, query: str = "", *, name: str = "Alice") -> Any:
        """A meeting page joined and connected."""
        page = await self.browser.new_page()
        await page.goto(f"http://{host}/meet/room-1?token={self.token}&name={name}{query}")
        await page.wait_for_function(CONNECTED_JS, timeout=20000)
        return page

    async def phone_hears(self, freq_hz: float, timeout_s: float = 10.0) -> float:
        """The peak frequency of what the phone hears, once it hears something."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            await asyncio.sleep(0.1)
            if len(self.phone.heard) > 25:
                heard = np.concatenate(self.phone.heard[-25:])
                if np.abs(heard).max() > 1000:
                    return peak_hz(heard, 16000)
        return 0.0


@contextlib.asynccontextmanager
async def chromium_lab(
    tmp_path: Path, tone_hz: float, *, settings: Settings | None = None, seconds: float = 10.0
) -> AsyncIterator[Lab]:
    from playwright.async_api import async_playwright

    registry = RoomRegistry()
    ctx = WebRtcContext(
        MemoryStore(), registry, settings or Settings(sip=Sip(domain="meet.example"))
    )
    phone = FakePhone("sip-1")
    registry.join("room-1", "APIa", phone)
    allow_remote_addresses(["127.0.0.1"])  # checks go to loopback only, never mDNS names
    token = create_token("APIa", SECRET_A, room_id="room-1")
    wav = _tone_wav(tmp_path / "mic.wav", tone_hz, seconds)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=media_args(wav),
            )
            try:
                yield Lab(ctx, registry, phone, token, browser)
            finally:
                await browser.close()
    finally:
        allow_remote_addresses(None)
        registry.close()


async def test_chromium_joins_hears_a_phone_and_is_heard(tmp_path: Path) -> None:
    async with chromium_lab(tmp_path, 700.0) as lab, serve(lab.ctx) as host:
        ctx, phone, token, browser = lab.ctx, lab.phone, lab.token, lab.browser
        page = await lab.open(host)
        # the page trickled its ICE candidates instead of waiting for them all
        assert await page.evaluate("window.meeting.candidatesSent") > 0
        pair = await page.evaluate(
            """async () => {
                let out = null;
                (await window.meeting.pc.getStats()).forEach((s) => {
                  if (s.type === 'candidate-pair' && s.nominated) out = s.state;
                });
                return out;
            }"""
        )
        assert pair == "succeeded"
        badge = page.locator("li[data-kind=sip] .phone")
        await badge.wait_for(timeout=5000)
        assert "+4930" in await badge.inner_text()
        assert await page.locator("#sip-uri").inner_text() == "sip:room-1@meet.example"
        # the browser receives the phone caller's own track
        stats: dict[str, Any] = {}
        for _ in range(100):
            stats = await page.evaluate(
                """async () => {
                    const out = {packets: 0, energy: 0};
                    (await window.meeting.pc.getStats()).forEach((s) => {
                      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
                        out.packets += s.packetsReceived;
                        out.energy += s.totalAudioEnergy || 0;
                      }
                    });
                    return out;
                }"""
            )
            if stats["packets"] > 50 and len(phone.heard) > 100:
                break
            await asyncio.sleep(0.1)
        assert stats["packets"] > 50 and stats["energy"] > 0
        # and the phone hears the browser's microphone (700 Hz) in its mix
        heard = np.concatenate(phone.heard[-25:])
        assert abs(peak_hz(heard, 16000) - 700.0) < 15
        # a second browser receives Alice's Opus as she sent it (forwarded, not mixed)
        bob = await browser.new_page()
        await bob.goto(f"http://{host}/meet/room-1?token={token}&name=Bob")
        alice_id = await page.evaluate("window.meeting.participantId")
        inbound = """async (who) => {
            const m = window.meeting;
            if (!m || !m.pc) return {packets: 0, energy: 0};
            const out = {packets: 0, energy: 0};
            (await m.pc.getStats()).forEach((s) => {
              if (s.type === 'inbound-rtp' && m._mids.get(s.mid) === who) {
                out.packets += s.packetsReceived;
                out.energy += s.totalAudioEnergy || 0;
              }
            });
            return out;
        }"""
        from_alice: dict[str, Any] = {}
        for _ in range(150):
            from_alice = await bob.evaluate(inbound, alice_id)
            if from_alice["packets"] > 50:
                break
            await asyncio.sleep(0.1)
        assert from_alice["packets"] > 50 and from_alice["energy"] > 0
        sfu = ctx.sfus["room-1"]
        published = next(p for p in sfu.publications.values() if p.publisher_id == alice_id)
        alice_session = ctx.sessions[alice_id]
        assert tapped_frames(alice_session._receivers[0]) == published.frames
        assert [t.packets > 0 for t in published.subscribers] == [True]
        names = await bob.evaluate(
            "[...window.meeting.participants.values()].map((p) => p.name).sort()"
        )
        assert names == ["Alice", "Bob", "phone"]
        await page.click("#leave")
        await bob.wait_for_function("window.meeting.participants.size === 2")
        await page.wait_for_function(
            "document.getElementById('status').textContent.startsWith('Left')"
        )


OUTBOUND_VIDEO_JS = """async () => {
    let out = null;
    (await window.meeting.pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out = {bytes: s.bytesSent, at: s.timestamp, target: s.targetBitrate || null};
      }
    });
    return out;
}"""


async def _sent_bps(page: Any, seconds: float) -> float:
    """Chromium's video send rate over ``seconds`` (from outbound-rtp bytesSent)."""
    first = await page.evaluate(OUTBOUND_VIDEO_JS)
    await asyncio.sleep(seconds)
    last = await page.evaluate(OUTBOUND_VIDEO_JS)
    return 8000.0 * (last["bytes"] - first["bytes"]) / (last["at"] - first["at"])


async def test_a_slow_subscriber_caps_the_browser_publisher(tmp_path: Path) -> None:
    """A subscriber's REMB reaches the publishing browser: it sends no more than that."""
    import websockets

    from sipmeet.webrtc import cap_receiver_estimates, send_bitrate_cap

    from .test_routes import WsBrowser

    async with chromium_lab(tmp_path, 500.0) as lab, serve(lab.ctx) as host:
        ctx, token = lab.ctx, lab.token
        page = await lab.open(host, "&video=1")
        await asyncio.sleep(6.0)  # the publisher ramps up on an uncapped loopback link
        free_bps = await _sent_bps(page, 2.0)
        url = f"ws://{host}/ws/rooms/room-1?token={token}"
        async with websockets.connect(url) as ws:
            slow = WsBrowser(ws)
            await slow.join("Slow", with_tone=False)
            alice_id = await page.evaluate("window.meeting.participantId")
            receiver = None
            for _ in range(250):
                receiver = next(
                    (
                        t.receiver
                        for t in slow.pc.getTransceivers()
                        if t.kind == "video"
                        and slow.tracks.get(t.mid) == alice_id
                        and t.receiver.getSynchronizationSources()
                    ),
                    None,
                )
                if receiver is not None:
                    break
                await asyncio.sleep(0.1)
            seen = [(t.kind, t.mid, t.direction) for t in slow.pc.getTransceivers()]
            assert receiver is not None, f"no video: {slow.types()} {slow.tracks} {seen}"
            cap_bps = 100_000
            cap_receiver_estimates(receiver, lambda: cap_bps)  # its own REMBs too
            for _ in range(12):  # the subscriber reports its slow link every 0.5 s
                send_bitrate_cap(receiver, cap_bps)
                await asyncio.sleep(0.5)
            capped_bps = await _sent_bps(page, 2.0)
            stats = await page.evaluate(OUTBOUND_VIDEO_JS)
            publication = next(
                p
                for p in ctx.sfus["room-1"].publications.values()
                if p.publisher_id == alice_id and p.kind == "video"
            )
            print(f"video sent: {free_bps:.0f} bit/s free, {capped_bps:.0f} capped", stats)
            assert free_bps > 2 * cap_bps, "the publisher never sent more than the cap"
            assert capped_bps < 1.5 * cap_bps
            # the subscriber's own estimator may say less than it was capped at
            assert publication.bitrate_cap is not None
            assert publication.bitrate_cap <= cap_bps
            await slow.close()


async def test_the_page_rejoins_after_a_server_restart(tmp_path: Path) -> None:
    """The signalling server goes away and comes back: the page rejoins by itself."""
    status = "document.getElementById('status').textContent"
    async with chromium_lab(tmp_path, 700.0, seconds=30.0) as lab:
        registry = lab.registry
        async with serve(lab.ctx) as host:
            port = int(host.rsplit(":", 1)[1])
            page = await lab.open(host)
            first_id = await page.evaluate("window.meeting.participantId")
        # the server is gone: the page says so and keeps trying
        await page.wait_for_function(f"{status}.includes('reconnecting')", timeout=10000)
        assert await page.locator("li[data-kind=sip]").count() == 0
        room = registry.get("room-1")
        assert room is not None and first_id not in [p.participant_id for p in room.participants]
        async with serve(lab.ctx, port=port):
            await page.wait_for_function(f"{status}.includes('reconnected')", timeout=20000)
            await page.wait_for_function(CONNECTED_JS, timeout=20000)
            second_id = await page.evaluate("window.meeting.participantId")
            assert second_id and second_id != first_id
            await page.locator("li[data-kind=sip] .phone").wait_for(timeout=5000)
            # media flows again: the phone hears the page's 700 Hz microphone
            lab.phone.heard.clear()
            assert abs(await lab.phone_hears(700.0) - 700.0) < 15
            assert sorted(p.participant_id for p in room.participants) == ["sip-1", second_id]


@pytest.mark.skipif(not TURNSERVER.exists(), reason="Debian coturn is not installed")
async def test_media_through_turn_with_the_servers_credentials(tmp_path: Path) -> None:
    """coturn on 127.0.0.1 checks the REST-API credentials sipmeet hands the page; with
    ?relay=1 the page's media goes only through the TURN relay, and the phone hears it."""
    secret = "turn-shared-secret"
    port = free_udp_port()
    relay_first = free_udp_port()
    log = tmp_path / "turnserver.log"
    turn = subprocess.Popen(
        [
            str(TURNSERVER),
            "-n",
            "--verbose",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            f"--min-port={relay_first}",
            f"--max-port={relay_first + 20}",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=sipmeet.test",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            f"--pidfile={tmp_path / 'turnserver.pid'}",
            f"--log-file={log}",
            "--simple-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    settings = Settings(
        sip=Sip(domain="meet.example"),
        webrtc=WebRtc(ice_servers=f"turn:127.0.0.1:{port}?transport=udp", turn_secret=secret),
    )
    try:
        async with (
            chromium_lab(tmp_path, 700.0, settings=settings) as lab,
            serve(lab.ctx) as host,
        ):
            page = await lab.open(host, "&relay=1")
            config = await page.evaluate("window.meeting.pc.getConfiguration()")
            assert config["iceTransportPolicy"] == "relay"
            (server,) = config["iceServers"]
            expiry, user = server["username"].split(":", 1)
            assert user == await page.evaluate("window.meeting.participantId")
            assert 0 < int(expiry) - time.time() <= 86400
            local = await page.evaluate(
                """async () => {
                    const stats = await window.meeting.pc.getStats();
                    let pair = null;
                    stats.forEach((s) => {
                      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded')
                        pair = s;
                    });
                    return pair ? stats.get(pair.localCandidateId) : null;
                }"""
            )
            assert local is not None and local["candidateType"] == "relay", local
            # the phone hears the page's 700 Hz through the relay
            assert abs(await lab.phone_hears(700.0) - 700.0) < 15
    finally:
        turn.terminate()
        try:
            turn.wait(timeout=10)
        except subprocess.TimeoutExpired:
            turn.kill()
            turn.wait()
    # coturn's own account: it authenticated the page and relayed its media
    turn_log = log.read_text(errors="replace")
    assert "ALLOCATE processed, success" in turn_log, turn_log[-3000:]


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1, below the ephemeral range, free now (with 20 more after it)."""
    for _ in range(200):
        first = random.randrange(10000, 32000)
        try:
            for port in range(first, first + 21):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free UDP ports")
