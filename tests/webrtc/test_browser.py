"""Headless Chromium (the system's) joins through the meeting page with a fake microphone."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings, Sip
from sipmeet.rooms import RoomRegistry
from sipmeet.webrtc import allow_remote_addresses, tapped_frames
from sipmeet.webrtc.routes import WebRtcContext

from .test_loopback import FakePhone
from .test_room_media import peak_hz
from .test_routes import SECRET_A, MemoryStore, serve

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed"),
]


def _tone_wav(path: Path, freq_hz: float, seconds: float = 10.0) -> Path:
    t = np.arange(int(48000 * seconds)) / 48000
    samples = (9000 * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(samples.tobytes())
    return path


async def test_chromium_joins_hears_a_phone_and_is_heard(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    wav = _tone_wav(tmp_path / "mic.wav", 700.0)
    registry = RoomRegistry()
    ctx = WebRtcContext(MemoryStore(), registry, Settings(sip=Sip(domain="meet.example")))
    phone = FakePhone("sip-1")
    registry.join("room-1", "APIa", phone)
    allow_remote_addresses(["127.0.0.1"])  # checks go to loopback only, never mDNS names
    token = create_token("APIa", SECRET_A, room_id="room-1")
    try:
        async with serve(ctx) as host, async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--use-fake-ui-for-media-stream",
                    "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-audio-capture={wav}",
                    "--allow-loopback-in-peer-connection",
                    "--disable-features=WebRtcHideLocalIpsWithMdns",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--headless=new",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            try:
                page = await browser.new_page()
                await page.goto(f"http://{host}/meet/room-1?token={token}&name=Alice")
                await page.wait_for_function(
                    "window.meeting && window.meeting.pc"
                    " && window.meeting.pc.connectionState === 'connected'",
                    timeout=20000,
                )
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
            finally:
                await browser.close()
    finally:
        allow_remote_addresses(None)
        registry.close()
