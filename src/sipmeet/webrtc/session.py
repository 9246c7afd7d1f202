"""One browser in a room: its peer connection, what it publishes and what it receives.

The browser makes the first offer (its microphone, perhaps a camera); the server
answers. From then on the server offers whenever streams come or go in the room, one
negotiation at a time. Each offer carries ``tracks``: which participant every
server-sent m-line (by ``mid``) belongs to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import SessionDescription, candidate_from_sdp

from .extmap import ExtmapIds
from .ice import (
    announce_sdp,
    filter_remote_sdp,
    new_peer_connection,
    remote_candidate_allowed,
)
from .participant import WebRtcParticipant
from .sfu import RoomSfu
from .tap import (
    EncodedFrame,
    cap_receiver_estimates,
    on_bitrate_estimate,
    on_keyframe_request,
    request_keyframe,
    send_bitrate_cap,
    tap_receiver,
    write_audio_level,
)
from .tracks import ForwardedTrack, Publication

__all__ = ["BrowserSession", "SignalSender"]

log = logging.getLogger(__name__)

SignalSender = Callable[[dict[str, Any]], Awaitable[None]]


class _Slot:
    """A server-sent m-line: its transceiver and the track that forwards into it."""

    def __init__(self, transceiver: RTCRtpTransceiver, track: ForwardedTrack, codec: str) -> None:
        self.transceiver = transceiver
        self.track = track
        self.codec = codec


class BrowserSession:
    """Signalling and media of one browser participant (server side)."""

    def __init__(
        self,
        participant: WebRtcParticipant,
        sfu: RoomSfu,
        send: SignalSender,
        *,
        pc: RTCPeerConnection | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.participant = participant
        # Arrival times for the room's jitter buffer: the loop's clock, as the room ticks on.
        self._clock = clock if clock is not None else asyncio.get_running_loop().time
        self.participant_id = participant.participant_id
        self.sfu = sfu
        self._send = send
        self.pc = pc if pc is not None else new_peer_connection()
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)
        self._slots: list[_Slot] = []
        self._published: list[Publication] = []
        self._receivers: list[RTCRtpReceiver] = []
        self._lock = asyncio.Lock()
        self._answered = False
        self._awaiting_answer = False
        self._renegotiate = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._extmap = ExtmapIds()
        self.closed = False

    # -- signalling from the browser ------------------------------------------------------

    async def handle_offer(self, sdp: str) -> None:
        """The browser's offer (its first, or a later one while nothing is pending)."""
        async with self._lock:
            self._extmap.learn(sdp)
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=filter_remote_sdp(sdp), type="offer")
            )
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
            message = {
                "type": "answer",
                "sdp": announce_sdp(self.pc.localDescription.sdp),
                "tracks": self.tracks(),
            }
        await self._send(message)
        if not self._answered:
            self._answered = True
            self.sfu.add_listener(self)  # now offer the room's streams

    async def handle_answer(self, sdp: str) -> None:
        async with self._lock:
            if not self._awaiting_answer:
                log.debug("unexpected answer from %s ignored", self.participant_id)
                return
            self._extmap.learn(sdp)
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=filter_remote_sdp(sdp), type="answer")
            )
            self._awaiting_answer = False
        if self._renegotiate:
            self._schedule_offer()

    async def handle_candidate(
        self, candidate: str, sdp_mid: str | None, index: int | None
    ) -> None:
        """A trickled ICE candidate (``candidate:...`` line); empty means end of candidates."""
        if not candidate:
            await self.pc.addIceCandidate(None)
            return
        parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        if not remote_candidate_allowed(parsed.ip):
            return
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = index
        await self.pc.addIceCandidate(parsed)

    def tracks(self) -> list[dict[str, str]]:
        """Which participant each server-sent m-line carries (idle ones are left out)."""
        out = []
        for slot in self._slots:
            publication = slot.track.publication
            mid = slot.transceiver.mid
            if publication is not None and mid is not None:
                out.append(
                    {"mid": mid, "participantId": publication.publisher_id, "kind": slot.track.kind}
                )
        return out

    # -- what the browser publishes -------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        receiver = next(
            (t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track), None
        )
        if receiver is None:
            return
        self._receivers.append(receiver)
        state: dict[str, Publication] = {}

        def sink(frame: EncodedFrame) -> None:
            publication = state.get("publication")
            if publication is None:
                publication = Publication(
                    self.participant_id,
                    frame.kind,
                    frame.codec,
                    frame.clock_rate_hz,
                    on_keyframe_request=lambda: request_keyframe(receiver),
                    on_bitrate_cap=lambda bps: send_bitrate_cap(receiver, bps),
                    clock=self._clock,
                )
                state["publication"] = publication
                self._published.append(publication)
                if not self.closed:
                    self.sfu.publish(publication)
            if frame.kind == "audio" and self.participant.muted:
                return  # muted in the room (by itself or a moderator): heard by nobody
            if frame.kind != "audio":
                publication.forward(frame.data, frame.timestamp)
                return
            if frame.codec.lower() == "opus" and frame.sequence is not None:
                self.participant.receive_opus(
                    frame.data,
                    frame.sequence,
                    frame.timestamp,
                    self._clock(),
                    marker=frame.marker,
                    ssrc=frame.ssrc,
                )
            # The browser's own RFC 6464 level goes on with its audio; without one, the
            # level the room measured last tick stands in.
            level = frame.audio_level
            if level is None:
                level = self.sfu.room.levels.get(self.participant_id)
            publication.forward(frame.data, frame.timestamp, level)

        tap_receiver(receiver, track.kind, sink)
        if track.kind == "video":

            def cap() -> int | None:
                publication = state.get("publication")
                return publication.bitrate_cap if publication is not None else None

            cap_receiver_estimates(receiver, cap)

    # -- what the browser receives --------------------------------------------------------

    def publication_added(self, publication: Publication) -> None:
        slot = next(
            (
                s
                for s in self._slots
                if s.track.publication is None
                and s.track.kind == publication.kind
                and s.codec == publication.codec
            ),
            None,
        )
        if slot is None:
            track = ForwardedTrack(publication.kind)
            transceiver = self.pc.addTransceiver(track, direction="sendonly")
            _prefer_codec(transceiver, publication.kind, publication.codec)
            slot = _Slot(transceiver, track, publication.codec)
            self._hook_sender(transceiver.sender, track)
            self._slots.append(slot)
        else:
            slot.transceiver.direction = "sendonly"
        publication.attach(slot.track)
        self._schedule_offer()

    def publication_removed(self, publication: Publication) -> None:
        for slot in self._slots:
            if slot.track.publication is publication:
                publication.detach(slot.track)
                slot.transceiver.direction = "inactive"
                self._schedule_offer()

    def _hook_sender(self, sender: RTCRtpSender, track: ForwardedTrack) -> None:
        def keyframe() -> None:
            if track.publication is not None:
                track.publication.request_keyframe()

        def estimate(bps: int) -> None:
            if track.publication is not None:
                track.publication.subscriber_estimate(track, bps)

        on_keyframe_request(sender, keyframe)
        if track.kind == "audio":
            write_audio_level(sender, lambda: track.audio_level)
        else:
            on_bitrate_estimate(sender, estimate)

    def _schedule_offer(self) -> None:
        self._renegotiate = True
        if self.closed or not self._answered:
            return
        task = asyncio.ensure_future(self._offer())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _offer(self) -> None:
        async with self._lock:
            if self.closed or self._awaiting_answer or not self._renegotiate:
                return
            if self.pc.signalingState != "stable":
                return
            self._renegotiate = False
            # aiortc offers its default payload types and header extension ids again on
            # every offer; m-lines already negotiated keep theirs (else the browser's Opus
            # 111 turns 96 and is dropped, and a connection still starting would read the
            # browser's extensions with aiortc's ids: a 3-byte abs-send-time taken for a
            # 1-byte audio level stops aiortc's receive loop).
            settled = [
                t
                for t in self.pc.getTransceivers()
                if t.mid is not None and t.currentDirection is not None and t._codecs
            ]
            negotiated = {str(t.mid): list(t._codecs) for t in settled}
            extensions = {str(t.mid): list(t._headerExtensions) for t in settled}
            offer = await self.pc.createOffer()
            for transceiver in self.pc.getTransceivers():
                if transceiver.mid in negotiated:
                    transceiver._codecs = negotiated[transceiver.mid]
                    transceiver._headerExtensions = extensions[transceiver.mid]
            sdp = self._extmap.rewrite(_keep_payload_types(offer.sdp, negotiated))
            offer = RTCSessionDescription(sdp=sdp, type="offer")
            await self.pc.setLocalDescription(offer)
            self._awaiting_answer = True
            message = {
                "type": "offer",
                "sdp": announce_sdp(self.pc.localDescription.sdp),
                "tracks": self.tracks(),
            }
        await self._send(message)  # outside the lock: the answer may come back at once

    # -- ending ---------------------------------------------------------------------------

    async def _on_connection_state(self) -> None:
        if self.pc.connectionState == "failed":
            log.info("peer connection of %s failed", self.participant_id)
            await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.sfu.remove_listener(self.participant_id)
        for publication in self._published:
            self.sfu.unpublish(publication)
        for slot in self._slots:
            if slot.track.publication is not None:
                slot.track.publication.detach(slot.track)
            slot.track.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.pc.close()


def _keep_payload_types(sdp: str, negotiated: dict[str, list[RTCRtpCodecParameters]]) -> str:
    """``sdp`` with the codecs (and payload types) of each negotiated ``mid`` put back."""
    if not negotiated:
        return sdp
    description = SessionDescription.parse(sdp)
    for media in description.media:
        codecs = negotiated.get(media.rtp.muxId)
        if codecs:
            media.rtp.codecs = codecs
            media.fmt = [c.payloadType for c in codecs]
    return str(description)


def _prefer_codec(transceiver: RTCRtpTransceiver, kind: str, codec: str) -> None:
    """Send the forwarded stream in the publisher's codec (it is never transcoded)."""
    capabilities = RTCRtpSender.getCapabilities(kind)
    chosen = [c for c in capabilities.codecs if c.mimeType.lower() == f"{kind}/{codec}".lower()]
    rtx = [c for c in capabilities.codecs if c.mimeType.lower() == f"{kind}/rtx"]
    if chosen:
        transceiver.setCodecPreferences(chosen + rtx)
