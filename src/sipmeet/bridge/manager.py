"""Routes SIP events to calls, and admits new INVITEs into rooms.

Admission order (DESIGN.md): digest challenge first, so that nothing about the
room is revealed before authentication; then 403 for wrong credentials, 404 for
an unknown room or another key's room, 480 for a deactivated room, 503/486 at a
limit, 488 without a common codec. Every refusal is a :class:`Reject` value
mapped to a SIP response here, in one place.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..net.ports import PortAllocator, PortPair, PortsExhausted
from ..rooms.registry import RoomRegistry
from ..sdp.description import parse_sdp
from ..sdp.errors import SdpParseError
from ..sdp.negotiate import NoCommonCodec, answer_offer, build_offer
from ..sip.dialog import DialogId
from ..sip.digest import AuthResult, DigestAuthenticator
from ..sip.endpoint import SipEndpoint
from ..sip.errors import SipParseError
from ..sip.events import (
    IncomingInfo,
    IncomingInvite,
    IncomingReinvite,
    IncomingUpdate,
    InviteCancelled,
    SipEvent,
)
from ..sip.transaction import TransactionId
from ..sip.uri import parse_uri
from .call import Call, MediaConfig
from .directory import CallDirectory, CallStartInfo
from .identity import caller_identity
from .results import (
    REJECTS,
    CallAnswered,
    CallEnd,
    CallEnded,
    CallEvent,
    CallRejected,
    CallResult,
    Reject,
)

__all__ = ["BridgeLimits", "CallManager"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BridgeLimits:
    max_calls: int = 500
    max_calls_per_room: int = 100
    dialin_user: str = "dialin"  # sip:<this>@<domain> reaches the dial-in menu


@dataclass(slots=True)
class _PendingInvite:
    """An INVITE being admitted; CANCEL may arrive while a lookup is awaited."""

    transaction_id: TransactionId
    call_id: str
    cancelled: bool = False
    ports: PortPair | None = None  # allocated, not yet handed to a Call
    api_key_id: str | None = None  # known once the caller authenticated
    room_id: str | None = None


class CallManager:
    """The bridge between the SIP endpoint and the rooms (see module docstring)."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        authenticator: DigestAuthenticator,
        directory: CallDirectory,
        rooms: RoomRegistry,
        ports: PortAllocator,
        media: MediaConfig,
        *,
        limits: BridgeLimits = BridgeLimits(),
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.auth = authenticator
        self.directory = directory
        self.rooms = rooms
        self.ports = ports
        self.media = media
        self.limits = limits
        self._wall_clock = wall_clock
        self._loop = asyncio.get_running_loop()
        self._calls: dict[DialogId, Call] = {}
        self._pending: dict[TransactionId, _PendingInvite] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump: Callable[[], None] = lambda: None
        self._pump_scheduled = False
        self.ended_calls = 0
        self._subscribers: list[Callable[[CallEvent], None]] = []
        self.auth_failures = 0  # INVITEs refused 403 for their credentials

    # -- wiring ----------------------------------------------------------------------

    def set_pump(self, pump: Callable[[], None]) -> None:
        """The transport's function that writes the endpoint's output and re-arms its timer."""
        self._pump = pump

    def _kick(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self._loop.call_soon(self._run_pump)

    def _run_pump(self) -> None:
        self._pump_scheduled = False
        self._pump()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the manager keeps a reference to until it ends."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bridge task failed", exc_info=task.exception())

    @property
    def calls(self) -> list[Call]:
        return [c for c in self._calls.values() if c.ended is None]

    # -- call events (webhooks, metrics) ----------------------------------------------------

    def subscribe(self, subscriber: Callable[[CallEvent], None]) -> Callable[[], None]:
        """Call ``subscriber`` with every CallAnswered / CallEnded / CallRejected; returns an
        unsubscribe function. Subscribers must not block: they run on the event loop."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def _publish(self, event: CallEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("call event subscriber failed")

    # -- SIP output ---------------------------------------------------------------------

    def respond(
        self,
        tx: TransactionId,
        status: int,
        reason: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> DialogId | None:
        dialog_id = self.endpoint.respond(
            tx, status, reason, headers=headers, body=body, now=self._loop.time()
        )
        self._kick()
        return dialog_id

    def send_bye(
        self, dialog_id: DialogId, headers: Sequence[tuple[str, str]] = ()
    ) -> TransactionId | None:
        try:
            tx = self.endpoint.send_request(
                dialog_id, "BYE", headers=headers, now=self._loop.time()
            )
        except Exception:  # the dialog may already be gone (peer's BYE crossed ours)
            log.debug("no dialog %s to send BYE in", dialog_id)
            return None
        self._kick()
        return tx

    # -- events -----------------------------------------------------------------------------

    def on_event(self, event: SipEvent) -> None:
        if isinstance(event, IncomingInvite):
            pending = _PendingInvite(event.transaction_id, event.request.call_id)
            self._pending[event.transaction_id] = pending
            self.spawn(self._admit(event, pending))
            return
        if isinstance(event, InviteCancelled):
            cancelled = self._pending.get(event.transaction_id)
            if cancelled is not None:
                cancelled.cancelled = True
            return
        dialog_id = getattr(event, "dialog_id", None)
        call = self._calls.get(dialog_id) if dialog_id is not None else None
        if call is not None:
            call.handle(event)
        elif isinstance(event, IncomingReinvite | IncomingUpdate | IncomingInfo):
            self.respond(event.transaction_id, 481)

    # -- admission -------------------------------------------------------------------------

    async def _admit(self, event: IncomingInvite, pending: _PendingInvite) -> None:
        tx = event.transaction_id
        try:
            await self._admit_steps(event, pending)
        except Exception:
            log.exception("INVITE %s failed", event.request.call_id)
            if not pending.cancelled:
                self._reject(pending, REJECTS["internal-error"])
        finally:
            self._pending.pop(tx, None)
            if pending.ports is not None:
                self.release_ports(pending.ports)

    def _reject(
        self, pending: _PendingInvite, reject: Reject, *, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.respond(pending.transaction_id, reject.status, headers=(*reject.headers, *extra))
        self._publish(
            CallRejected(
                call_id=pending.call_id,
                api_key_id=pending.api_key_id,
                room_id=pending.room_id,
                status=reject.status,
                reason=reject.reason,
            )
        )

    async def _admit_steps(self, event: IncomingInvite, pending: _PendingInvite) -> None:
        request = event.request
        tx = event.transaction_id
        call_log = logging.LoggerAdapter(log, {"call_id": request.call_id})
        # 1. Challenge first: nothing about the room before authentication.
        creds = self.auth.credentials(request)
        if creds is None:
            self.respond(tx, 401, headers=self.auth.challenge(self._wall_clock()))
            return
        account = await self.directory.sip_account(creds.username)
        if pending.cancelled:
            return
        verdict = AuthResult.INVALID
        if account is not None:
            verdict = self.auth.verify(creds, request.method, account.ha1, self._wall_clock())
            if verdict is AuthResult.INVALID and account.previous_ha1:
                # A rotation's grace window: the old password still works. (The nonce count
                # is recorded only on a match, so checking twice is safe.)
                verdict = self.auth.verify(
                    creds, request.method, account.previous_ha1, self._wall_clock()
                )
        if verdict is AuthResult.STALE:
            self.respond(tx, 401, headers=self.auth.challenge(self._wall_clock(), stale=True))
            return
        if account is not None:
            pending.api_key_id = account.api_key_id
        if verdict is not AuthResult.OK or account is None:
            self.auth_failures += 1
            call_log.info("INVITE refused: bad credentials for user %r", creds.username)
            self._reject(pending, REJECTS["bad-credentials"])
            return
        # 2. The room, which must belong to the same API key.
        try:
            room_id = (parse_uri(request.uri).user or "").lower()
        except SipParseError:
            room_id = ""
        pending.room_id = room_id or None
        dial_in = room_id == self.limits.dialin_user
        if not dial_in:  # the dial-in menu finds the room from the caller's keypad later
            room = await self.directory.room(room_id) if room_id else None
            if pending.cancelled:
                return
            if room is None or room.api_key_id != account.api_key_id:
                call_log.info("INVITE refused: no room %r for key %s", room_id, account.api_key_id)
                self._reject(pending, REJECTS["room-not-found"])
                return
            if not room.active:
                self._reject(pending, REJECTS["room-inactive"])
                return
        # 3. Limits.
        if len(self.calls) >= self.limits.max_calls:
            self._reject(pending, REJECTS["server-busy"])
            return
        live = self.rooms.get(room_id)
        if live is not None and len(live) >= self.limits.max_calls_per_room:
            self._reject(pending, REJECTS["room-full"])
            return
        # 4. Media: ports and the SDP answer (or our offer for an offerless INVITE).
        offer = None
        if request.body:
            if request.content_type != "application/sdp":
                self.respond(tx, 415, headers=(("Accept", "application/sdp"),))
                return
            try:
                offer = parse_sdp(request.body)
            except SdpParseError as exc:
                self.respond(tx, 400, reason=f"Bad SDP: {exc}"[:100])
                return
        try:
            ports = self.ports.allocate()
        except PortsExhausted:
            self._reject(pending, REJECTS["ports-exhausted"])
            return
        pending.ports = ports
        session_id = secrets.randbits(62)
        negotiated = None
        if offer is not None:
            result = answer_offer(
                offer,
                address=self.media.address,
                rtp_port=ports.rtp_port,
                session_id=session_id,
                session_version=1,
            )
            if isinstance(result, NoCommonCodec):
                call_log.info("INVITE refused: %s", result.warning)
                self._reject(
                    pending,
                    REJECTS["no-common-codec"],
                    extra=(("Warning", result.warning),),
                )
                return
            local_sdp, negotiated = result
        else:
            local_sdp = build_offer(
                address=self.media.address,
                rtp_port=ports.rtp_port,
                session_id=session_id,
                session_version=1,
            )
        identity = caller_identity(request)
        source = event.source
        record_id = await self.directory.call_started(
            CallStartInfo(
                room_id=room_id,
                api_key_id=account.api_key_id,
                sip_call_id=request.call_id,
                display_name=identity.display_name,
                number=identity.number,
                transport=source.transport,
                metadata=identity.metadata,
            )
        )
        if pending.cancelled:
            if record_id is not None:
                await self.directory.call_ended(
                    record_id, CallEnd(CallResult.SUCCESS, "cancelled"), {}
                )
            return
        dialog_id = self.respond(
            tx, 200, headers=(("Content-Type", "application/sdp"),), body=local_sdp.serialize()
        )
        if dialog_id is None:
            return
        pending.ports = None
        call = Call(
            self,
            dialog_id=dialog_id,
            call_id=request.call_id,
            room_id=room_id,
            api_key_id=account.api_key_id,
            identity=identity,
            ports=ports,
            record_id=record_id,
            session_id=session_id,
            local_sdp=local_sdp,
            negotiated=negotiated,
            dial_in=dial_in,
        )
        self._calls[dialog_id] = call
        await call.open_media()
        if call.ended is None:
            call.start()

    # -- call bookkeeping ----------------------------------------------------------------

    def release_ports(self, ports: PortPair) -> None:
        self.ports.release(ports)

    async def directory_call_answered(self, record_id: int | None, codec: str) -> None:
        if record_id is not None:
            await self.directory.call_answered(record_id, codec)

    def call_answered(self, call: Call, codec: str) -> None:
        self._publish(
            CallAnswered(
                call_id=call.call_id,
                api_key_id=call.api_key_id,
                room_id=call.room_id,
                participant_id=call.participant_id,
                display_name=call.identity.display_name,
                masked_number=call.identity.masked_number,
                codec=codec,
            )
        )

    def call_finished(
        self, call: Call, end: CallEnd, stats: Mapping[str, object], *, keep_dialog: bool
    ) -> None:
        self.ended_calls += 1
        if not keep_dialog:
            self.forget(call)
        self._publish(
            CallEnded(
                call_id=call.call_id,
                api_key_id=call.api_key_id,
                room_id=call.room_id,
                participant_id=call.participant_id,
                result=end.result.value,
                reason=end.reason,
                stats=dict(stats),
            )
        )
        if call.record_id is not None:
            self.spawn(self.directory.call_ended(call.record_id, end, stats))

    def forget(self, call: Call) -> None:
        """Drop the call's dialog once nothing more can arrive for it."""
        self._calls.pop(call.dialog_id, None)
        self.endpoint.terminate(call.dialog_id)

    def find_call(self, dialog_id: DialogId) -> Call | None:
        return self._calls.get(dialog_id)

    # -- control (REST API, dashboard, moderation) ------------------------------------

    def call_for(self, participant_id: str) -> Call | None:
        """The live call of a phone participant."""
        for call in self.calls:
            if call.participant_id == participant_id:
                return call
        return None

    def hang_up(self, participant_id: str, *, reason: str = "removed") -> bool:
        """End one phone participant's call with BYE (RFC 3326 Reason header)."""
        call = self.call_for(participant_id)
        if call is None:
            return False
        call.hang_up(
            CallEnd(CallResult.SUCCESS, reason),
            reason_header=f'SIP;cause=200;text="{reason}"',
        )
        return True

    def set_muted(self, participant_id: str, muted: bool) -> bool:
        """Mute or unmute a phone participant: its audio reaches nobody while muted."""
        call = self.call_for(participant_id)
        if call is None:
            return False
        room = self.rooms.get(call.room_id)
        if room is None:
            return False
        room.set_muted(participant_id, muted)
        return True

    def end_room(self, room_id: str, *, reason: str = "room-deactivated") -> int:
        """Hang up every phone call in a room (when it is deactivated); returns how many."""
        calls = [c for c in self.calls if c.room_id == room_id]
        for call in calls:
            call.hang_up(
                CallEnd(CallResult.SUCCESS, reason), reason_header=f'SIP;cause=480;text="{reason}"'
            )
        return len(calls)

    async def close(self) -> None:
        """Hang up every call (BYE) and wait briefly for the tasks to end."""
        for call in list(self.calls):
            call.hang_up(CallEnd(CallResult.SUCCESS, "server-shutdown"))
        self._pump()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
