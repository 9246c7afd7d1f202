"""One answered SIP call, joined to one room as one participant.

The call owns its dialog id, its RTP ports and sockets, its media leg and the
tasks that watch it (RTP inactivity, RTCP reports). Whatever ends it (BYE from
either side, CANCEL, a timer, a removed room), :meth:`Call.finish` runs once,
releases everything and records one :class:`CallEnd`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..media.leg import SipLegMedia
from ..net.ports import PortPair
from ..net.rtp_channel import RtpChannel
from ..rooms.events import DtmfPressed
from ..rtp.dtmf import DtmfDigit, parse_dtmf_info
from ..sdp.description import SessionDescription, parse_sdp
from ..sdp.errors import SdpParseError
from ..sdp.negotiate import (
    SUPPORTED_AUDIO,
    NegotiatedAudio,
    NoCommonCodec,
    accept_answer,
    answer_offer,
    build_offer,
)
from ..sip.dialog import DialogId
from ..sip.events import (
    AckReceived,
    AckTimedOut,
    ByeReceived,
    IncomingInfo,
    IncomingReinvite,
    IncomingUpdate,
    ResponseReceived,
    SessionExpired,
    SipEvent,
    TransactionTimedOut,
)
from ..sip.transaction import TransactionId
from .dialin import DialInSession
from .identity import CallerIdentity
from .participant import SipParticipant
from .results import CallEnd, CallResult

if TYPE_CHECKING:
    from .manager import CallManager

__all__ = ["Call", "MediaConfig"]

log = logging.getLogger(__name__)

RTCP_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class MediaConfig:
    address: str  # the address we put in SDP c= lines
    rtp_timeout_s: float = 30.0
    jitter_min_ms: int = 20
    jitter_max_ms: int = 200
    opus_complexity: int = 5


class Call:
    """See module docstring."""

    def __init__(
        self,
        manager: CallManager,
        *,
        dialog_id: DialogId,
        call_id: str,
        room_id: str,
        api_key_id: str,
        identity: CallerIdentity,
        ports: PortPair,
        record_id: int | None,
        session_id: int,
        local_sdp: SessionDescription,
        negotiated: NegotiatedAudio | None,
        dial_in: bool = False,
    ) -> None:
        self.manager = manager
        self.dialog_id = dialog_id
        self.call_id = call_id
        self.room_id = room_id
        self.api_key_id = api_key_id
        self.identity = identity
        self.ports = ports
        self.channel = RtpChannel(ports)
        self.record_id = record_id
        self.participant_id = f"sip-{secrets.token_hex(6)}"
        # A dial-in menu call waits in a lobby room of its own until it has chosen a room.
        self.dial_in = DialInSession(self) if dial_in else None
        if dial_in:
            self.room_id = f"dialin-{self.participant_id}"
        self.session_id = session_id
        self.sdp_version = 1
        self.local_sdp = local_sdp
        self.negotiated = negotiated
        self.participant: SipParticipant | None = None
        self.ended: CallEnd | None = None
        self.digits: list[str] = []  # every DTMF digit, RFC 4733 and INFO alike
        self._bye_tx: TransactionId | None = None
        # Our offer awaiting the ACK's answer (offerless INVITE). Set before the 200 can be
        # ACKed: the ACK may arrive while the RTP sockets are still being opened.
        self._offer_pending: SessionDescription | None = local_sdp if negotiated is None else None
        self._task: asyncio.Task[None] | None = None
        self._answered_at = asyncio.get_running_loop().time()
        self.log = logging.LoggerAdapter(
            log, {"call_id": call_id, "room_id": self.room_id, "api_key_id": api_key_id}
        )

    # -- start -----------------------------------------------------------------------

    async def open_media(self) -> None:
        await self.channel.open(self._on_rtp, self._on_rtcp)

    def start(self) -> None:
        """Run the call's watchers; media joins the room now or when the ACK brings the answer."""
        if self.negotiated is not None and self.participant is None:
            self._join_room(self.negotiated)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"call-{self.call_id}"
        )

    def _join_room(self, negotiated: NegotiatedAudio) -> None:
        cfg = self.manager.media
        leg = SipLegMedia(
            negotiated,
            room_rate_hz=8000,
            jitter_min_ms=cfg.jitter_min_ms,
            jitter_max_ms=cfg.jitter_max_ms,
            opus_complexity=cfg.opus_complexity,
        )
        self.participant = SipParticipant(
            self.participant_id, self.identity, leg, self.channel, self._on_dtmf
        )
        self.manager.rooms.join(self.room_id, self.api_key_id, self.participant)
        self.manager.spawn(
            self.manager.directory_call_answered(self.record_id, negotiated.codec.name)
        )
        self.log.info(
            "call answered: %s from %s in room %s, codec %s",
            self.call_id,
            self.identity.masked_number or self.identity.display_name,
            self.room_id,
            negotiated.codec.name,
        )
        if self.dial_in is not None:
            self.dial_in.start()

    def move_to_room(self, room_id: str) -> None:
        """Leave the current room for ``room_id`` (the dial-in menu found it)."""
        if self.participant is None or self.ended is not None:
            return
        rooms = self.manager.rooms
        rooms.leave(self.room_id, self.participant_id, "moved")
        self.room_id = room_id
        rooms.join(room_id, self.api_key_id, self.participant)
        self.log.info("dial-in call %s joined room %s", self.call_id, room_id)
        if self.record_id is not None:
            self.manager.spawn(self.manager.directory.call_moved(self.record_id, room_id))

    def _on_rtp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if self.participant is not None:
            self.participant.on_rtp(data, addr, now)

    def _on_rtcp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if self.participant is not None:
            self.participant.on_rtcp(data, addr, now)

    def _on_dtmf(self, digit: DtmfDigit) -> None:
        self._publish_digit(digit.digit, "rfc4733")

    def _publish_digit(self, digit: str, source: str) -> None:
        if self.dial_in is not None and self.dial_in.active:
            self.dial_in.digit(digit)  # menu entry (maybe a PIN): not recorded, not published
            return
        self.digits.append(digit)
        room = self.manager.rooms.get(self.room_id)
        self.log.info("DTMF %s (%s) from %s", digit, source, self.participant_id)
        if room is not None:
            room.emit(DtmfPressed(self.room_id, self.participant_id, digit, source))  # type: ignore[arg-type]

    async def _run(self) -> None:
        """Watch RTP inactivity and send RTCP reports until the call ends."""
        loop = asyncio.get_running_loop()
        timeout = self.manager.media.rtp_timeout_s
        next_rtcp = loop.time() + 1.0
        cname = f"sipmeet@{self.manager.media.address}"
        while self.ended is None:
            await asyncio.sleep(min(1.0, timeout / 4))
            now = loop.time()
            participant = self.participant
            if participant is None:
                if now - self._answered_at > timeout:
                    self.hang_up(CallEnd(CallResult.UPSTREAM_ERROR, "no-media"))
                continue
            leg = participant.leg
            for digit in leg.poll_dtmf(now):
                self._on_dtmf(digit)
            if self.dial_in is not None and self.dial_in.active:
                self.dial_in.poll()
            last = leg.last_packet_at if leg.last_packet_at is not None else self._answered_at
            if (
                not leg.negotiated.on_hold
                and leg.negotiated.direction != "inactive"
                and now - last > timeout
            ):
                self.log.info("no RTP for %.1f s: hanging up", now - last)
                self.hang_up(CallEnd(CallResult.UPSTREAM_ERROR, "rtp-timeout"))
                return
            if now >= next_rtcp:
                participant.send_rtcp(now, cname)
                next_rtcp = now + RTCP_INTERVAL_S

    def describe(self) -> dict[str, object]:
        """What the API and dashboard show of a live call."""
        leg = self.participant.leg if self.participant is not None else None
        return {
            "participantId": self.participant_id,
            "callId": self.call_id,
            "roomId": self.room_id,
            "apiKeyId": self.api_key_id,
            "displayName": self.identity.display_name,
            "maskedNumber": self.identity.masked_number,
            "codec": leg.codec_name if leg is not None else None,
            "muted": self.participant.muted if self.participant is not None else False,
            "onHold": leg.negotiated.on_hold if leg is not None else False,
            "quality": leg.quality() if leg is not None else {},
        }

    # -- SIP events in the dialog --------------------------------------------------------

    def handle(self, event: SipEvent) -> None:
        if isinstance(event, ByeReceived):
            self.finish(CallEnd(CallResult.SUCCESS, "caller-hangup"))
        elif isinstance(event, AckReceived):
            self._on_ack(event)
        elif isinstance(event, IncomingReinvite | IncomingUpdate):
            self._on_offer(event.transaction_id, event.request.body, event.request.content_type)
        elif isinstance(event, IncomingInfo):
            self._on_info(event)
        elif isinstance(event, AckTimedOut):
            self.hang_up(CallEnd(CallResult.UPSTREAM_ERROR, "ack-timeout"))
        elif isinstance(event, SessionExpired):
            self.hang_up(CallEnd(CallResult.UPSTREAM_ERROR, "session-expired"))
        elif (
            isinstance(event, ResponseReceived | TransactionTimedOut)
            and event.transaction_id == self._bye_tx
            and (isinstance(event, TransactionTimedOut) or event.response.status >= 200)
        ):
            self.manager.forget(self)

    def _on_ack(self, event: AckReceived) -> None:
        offer = self._offer_pending
        if offer is None:
            return
        self._offer_pending = None
        body = event.request.body
        if not body:
            self.hang_up(CallEnd(CallResult.CLIENT_ERROR, "no-sdp-answer"))
            return
        try:
            result = accept_answer(offer, parse_sdp(body))
        except SdpParseError as exc:
            self.log.info("unusable SDP answer in ACK: %s", exc)
            self.hang_up(CallEnd(CallResult.CLIENT_ERROR, "bad-sdp"))
            return
        if isinstance(result, NoCommonCodec):
            self.hang_up(CallEnd(CallResult.CLIENT_ERROR, "no-common-codec"))
            return
        if self.participant is None:
            self.negotiated = result
            self._join_room(result)
        else:
            self.participant.leg.renegotiate(result)

    def _on_offer(self, tx: TransactionId, body: bytes, content_type: str) -> None:
        """re-INVITE or UPDATE: hold/resume, a new address, or an offerless refresh."""
        manager = self.manager
        codec = (self.negotiated.codec.name,) if self.negotiated is not None else None
        if not body:
            if isinstance(self._offer_pending, SessionDescription) and self.participant is None:
                manager.respond(tx, 491)
                return
            # Offerless re-INVITE: we offer (current codec first), the answer comes in the ACK.
            # An UPDATE without a body is a session refresh only (RFC 4028).
            sdp = self._make_offer(codec)
            self._offer_pending = sdp
            manager.respond(
                tx, 200, headers=(("Content-Type", "application/sdp"),), body=sdp.serialize()
            )
            return
        if content_type != "application/sdp":
            manager.respond(tx, 415, headers=(("Accept", "application/sdp"),))
            return
        try:
            offer = parse_sdp(body)
        except SdpParseError as exc:
            manager.respond(tx, 400, reason=f"Bad SDP: {exc}"[:100])
            return
        result = answer_offer(
            offer,
            address=manager.media.address,
            rtp_port=self.ports.rtp_port,
            session_id=self.session_id,
            session_version=self.sdp_version,
            supported=codec or SUPPORTED_AUDIO,
        )
        if isinstance(result, NoCommonCodec):
            manager.respond(tx, 488, headers=(("Warning", result.warning),))
            return
        answer, negotiated = result
        answer = self._versioned(answer)
        self.negotiated = negotiated
        if self.participant is None:
            self._offer_pending = None
            self._join_room(negotiated)
        else:
            self.participant.leg.renegotiate(negotiated)
        self.log.info(
            "session modified: %s%s",
            negotiated.direction,
            " (on hold)" if negotiated.on_hold else "",
        )
        manager.respond(
            tx, 200, headers=(("Content-Type", "application/sdp"),), body=answer.serialize()
        )

    def _make_offer(self, codecs: tuple[str, ...] | None) -> SessionDescription:
        sdp = build_offer(
            address=self.manager.media.address,
            rtp_port=self.ports.rtp_port,
            session_id=self.session_id,
            session_version=self.sdp_version,
            codecs=codecs or SUPPORTED_AUDIO,
        )
        return self._versioned(sdp)

    def _versioned(self, sdp: SessionDescription) -> SessionDescription:
        """RFC 3264 §8: the o= version goes up by one exactly when the description changes."""
        sdp.origin.session_version = self.sdp_version
        if sdp.serialize() != self.local_sdp.serialize():
            self.sdp_version += 1
            sdp.origin.session_version = self.sdp_version
        self.local_sdp = sdp
        return sdp

    def _on_info(self, event: IncomingInfo) -> None:
        request = event.request
        digit = parse_dtmf_info(request.content_type, request.body)
        if digit is None:
            if request.body:
                self.manager.respond(
                    event.transaction_id,
                    415,
                    headers=(("Accept", "application/dtmf-relay, application/dtmf"),),
                )
            else:
                self.manager.respond(event.transaction_id, 200)
            return
        self.manager.respond(event.transaction_id, 200)
        self._publish_digit(digit, "info")

    # -- ending ---------------------------------------------------------------------------

    def hang_up(self, end: CallEnd, *, reason_header: str | None = None) -> None:
        """End from our side: BYE, then release everything."""
        if self.ended is not None:
            return
        headers: tuple[tuple[str, str], ...] = ()
        if reason_header:
            headers = (("Reason", reason_header),)
        self._bye_tx = self.manager.send_bye(self.dialog_id, headers)
        self.finish(end, keep_dialog=self._bye_tx is not None)

    def finish(self, end: CallEnd, *, keep_dialog: bool = False) -> None:
        """Release ports, sockets, room membership and tasks; record ``end``. Runs once."""
        if self.ended is not None:
            return
        self.ended = end
        if self.participant is not None:
            self.manager.rooms.leave(self.room_id, self.participant_id, end.reason)
        self.channel.close()
        self.manager.release_ports(self.ports)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        stats: dict[str, object] = {}
        if self.participant is not None:
            stats.update(self.participant.leg.quality())
        stats["dtmf"] = "".join(self.digits)
        self.log.info("call ended: %s (%s)", end, self.call_id)
        self.manager.call_finished(self, end, stats, keep_dialog=keep_dialog)
