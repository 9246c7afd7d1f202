"""HTTP side of browser participants: the meeting page, its script, and the signalling socket.

``WS /ws/rooms/{roomId}?token=<JWT>`` (the room's API key signs the token; it needs
``allow_join`` and, if it names a room, this one). Messages are JSON objects with a
``type``. Browser to server: ``join {name}``, ``offer {sdp}``, ``answer {sdp}``,
``candidate {candidate, sdpMid, sdpMLineIndex}``, ``mute {muted}``, ``leave``.
Server to browser: ``joined {participantId, participants, sipUri}``, ``offer``/``answer
{sdp, tracks}``, ``participant-joined``, ``participant-left``, ``muted``, ``unmuted``,
``active-speaker``, ``dtmf``, ``error {code, message}``. Close codes: 4401 bad token,
4403 not allowed, 4404 unknown room, 4410 room deactivated.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from ..auth_tokens import TokenClaims, TokenError, verify_token
from ..config import Settings
from ..rooms.events import RoomEvent
from ..rooms.registry import RoomRegistry
from ..rooms.room import Room
from ..storage.records import ApiKey, RoomRecord
from .messages import event_message, participant_info
from .participant import WebRtcParticipant
from .session import BrowserSession
from .sfu import RoomSfu

__all__ = ["RoomStore", "WebRtcContext", "create_router"]

log = logging.getLogger(__name__)

_MAX_NAME = 64
_BAD_MESSAGE = (
    KeyError,
    ValueError,
    AssertionError,  # aiortc's SDP parser asserts on malformed lines
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)


class RoomStore(Protocol):
    """What signalling needs of the store (``sipmeet.storage.Store`` has it)."""

    def get_api_key(self, key_id: str) -> ApiKey | None: ...

    def get_room(self, room_id: str) -> RoomRecord | None: ...


@dataclass
class WebRtcContext:
    """The router's dependencies, and the browser-side state of each live room."""

    store: RoomStore
    registry: RoomRegistry
    settings: Settings = field(default_factory=Settings)
    sfus: dict[str, RoomSfu] = field(default_factory=dict)
    sessions: dict[str, BrowserSession] = field(default_factory=dict)

    def sip_uri(self, room_id: str) -> str:
        return f"sip:{room_id}@{self.settings.sip.domain}"

    def sfu_for(self, room: Room) -> RoomSfu:
        sfu = self.sfus.get(room.room_id)
        if sfu is None or sfu.room is not room:
            if sfu is not None:
                sfu.close()
            sfu = RoomSfu(room, opus_complexity=self.settings.media.opus_complexity)
            self.sfus[room.room_id] = sfu
        return sfu

    def release_sfu(self, room_id: str) -> None:
        sfu = self.sfus.get(room_id)
        if sfu is None:
            return
        if not any(s.sfu is sfu for s in self.sessions.values()):
            sfu.close()
            del self.sfus[room_id]

    async def close(self) -> None:
        """End every browser session (server shutdown)."""
        for session in list(self.sessions.values()):
            await session.close()
        for sfu in self.sfus.values():
            sfu.close()
        self.sfus.clear()

    def authorize(self, room_id: str, token: str) -> tuple[int, str] | TokenClaims:
        """The token's claims, or the close code and reason that refuse it."""

        def secret_for(key_id: str) -> str | None:
            key = self.store.get_api_key(key_id)
            return None if key is None else key.secret

        try:
            claims = verify_token(token, secret_for)
        except TokenError as exc:
            return 4401, str(exc)
        if not claims.can_join or not claims.allows_room(room_id):
            return 4403, "token does not allow joining this room"
        record = self.store.get_room(room_id)
        if record is None or record.api_key_id != claims.api_key_id:
            return 4404, "room not found"
        if not record.active:
            return 4410, "room deactivated"
        return claims


