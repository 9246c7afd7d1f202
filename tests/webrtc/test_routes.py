"""The signalling socket and the meeting page, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from aiortc import RTCSessionDescription
from fastapi import FastAPI

from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings, Sip
from sipmeet.rooms import DtmfPressed, RoomRegistry
from sipmeet.storage.records import ApiKey, RoomRecord
from sipmeet.webrtc import new_peer_connection
from sipmeet.webrtc.routes import (
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES_PER_S,
    WebRtcContext,
    create_router,
)

from .conftest import ToneTrack

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SECRET_A = "a" * 43
SECRET_B = "b" * 43


class MemoryStore:
    def __init__(self) -> None:
        self.keys = {
            "APIa": ApiKey("APIa", "a", SECRET_A, NOW),
            "APIb": ApiKey("APIb", "b", SECRET_B, NOW),
        }
        self.rooms = {
            "room-1": RoomRecord("room-1", "APIa", True, NOW),
            "old-room": RoomRecord("old-room", "APIa", False, NOW),
        }

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)

    def get_room(self, room_id: str) -> RoomRecord | None:
        return self.rooms.get(room_id)


@contextlib.asynccontextmanager
async def serve(ctx: WebRtcContext, port: int = 0) -> AsyncIterator[str]:
    """The signalling router on 127.0.0.1 (``port`` 0: a free one; given: a restart there)."""
    app = FastAPI()
    app.include_router(create_router(ctx))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def ctx() -> AsyncIterator[WebRtcContext]:
    registry = RoomRegistry()
    context = WebRtcContext(MemoryStore(), registry, Settings(sip=Sip(domain="meet.example")))
    yield context
    registry.close()


class WsBrowser:
    """A browser page's signalling, done by a script, with an aiortc peer connection."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pc = new_peer_connection()
        self.events: list[dict[str, Any]] = []
        self.tracks: dict[str, str] = {}
        self.joined: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None
        self.before_answer: Any = None  # called with each server offer, before answering it

    async def join(
        self,
        name: str,
        with_tone: bool,
        *,
        trickle: bool = False,
        extmap: dict[str, int] | None = None,
    ) -> None:
        await self.ws.send(json.dumps({"type": "join", "name": name}))
        self.joined = json.loads(await self.ws.recv())
        assert self.joined["type"] == "joined"
        if with_tone:
            self.pc.addTrack(ToneTrack())
        else:
            self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        for uri, ext_id in (extmap or {}).items():  # number extensions as another browser does
            sdp = re.sub(rf"a=extmap:\d+ {re.escape(uri)}", f"a=extmap:{ext_id} {uri}", sdp)
        if not trickle:
            await self.ws.send(json.dumps({"type": "offer", "sdp": sdp}))
        else:  # as a browser does: the offer without candidates, then each one, then the end
            lines = sdp.splitlines()
            candidates = [x.removeprefix("a=") for x in lines if x.startswith("a=candidate:")]
            assert candidates
            kept = [x for x in lines if not x.startswith(("a=candidate:", "a=end-of-candidates"))]
            await self.ws.send(json.dumps({"type": "offer", "sdp": "\r\n".join(kept) + "\r\n"}))
            for candidate in candidates:
                message = {"type": "candidate", "candidate": candidate, "sdpMid": "0"}
                await self.ws.send(json.dumps({**message, "sdpMLineIndex": 0}))
            await self.ws.send(json.dumps({"type": "candidate", "candidate": ""}))
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            message = json.loads(text)
            self.events.append(message)
            for item in message.get("tracks", []):
                self.tracks[item["mid"]] = item["participantId"]
            if message["type"] in ("offer", "answer"):
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(message["sdp"], message["type"])
                )
            if message["type"] == "offer":
                if self.before_answer is not None:
                    self.before_answer(message)
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                answer = {"type": "answer", "sdp": self.pc.localDescription.sdp}
                await self.ws.send(json.dumps(answer))

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        await self.pc.close()


async def _until(predicate: Any, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("room", "token", "code"),
    [
        ("room-1", "not-a-jwt", 4401),
        ("room-1", create_token("APIa", "w" * 43), 4401),
        ("room-1", create_token("APIa", SECRET_A, room_id="room-2"), 4403),
        ("room-1", create_token("APIb", SECRET_B), 4404),
        ("nope", create_token("APIa", SECRET_A), 4404),
        ("old-room", create_token("APIa", SECRET_A), 4410),
    ],
)
async def test_socket_refuses_bad_tokens_and_rooms(
    ctx: WebRtcContext, room: str, token: str, code: int
) -> None:
    async with serve(ctx) as host:
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(f"ws://{host}/ws/rooms/{room}?token={token}") as ws:
                await ws.recv()
    assert not len(ctx.registry)


