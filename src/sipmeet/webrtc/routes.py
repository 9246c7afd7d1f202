"""HTTP side of browser participants: the meeting page, its script, and the signalling socket.

``WS /ws/rooms/{roomId}?token=<JWT>`` (the room's API key signs the token; it needs
``allow_join`` and, if it names a room, this one). Messages are JSON objects with a
``type``. Browser to server: ``join {name}``, ``offer {sdp}``, ``answer {sdp}``,
``candidate {candidate, sdpMid, sdpMLineIndex}``, ``mute {muted}``, ``hand {raised}``,
``leave``; moderators (token with ``allow_mod``) also ``mute-participant
{participantId, muted}`` and ``remove-participant {participantId}``.
Server to browser: ``joined {participantId, participants, sipUri, moderator}``,
``offer``/``answer {sdp, tracks}``, ``participant-joined``, ``participant-left``,
``muted``, ``unmuted``, ``hand {participantId, raised}``, ``active-speaker``, ``dtmf``,
``removed {reason}`` (a moderator removed this browser; the socket then closes),
``error {code, message}``. Close codes: 4401 bad token, 4403 not allowed, 4404 unknown
room, 4410 room deactivated, 4000 removed by a moderator. Text that is no JSON object gets
``error bad-message``; a message over 256 KiB (``too-large``) or more than 200 in a second
(``too-many``) ends the conversation after the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response

from ..auth_tokens import TokenClaims, TokenError, verify_token
from ..config import Settings
from ..rooms.events import HandRaised, RoomEvent
from ..rooms.registry import RoomRegistry
from ..rooms.room import Room
from ..storage.records import WEBRTC_TRANSPORT, ApiKey, CallStart, RoomRecord
from .messages import event_message, participant_info
from .participant import WebRtcParticipant
from .session import BrowserSession
from .sfu import RoomSfu
from .turn import ice_servers

__all__ = ["PhoneControl", "RoomStore", "WebRtcContext", "create_router"]

log = logging.getLogger(__name__)

_MAX_NAME = 64
MAX_MESSAGE_CHARS = 256 * 1024  # an SDP for a room of a hundred streams fits many times over
MAX_MESSAGES_PER_S = 200  # signalling is a few messages a second; a flood is cut off
_BAD_MESSAGE = (
    KeyError,
    ValueError,
    AssertionError,  # aiortc's SDP parser asserts on malformed lines
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)


class PhoneControl(Protocol):
    """What moderation needs of the call bridge (``sipmeet.bridge.CallManager`` has it)."""

    def hang_up(self, participant_id: str, *, reason: str = ...) -> bool: ...


class RoomStore(Protocol):
    """What signalling needs of the store (``sipmeet.storage.Store`` has it)."""

    def get_api_key(self, key_id: str) -> ApiKey | None: ...

    def get_room(self, room_id: str) -> RoomRecord | None: ...


class PresenceRecords(Protocol):
    """Where browsers' presences are recorded beside the phone calls (``Store`` has it)."""

    def record_call_start(self, call: CallStart) -> int: ...

    def record_call_answered(self, record_id: int, codec: str) -> None: ...

    def record_call_end(
        self, record_id: int, result: str, reason: str, stats: Mapping[str, object]
    ) -> None: ...


@dataclass
class WebRtcContext:
    """The router's dependencies, and the browser-side state of each live room."""

    store: RoomStore
    registry: RoomRegistry
    settings: Settings = field(default_factory=Settings)
    sfus: dict[str, RoomSfu] = field(default_factory=dict)
    sessions: dict[str, BrowserSession] = field(default_factory=dict)
    phones: PhoneControl | None = None  # the call bridge, for removing phone callers
    records: PresenceRecords | None = None  # None: browsers' presences are not recorded
    removers: dict[str, Callable[[str], None]] = field(default_factory=dict)

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

    def remove(self, room: Room, participant_id: str, *, reason: str = "removed") -> bool:
        """End a participant's presence in ``room``: BYE for a phone, close for a browser."""
        participant = room.get(participant_id)
        if participant is None:
            return False
        if participant.kind == "sip":
            return self.phones is not None and self.phones.hang_up(participant_id, reason=reason)
        remover = self.removers.get(participant_id)
        if remover is None:
            return False
        remover(reason)
        return True

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
        await _serve(ctx, websocket, room_id, verdict)

    return router