def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def create_router(ctx: WebRtcContext) -> APIRouter:
    """The meeting page, ``/sdk/sipmeet.js`` and the signalling WebSocket."""
    router = APIRouter()

    @router.get("/meet/{room_id}", response_class=HTMLResponse, include_in_schema=False)
    async def meeting_page(room_id: str) -> HTMLResponse:
        page = _static("meet.html")
        page = page.replace("{{roomId}}", html.escape(room_id, quote=True))
        page = page.replace("{{sipUri}}", html.escape(ctx.sip_uri(room_id), quote=True))
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @router.get("/sdk/sipmeet.js", include_in_schema=False)
    async def sdk() -> Response:
        return Response(_static("sipmeet.js"), media_type="text/javascript")

    @router.websocket("/ws/rooms/{room_id}")
    async def signalling(websocket: WebSocket, room_id: str, token: str = "") -> None:
        verdict = ctx.authorize(room_id, token)
        if not isinstance(verdict, TokenClaims):
            code, reason = verdict
            await websocket.close(code=code, reason=reason)
            return
        await websocket.accept()
        await _serve(ctx, websocket, room_id, verdict.api_key_id)

    return router


async def _serve(ctx: WebRtcContext, websocket: WebSocket, room_id: str, api_key_id: str) -> None:
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        outbox.put_nowait(message)

    async def writer() -> None:
        while (message := await outbox.get()) is not None:
            await websocket.send_text(json.dumps(message))

    async with asyncio.TaskGroup() as tasks:
        writing = tasks.create_task(writer())
        try:
            await _converse(ctx, websocket, room_id, api_key_id, send)
        finally:
            outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await writing
            with contextlib.suppress(Exception):
                await websocket.close()


async def _converse(
    ctx: WebRtcContext,
    websocket: WebSocket,
    room_id: str,
    api_key_id: str,
    send: Any,
) -> None:
    first = await _receive(websocket)
    if first is None or first.get("type") != "join":
        await send({"type": "error", "code": "join-first", "message": "send join first"})
        return
    name = str(first.get("name") or "Guest").strip()[:_MAX_NAME] or "Guest"
    participant = WebRtcParticipant(f"web-{secrets.token_hex(6)}", name)
    pid = participant.participant_id

    def on_event(event: RoomEvent) -> None:
        if event.room_id == room_id:
            send_nowait(event_message(event))

    def send_nowait(message: dict[str, Any]) -> None:
        task = asyncio.ensure_future(send(message))
        pending.add(task)
        task.add_done_callback(pending.discard)

    pending: set[asyncio.Future[None]] = set()
    room = ctx.registry.join(room_id, api_key_id, participant)
    unsubscribe = ctx.registry.subscribe(on_event)
    sfu = ctx.sfu_for(room)
    session = BrowserSession(participant, sfu, send)
    ctx.sessions[pid] = session
    reason = "left"
    try:
        await send(
            {
                "type": "joined",
                "participantId": pid,
                "roomId": room_id,
                "sipUri": ctx.sip_uri(room_id),
                "participants": [participant_info(p) for p in room.participants],
                "activeSpeaker": room.active_speaker,
            }
        )
        while (message := await _receive(websocket)) is not None:
            kind = message.get("type")
            try:
                if kind == "offer":
                    await session.handle_offer(str(message["sdp"]))
                elif kind == "answer":
                    await session.handle_answer(str(message["sdp"]))
                elif kind == "candidate":
                    index = message.get("sdpMLineIndex")
                    await session.handle_candidate(
                        str(message.get("candidate") or ""),
                        message.get("sdpMid"),
                        index if isinstance(index, int) else None,
                    )
                elif kind == "mute":
                    room.set_muted(pid, bool(message.get("muted")))
                elif kind == "leave":
                    break
                else:
                    await send({"type": "error", "code": "unknown-type", "message": str(kind)})
            except _BAD_MESSAGE as exc:  # a bad message from the browser, not a crash
                log.info("bad %s message from %s: %s", kind, pid, exc)
                await send({"type": "error", "code": "bad-message", "message": str(kind)})
        else:
            reason = "disconnected"
    finally:
        unsubscribe()
        ctx.sessions.pop(pid, None)
        await session.close()
        ctx.registry.leave(room_id, pid, reason)
        ctx.release_sfu(room_id)


async def _receive(websocket: WebSocket) -> dict[str, Any] | None:
    """The next JSON object from the browser, or None when it has gone."""
    while True:
        try:
            text = await websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return None
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict):
            return message
