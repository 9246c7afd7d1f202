"""Moderation over the real signalling socket: muting and removing phones and browsers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
import websockets

from sipmeet.auth_tokens import create_token
from sipmeet.config import Settings, Sip
from sipmeet.media.player import PromptPlayer
from sipmeet.rooms import KeypadCommands, ParticipantKind, RoomRegistry
from sipmeet.webrtc.routes import WebRtcContext

from .test_routes import SECRET_A, MemoryStore, WsBrowser, _until, serve

ROOM = "room-1"


class FakePhone:
    """A phone caller as the room sees it, with the player its tones go to."""

    kind: ParticipantKind = "sip"
    masked_number: str | None = "+1555****12"
    rate_hz = 8000

    def __init__(self, pid: str) -> None:
        self.participant_id = pid
        self.display_name = "Phone"
        self.muted = False
        self.hand_raised = False
        self.player = PromptPlayer()

    def set_room_rate(self, rate_hz: int) -> None:
        pass

    def pull_frame(self, now: float) -> np.ndarray | None:
        return None

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        pass


class FakeBridge:
    """Hangs phone calls up the way the call bridge does: the caller leaves the room."""

    def __init__(self, registry: RoomRegistry) -> None:
        self.registry = registry
        self.hung_up: list[tuple[str, str]] = []

    def hang_up(self, participant_id: str, *, reason: str = "removed") -> bool:
        self.hung_up.append((participant_id, reason))
        self.registry.leave(ROOM, participant_id, reason)
        return True


@pytest.fixture
async def ctx() -> AsyncIterator[WebRtcContext]:
    registry = RoomRegistry()
    keypad = KeypadCommands(registry)
    context = WebRtcContext(
        MemoryStore(),
        registry,
        Settings(sip=Sip(domain="meet.example")),
        phones=FakeBridge(registry),
    )
    yield context
    keypad.close()
    registry.close()


def url(host: str, *, moderator: bool) -> str:
    token = create_token("APIa", SECRET_A, room_id=ROOM, moderator=moderator)
    return f"ws://{host}/ws/rooms/{ROOM}?token={token}"


def event(browser: WsBrowser, kind: str, **fields: object) -> bool:
    return any(
        e["type"] == kind and all(e.get(k) == v for k, v in fields.items()) for e in browser.events
    )


async def test_only_moderators_may_mute_or_remove(ctx: WebRtcContext) -> None:
    async with serve(ctx) as host, websockets.connect(url(host, moderator=False)) as ws:
        guest = WsBrowser(ws)
        await guest.join("Guest", with_tone=False)
        assert guest.joined["moderator"] is False
        phone = FakePhone("sip-1")
        ctx.registry.join(ROOM, "APIa", phone)
        for kind in ("mute-participant", "remove-participant"):
            await ws.send(json.dumps({"type": kind, "participantId": "sip-1"}))
        await _until(lambda: sum(e.get("code") == "not-allowed" for e in guest.events) == 2)
        assert not phone.muted and not phone.player.playing
        bridge = ctx.phones
        assert isinstance(bridge, FakeBridge) and not bridge.hung_up
        await guest.close()


async def test_moderator_mutes_and_removes_a_phone_caller(ctx: WebRtcContext) -> None:
    async with (
        serve(ctx) as host,
        websockets.connect(url(host, moderator=True)) as ws_mod,
        websockets.connect(url(host, moderator=False)) as ws_guest,
    ):
        mod, guest = WsBrowser(ws_mod), WsBrowser(ws_guest)
        await mod.join("Mod", with_tone=False)
        await guest.join("Guest", with_tone=False)
        assert mod.joined["moderator"] is True
        phone = FakePhone("sip-1")
        ctx.registry.join(ROOM, "APIa", phone)
        await _until(lambda: event(guest, "participant-joined"))
        await ws_mod.send(json.dumps({"type": "mute-participant", "participantId": "sip-1"}))
        await _until(lambda: event(guest, "muted", participantId="sip-1"))
        assert phone.muted and phone.player.playing  # the confirmation tone
        silence = np.zeros(160, dtype=np.int16)
        heard = np.concatenate([phone.player.render(silence, 8000) for _ in range(20)])
        assert np.abs(heard).max() > 5000
        await ws_mod.send(
            json.dumps({"type": "mute-participant", "participantId": "sip-1", "muted": False})
        )
        await _until(lambda: event(guest, "unmuted", participantId="sip-1"))
        await ws_mod.send(json.dumps({"type": "remove-participant", "participantId": "nobody"}))
        await _until(lambda: event(mod, "error", code="not-found"))
        await ws_mod.send(json.dumps({"type": "remove-participant", "participantId": "sip-1"}))
        await _until(lambda: event(guest, "participant-left", participantId="sip-1"))
        assert isinstance(ctx.phones, FakeBridge)
        assert ctx.phones.hung_up == [("sip-1", "removed-by-moderator")]
        await mod.close()
        await guest.close()


async def test_moderator_mutes_a_browser_and_its_audio_stops(ctx: WebRtcContext) -> None:
    async with (
        serve(ctx) as host,
        websockets.connect(url(host, moderator=True)) as ws_mod,
        websockets.connect(url(host, moderator=False)) as ws_talker,
    ):
        mod, talker = WsBrowser(ws_mod), WsBrowser(ws_talker)
        await mod.join("Mod", with_tone=False)
        await talker.join("Talker", with_tone=True)
        talker_id = talker.joined["participantId"]
        session = ctx.sessions[talker_id]
        await _until(lambda: session.participant.frames_decoded > 5)
        await ws_mod.send(json.dumps({"type": "mute-participant", "participantId": talker_id}))
        await _until(lambda: event(talker, "muted", participantId=talker_id))
        await _until(lambda: not session.participant.jitter.buffered)
        before = session.participant.frames_decoded
        await asyncio.sleep(0.5)  # 0.5 s of a talking microphone reaches nobody
        assert session.participant.frames_decoded == before
        await ws_mod.send(
            json.dumps({"type": "mute-participant", "participantId": talker_id, "muted": False})
        )
        await _until(lambda: session.participant.frames_decoded > before + 5)
        await mod.close()
        await talker.close()


async def test_moderator_removes_a_browser_and_hands_go_up(ctx: WebRtcContext) -> None:
    async with (
        serve(ctx) as host,
        websockets.connect(url(host, moderator=True)) as ws_mod,
        websockets.connect(url(host, moderator=False)) as ws_guest,
    ):
        mod, guest = WsBrowser(ws_mod), WsBrowser(ws_guest)
        await mod.join("Mod", with_tone=False)
        await guest.join("Guest", with_tone=False)
        guest_id = guest.joined["participantId"]
        await ws_guest.send(json.dumps({"type": "hand", "raised": True}))
        await _until(lambda: event(mod, "hand", participantId=guest_id, raised=True))
        await ws_mod.send(json.dumps({"type": "remove-participant", "participantId": guest_id}))
        await _until(lambda: event(guest, "removed", reason="removed-by-moderator"))
        await _until(
            lambda: event(
                mod, "participant-left", participantId=guest_id, reason="removed-by-moderator"
            )
        )
        assert ws_guest.close_code == 4000
        assert guest_id not in ctx.sessions
        await mod.close()
        await guest.close()
