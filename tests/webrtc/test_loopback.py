"""Two aiortc peers as browsers and a phone participant in one room, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import fractions
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack
from av import VideoFrame

from sipmeet.rooms import ParticipantKind, Room, RoomRegistry
from sipmeet.webrtc import BrowserSession, RoomSfu, WebRtcParticipant, tapped_frames

from .conftest import ScriptedBrowser, ToneTrack


class FakePhone:
    kind: ParticipantKind = "sip"
    masked_number: str | None = "+4930*****12"
    display_name = "phone"

    def __init__(self, pid: str) -> None:
        self.participant_id = pid
        self.muted = False
        self.rate_hz = 8000
        self.room_rate = 8000
        self.heard: list[np.ndarray] = []
        self._n = 0

    def set_room_rate(self, rate_hz: int) -> None:
        self.room_rate = rate_hz

    def pull_frame(self, now: float) -> np.ndarray | None:
        size = self.room_rate // 50
        t = (np.arange(size) + self._n) / self.room_rate
        self._n += size
        return (6000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        self.heard.append(frame.copy())


async def _until(predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_browser_audio_reaches_phone_and_other_browser_without_reencode() -> None:
    registry = RoomRegistry()
    phone = FakePhone("p1")
    room: Room = registry.join("room-1", "key", phone)
    sfu = RoomSfu(room)
    browsers: list[ScriptedBrowser] = []
    sessions: list[BrowserSession] = []
    try:
        for name in ("a", "b"):
            browser = ScriptedBrowser()
            if name == "a":
                browser.pc.addTrack(ToneTrack(440.0))
            else:
                browser.pc.addTransceiver("audio", direction="recvonly")
            participant = WebRtcParticipant(name, name.upper())
            session = BrowserSession(participant, sfu, browser.deliver)
            registry.join("room-1", "key", participant)
            await browser.connect(session)
            browsers.append(browser)
            sessions.append(session)

        a, b = sessions
        # b hears a's microphone and the phone, a hears the phone
        await _until(lambda: set(browsers[1].tracks.values()) == {"a", "p1"})
        await _until(lambda: set(browsers[0].tracks.values()) == {"p1"})
        publication = next(p for p in sfu.publications.values() if p.publisher_id == "a")
        await _until(lambda: publication.frames > 50 and len(phone.heard) > 50)
        # what b's sender sent is exactly what a published, frame for frame: no re-encode
        forwarded = [s.track for s in b._slots if s.track.publication is publication]
        assert forwarded and forwarded[0].packets > 20
        assert tapped_frames(a._receivers[0]) == publication.frames
        # the phone hears a's 440 Hz tone in its mix (room at 16 kHz while a browser is in it)
        assert room.rate_hz == 16000
        heard = np.concatenate(phone.heard[-25:]).astype(np.float64)
        spectrum = np.abs(np.fft.rfft(heard))
        freqs = np.fft.rfftfreq(heard.size, 1 / 16000)
        assert abs(freqs[int(np.argmax(spectrum))] - 440.0) < 10
        # the phone was encoded once per tick, whatever the number of browsers
        assert sfu.encoded_frames <= registry.clock("room-1").ticks  # type: ignore[union-attr]
        phone_pub = next(p for p in sfu.publications.values() if p.publisher_id == "p1")
        assert len(phone_pub.subscribers) == 2
        # b's aiortc receives a's forwarded Opus and decodes it to the tone
        track_a = next(
            t.receiver.track
            for t in browsers[1].pc.getTransceivers()
            if browsers[1].tracks.get(t.mid or "") == "a"
        )
        frames = [await asyncio.wait_for(track_a.recv(), 5) for _ in range(30)]
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames[10:]])  # type: ignore[union-attr]
        assert pcm.std() > 500
        # muted in the room: a's audio is forwarded to nobody
        room.set_muted("a", True)
        await asyncio.sleep(0.1)
        frozen = publication.frames
        await asyncio.sleep(0.2)
        assert publication.frames == frozen
    finally:
        for session in sessions:
            await session.close()
        for browser in browsers:
            await browser.pc.close()
        sfu.close()
        registry.close()


class SmallVideoTrack(MediaStreamTrack):
    """A 160x120 camera at 15 frames per second."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> VideoFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        await asyncio.sleep(max(0.0, self._start + self._pts / 90000 - loop.time()))
        image = np.full((120, 160, 3), (self._pts // 6000) % 256, dtype=np.uint8)
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 90000)
        self._pts += 6000
        return frame


async def test_video_is_forwarded_and_keyframe_requests_reach_the_publisher() -> None:
    registry = RoomRegistry()
    browsers: list[ScriptedBrowser] = []
    sessions: list[BrowserSession] = []
    keyframes: list[int] = []
    try:
        for name in ("a", "b"):
            browser = ScriptedBrowser()
            if name == "a":
                camera = browser.pc.addTrack(SmallVideoTrack())
                original = camera._send_keyframe

                def spy(original: Any = original, keyframes: list[int] = keyframes) -> None:
                    keyframes.append(1)
                    original()

                camera._send_keyframe = spy  # type: ignore[method-assign]
            else:
                browser.pc.addTransceiver("video", direction="recvonly")
            participant = WebRtcParticipant(name, name.upper())
            room = registry.join("room-v", "key", participant)
            if not sessions:
                sfu = RoomSfu(room)
            session = BrowserSession(participant, sfu, browser.deliver)
            await browser.connect(session)
            browsers.append(browser)
            sessions.append(session)
        await _until(lambda: "a" in browsers[1].tracks.values())
        transceiver = next(
            t
            for t in browsers[1].pc.getTransceivers()
            if browsers[1].tracks.get(t.mid or "") == "a"
        )
        decoded = await asyncio.wait_for(transceiver.receiver.track.recv(), 10)
        assert (decoded.width, decoded.height) == (160, 120)  # type: ignore[union-attr]
        publication = next(p for p in sfu.publications.values() if p.kind == "video")
        assert publication.codec == "VP8" and publication.keyframe_requests >= 1
        await _until(lambda: len(keyframes) >= 1)  # the new subscriber's request reached a
        before = len(keyframes)
        # b's decoder reports picture loss: the PLI goes through the server to a
        receiver = transceiver.receiver
        ssrc = receiver.getSynchronizationSources()[0].source
        await receiver._send_rtcp_pli(ssrc)
        await _until(lambda: len(keyframes) > before)
    finally:
        for session in sessions:
            await session.close()
        for browser in browsers:
            await browser.pc.close()
        registry.close()
