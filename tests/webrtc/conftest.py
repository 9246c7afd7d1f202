"""Shared pieces for the WebRTC tests: a scripted aiortc "browser" and a tone source."""

from __future__ import annotations

import asyncio
import fractions
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame

from sipmeet.webrtc import BrowserSession, new_peer_connection


class ToneTrack(MediaStreamTrack):
    """A microphone that plays a sine at 48 kHz in 20 ms frames, paced in real time."""

    kind = "audio"

    def __init__(self, freq_hz: float = 440.0, amplitude: int = 8000) -> None:
        super().__init__()
        self.freq_hz = freq_hz
        self.amplitude = amplitude
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._pts / 48000
        await asyncio.sleep(max(0.0, due - loop.time()))
        t = (np.arange(960) + self._pts) / 48000
        samples = (self.amplitude * np.sin(2 * np.pi * self.freq_hz * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        self._pts += 960
        return frame


class ScriptedBrowser:
    """The browser side of the signalling, wired straight to a server session."""

    def __init__(self) -> None:
        self.pc: RTCPeerConnection = new_peer_connection()
        self.session: BrowserSession | None = None
        self.messages: list[dict[str, Any]] = []
        self.tracks: dict[str, str] = {}  # mid -> participantId
        self.received: list[MediaStreamTrack] = []
        self.pc.on("track", self.received.append)

    async def deliver(self, message: dict[str, Any]) -> None:
        """The server's ``send``: handle what it says as the page's script would."""
        self.messages.append(message)
        for item in message.get("tracks", []):
            self.tracks[item["mid"]] = item["participantId"]
        if message["type"] == "offer":
            await self.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            assert self.session is not None
            await self.session.handle_answer(self.pc.localDescription.sdp)
        elif message["type"] == "answer":
            await self.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))

    async def connect(self, session: BrowserSession) -> None:
        self.session = session
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await session.handle_offer(self.pc.localDescription.sdp)