async def _serve(
    ctx: WebRtcContext, websocket: WebSocket, room_id: str, claims: TokenClaims
) -> None:
    outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        outbox.put_nowait(message)

    async def writer() -> None:
        try:
            while (message := await outbox.get()) is not None:
                await websocket.send_text(json.dumps(message))
                if message.get("type") == "removed":  # the last word to a removed browser
                    await websocket.close(code=4000, reason=str(message.get("reason")))
                    return
        except (WebSocketDisconnect, RuntimeError):  # gone (or closed) before we finished
            return

    async with asyncio.TaskGroup() as tasks:
        writing = tasks.create_task(writer())
        try:
            await _converse(ctx, websocket, room_id, claims, send)
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
    claims: TokenClaims,
    send: Any,
) -> None:
    api_key_id = claims.api_key_id
    inbox = _Inbox(websocket, send)
    first = await inbox.next()
    if first is None or first.get("type") != "join":
        await send({"type": "error", "code": "join-first", "message": "send join first"})
        return
    name = str(first.get("name") or "Guest").strip()[:_MAX_NAME] or "Guest"
    participant = WebRtcParticipant(
        f"web-{secrets.token_hex(6)}",
        name,
        jitter_min_ms=ctx.settings.rtp.jitter_min_ms,
        jitter_max_ms=ctx.settings.rtp.jitter_max_ms,
    )
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
    removed: list[str] = []

    def remove(why: str) -> None:  # a moderator removed this browser
        removed.append(why)
        send_nowait({"type": "removed", "reason": why})  # the writer then closes the socket

    ctx.removers[pid] = remove
    record_id = await _record_join(ctx, room_id, api_key_id, participant)
    try:
        await send(
            {
                "type": "joined",
                "participantId": pid,
                "roomId": room_id,
                "sipUri": ctx.sip_uri(room_id),
                "participants": [participant_info(p) for p in room.participants],
                "activeSpeaker": room.active_speaker,
                "moderator": claims.is_moderator,
                "iceServers": ice_servers(
                    ctx.settings.webrtc.ice_server_urls,
                    ctx.settings.webrtc.turn_secret,
                    pid,
                    time.time(),
                    ctx.settings.webrtc.turn_ttl_s,
                ),
            }
        )
        while (message := await inbox.next()) is not None:
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
                elif kind == "hand":
                    raised = bool(message.get("raised"))
                    if participant.hand_raised != raised:
                        participant.hand_raised = raised
                        room.emit(HandRaised(room_id, pid, raised))
                elif kind in ("mute-participant", "remove-participant"):
                    await _moderate(ctx, room, claims, kind, message, send)
                elif kind == "leave":
                    break
                else:
                    await send({"type": "error", "code": "unknown-type", "message": str(kind)})
            except _BAD_MESSAGE as exc:  # a bad message from the browser, not a crash
                log.info("bad %s message from %s: %s", kind, pid, exc)
                await send({"type": "error", "code": "bad-message", "message": str(kind)})
        else:
            reason = removed[0] if removed else "disconnected"
    finally:
        ctx.removers.pop(pid, None)
        unsubscribe()
        ctx.sessions.pop(pid, None)
        await session.close()
        ctx.registry.leave(room_id, pid, reason)
        ctx.release_sfu(room_id)
        if record_id is not None:
            await _record_leave(ctx, record_id, reason, participant)


async def _record_join(
    ctx: WebRtcContext, room_id: str, api_key_id: str, participant: WebRtcParticipant
) -> int | None:
    """Record a browser's presence like a call (transport ``webrtc``), so that sessions and
    participants, live and past, include browsers. A failing store never stops the join."""
    records = ctx.records
    if records is None:
        return None
    start = CallStart(
        room_id=room_id,
        sip_call_id=participant.participant_id,
        transport=WEBRTC_TRANSPORT,
        api_key_id=api_key_id,
        caller_name=participant.display_name,
    )

    def write() -> int:
        record_id = records.record_call_start(start)
        records.record_call_answered(record_id, "opus")
        return record_id

    try:
        return await asyncio.to_thread(write)
    except Exception:
        log.exception("recording %s's presence failed", participant.participant_id)
        return None


async def _record_leave(
    ctx: WebRtcContext, record_id: int, reason: str, participant: WebRtcParticipant
) -> None:
    records = ctx.records
    if records is None:
        return
    jitter = participant.jitter
    stats = {
        "frames_decoded": participant.frames_decoded,
        "packets_in": jitter.received,
        "lost_packets_concealed": jitter.lost,
        "late": jitter.late,
    }
    try:
        await asyncio.to_thread(records.record_call_end, record_id, "success", reason, stats)
    except Exception:
        log.exception("recording %s's leaving failed", participant.participant_id)


async def _moderate(
    ctx: WebRtcContext,
    room: Room,
    claims: TokenClaims,
    kind: str,
    message: dict[str, Any],
    send: Any,
) -> None:
    """A moderator's ``mute-participant`` or ``remove-participant``, for phones and browsers."""
    if not claims.is_moderator:
        await send({"type": "error", "code": "not-allowed", "message": f"{kind} needs allow_mod"})
        return
    target = str(message.get("participantId") or "")
    if target not in room:
        await send({"type": "error", "code": "not-found", "message": target})
        return
    if kind == "mute-participant":
        muted = bool(message.get("muted", True))
        log.info("moderator %s %s", "muted" if muted else "unmuted", target)
        room.set_muted(target, muted)  # a phone caller hears the confirmation tone
    elif ctx.remove(room, target, reason="removed-by-moderator"):
        log.info("moderator removed %s", target)
    else:
        await send({"type": "error", "code": "not-removed", "message": target})


class _Inbox:
    """The browser's messages, one JSON object at a time, within limits: a message over
    ``MAX_MESSAGE_CHARS`` or more than ``MAX_MESSAGES_PER_S`` in a second end the
    conversation (after an error saying why); text that is no JSON object gets an error
    and is skipped."""

    def __init__(self, websocket: WebSocket, send: Any) -> None:
        self._websocket = websocket
        self._send = send
        self._second = 0
        self._count = 0

    async def next(self) -> dict[str, Any] | None:
        """The next JSON object from the browser, or None when it has gone (or must go)."""
        while True:
            try:
                text = await self._websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return None
            second = int(time.monotonic())
            self._count = self._count + 1 if second == self._second else 1
            self._second = second
            if self._count > MAX_MESSAGES_PER_S:
                await self._refuse("too-many", f"more than {MAX_MESSAGES_PER_S} messages a second")
                return None
            if len(text) > MAX_MESSAGE_CHARS:
                await self._refuse("too-large", f"a message over {MAX_MESSAGE_CHARS} characters")
                return None
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                message = None
            if isinstance(message, dict):
                return message
            await self._send(
                {"type": "error", "code": "bad-message", "message": "not a JSON object"}
            )

    async def _refuse(self, code: str, why: str) -> None:
        log.info("signalling closed: %s", why)
        await self._send({"type": "error", "code": code, "message": why})