async def test_an_oversized_message_ends_the_conversation(ctx: WebRtcContext) -> None:
    token = create_token("APIa", SECRET_A, room_id="room-1")
    async with (
        serve(ctx) as host,
        websockets.connect(f"ws://{host}/ws/rooms/room-1?token={token}") as ws,
    ):
        await ws.send(json.dumps({"type": "join", "name": "Alice"}))
        joined = json.loads(await ws.recv())
        assert joined["type"] == "joined" and joined["participantId"] in ctx.sessions
        await ws.send(json.dumps({"type": "offer", "sdp": "v=0" + "x" * MAX_MESSAGE_CHARS}))
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"]) == ("error", "too-large")
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await ws.recv()
    await _until(lambda: not ctx.sessions)
    room = ctx.registry.get("room-1")
    assert room is None or not len(room)


async def test_a_flood_of_messages_is_cut_off(ctx: WebRtcContext) -> None:
    token = create_token("APIa", SECRET_A, room_id="room-1")
    async with (
        serve(ctx) as host,
        websockets.connect(f"ws://{host}/ws/rooms/room-1?token={token}") as ws,
    ):
        await ws.send(json.dumps({"type": "join", "name": "Alice"}))
        assert json.loads(await ws.recv())["type"] == "joined"
        codes = []
        try:
            for _ in range(3 * MAX_MESSAGES_PER_S):
                await ws.send(json.dumps({"type": "hand", "raised": True}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                codes.append(message.get("code"))
        except websockets.exceptions.ConnectionClosed:
            pass
        assert "too-many" in codes
    await _until(lambda: not ctx.sessions)


async def test_browser_presences_are_recorded_in_the_store(tmp_path: Path) -> None:
    from sipmeet.config import load_settings
    from sipmeet.storage import Store

    settings = load_settings({}, {"SIPMEET_DATA_DIR": str(tmp_path / "data")}, None)
    with Store.open(settings) as store:
        key = store.create_api_key("k")
        room = store.create_room(key.id, "standup")
        registry = RoomRegistry()
        ctx = WebRtcContext(store, registry, settings, records=store)
        token = create_token(key.id, key.secret, room_id=room.room_id)
        try:
            async with serve(ctx) as host:
                url = f"ws://{host}/ws/rooms/{room.room_id}?token={token}"
                async with websockets.connect(url) as ws:
                    browser = WsBrowser(ws)
                    await browser.join("Ada", with_tone=True)
                    pid = browser.joined["participantId"]
                    await _until(lambda: bool(store.list_calls(room.room_id)))
                    (live,) = store.list_calls(room.room_id)
                    assert (live.kind, live.sip_call_id, live.caller_name) == ("webrtc", pid, "Ada")
                    assert live.answered_at is not None and live.ended_at is None
                    await _until(lambda: ctx.sessions[pid].participant.frames_decoded > 5)
                    await ws.send(json.dumps({"type": "leave"}))
                    await browser.close()
                await _until(lambda: store.list_calls(room.room_id)[0].ended_at is not None)
        finally:
            registry.close()
        (done,) = store.list_calls(room.room_id)
        assert (done.result, done.reason, done.codec) == ("success", "left", "opus")
        assert done.stats is not None and int(str(done.stats["frames_decoded"])) > 5
        assert store.count_calls_by_end() == {}  # a browser's presence is not a phone call


async def test_trickled_candidates_connect(ctx: WebRtcContext) -> None:
    token = create_token("APIa", SECRET_A, room_id="room-1")
    async with (
        serve(ctx) as host,
        websockets.connect(f"ws://{host}/ws/rooms/room-1?token={token}") as ws,
    ):
        browser = WsBrowser(ws)
        await browser.join("Alice", with_tone=True, trickle=True)
        await _until(lambda: browser.pc.connectionState == "connected")
        session = ctx.sessions[browser.joined["participantId"]]
        await _until(lambda: session.participant.frames_decoded > 5)
        assert "error" not in browser.types()
        # the server paired the trickled candidates (not only ones learnt from checks)
        ice = session.pc.getTransceivers()[0].receiver.transport.transport
        ours = browser.pc.getTransceivers()[0].sender.transport.transport
        local = {(c.ip, c.port) for c in ours.iceGatherer.getLocalCandidates()}
        remote = {(c.ip, c.port) for c in ice.getRemoteCandidates() if c.type == "host"}
        assert local <= remote
        await browser.close()


async def test_renegotiation_keeps_the_browsers_header_extension_ids(ctx: WebRtcContext) -> None:
    """A server offer made while the first connection still starts must not put aiortc's own
    extension ids back on the browser's m-line (it would misread the browser's packets)."""
    level, mid = (
        "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "urn:ietf:params:rtp-hdrext:sdes:mid",
    )
    token = create_token("APIa", SECRET_A, room_id="room-1")
    seen: list[dict[str, int]] = []
    async with serve(ctx) as host:
        url = f"ws://{host}/ws/rooms/room-1?token={token}"
        async with websockets.connect(url) as ws_a, websockets.connect(url) as ws_b:
            a, b = WsBrowser(ws_a), WsBrowser(ws_b)
            await a.join("Alice", with_tone=True, extmap={level: 9, mid: 4})
            session = ctx.sessions[a.joined["participantId"]]

            def check(offer: dict[str, Any]) -> None:
                first = session.pc.getTransceivers()[0]
                seen.append({e.uri: e.id for e in first._headerExtensions})

            a.before_answer = check
            await b.join("Bob", with_tone=True)  # Bob publishes: the server offers Alice more
            await _until(lambda: len(seen) >= 1)
            assert all(ids.get(level) == 9 and ids.get(mid) == 4 for ids in seen), seen
            await a.close()
            await b.close()


async def test_two_browsers_meet_and_see_events(ctx: WebRtcContext) -> None:
    token = create_token("APIa", SECRET_A, room_id="room-1")
    async with serve(ctx) as host:
        url = f"ws://{host}/ws/rooms/room-1?token={token}"
        async with websockets.connect(url) as ws_a, websockets.connect(url) as ws_b:
            a, b = WsBrowser(ws_a), WsBrowser(ws_b)
            await a.join("Alice", with_tone=True)
            await b.join("Bob", with_tone=False)
            a_id = a.joined["participantId"]
            b_id = b.joined["participantId"]
            assert b.joined["sipUri"] == "sip:room-1@meet.example"
            assert [p["name"] for p in b.joined["participants"]] == ["Alice", "Bob"]
            await _until(lambda: a_id in b.tracks.values())
            await _until(lambda: "participant-joined" in a.types())
            joined = next(e for e in a.events if e["type"] == "participant-joined")
            assert joined["participant"] == {
                "participantId": b_id,
                "kind": "webrtc",
                "name": "Bob",
                "maskedNumber": None,
                "muted": False,
                "handRaised": False,
            }
            await ws_a.send(json.dumps({"type": "mute", "muted": True}))
            await _until(lambda: {"type": "muted", "participantId": a_id} in b.events)
            room = ctx.registry.get("room-1")
            assert room is not None
            room.emit(DtmfPressed("room-1", "sip-x", "5", "rfc4733"))
            await _until(lambda: any(e["type"] == "dtmf" and e["digit"] == "5" for e in b.events))
            await a.close()
            await _until(lambda: "participant-left" in b.types())
            left = next(e for e in b.events if e["type"] == "participant-left")
            assert left["participantId"] == a_id and left["kind"] == "webrtc"
            await b.close()
        await _until(lambda: not len(ctx.registry) and not ctx.sfus)


async def test_meeting_page_and_sdk(ctx: WebRtcContext) -> None:
    async with serve(ctx) as host, httpx.AsyncClient(base_url=f"http://{host}") as client:
        page = await client.get("/meet/room-1", params={"token": "t", "name": "n"})
        assert page.status_code == 200
        assert "sip:room-1@meet.example" in page.text
        assert "window.meeting = meeting" in page.text
        sdk = await client.get("/sdk/sipmeet.js")
        assert sdk.status_code == 200
        assert sdk.headers["content-type"].startswith("text/javascript")
        assert "export class Meeting" in sdk.text
        hostile = await client.get('/meet/"><script>x</script>')
        assert "<script>x</script>" not in hostile.text


async def test_bad_messages_get_errors_and_the_socket_stays(ctx: WebRtcContext) -> None:
    token = create_token("APIa", SECRET_A)
    async with serve(ctx) as host:
        async with websockets.connect(f"ws://{host}/ws/rooms/room-1?token={token}") as ws:
            await ws.send(json.dumps({"type": "offer", "sdp": "v=0"}))
            first = json.loads(await ws.recv())
            assert first == {"type": "error", "code": "join-first", "message": "send join first"}
        async with websockets.connect(f"ws://{host}/ws/rooms/room-1?token={token}") as ws:
            await ws.send(json.dumps({"type": "join", "name": "x" * 500}))
            joined = json.loads(await ws.recv())
            assert joined["participants"][0]["name"] == "x" * 64
            for bad in (
                {"type": "offer", "sdp": "v=0\r\nm=audio nope UDP/TLS/RTP/SAVPF 111\r\n"},
                {"type": "offer"},
                {"type": "dance"},
            ):
                await ws.send(json.dumps(bad))
                reply = json.loads(await ws.recv())
                assert reply["type"] == "error"
            for text in ("not json", "[1, 2]", '"a string"'):
                await ws.send(text)
                error = json.loads(await ws.recv())
                assert (error["type"], error["code"]) == ("error", "bad-message")
            await ws.send(json.dumps({"type": "answer", "sdp": "v=0"}))  # unexpected: ignored
            await ws.send(json.dumps({"type": "mute", "muted": True}))
            assert json.loads(await ws.recv()) == {
                "type": "muted",
                "participantId": joined["participantId"],
            }
            await ws.send(json.dumps({"type": "leave"}))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
        await _until(lambda: not len(ctx.registry))
