"""The one place that reaches below aiortc's public API (checked by :func:`check_aiortc`).

* Receiving: aiortc's :class:`RTCRtpReceiver` reassembles encoded frames in its jitter
  buffer and hands each ``(codec, frame)`` to a decoder thread through a queue. The tap
  puts its own queue there before the receiver starts, so every encoded frame goes to a
  sink on the event loop instead, and nothing is decoded (a forwarded VP8 or Opus
  frame is never decoded or re-encoded; the room decodes browser Opus itself, once).
* Audio skips aiortc's jitter buffer: it holds four packets (80 ms) before it lets the
  first frame out. An Opus RTP packet is a whole frame, so the tap hands each one on as
  it arrives, with its sequence number, and the room's own adaptive jitter buffer
  (``sipmeet.rtp.jitter``) paces the audio it mixes; forwarded audio goes straight on to
  the subscribers, whose browsers buffer it themselves.
* Keyframes: a subscriber's PLI/FIR reaches :meth:`RTCRtpSender._send_keyframe`, which
  for pre-encoded packets would do nothing; the tap routes it to a callback, and
  :func:`request_keyframe` sends a PLI to the publisher from its receiver.
* Bandwidth: a subscriber's REMB (RFC draft-alvestrand-rmcat-remb) reaches
  :meth:`RTCRtpSender._handle_rtcp_packet`, which for pre-encoded packets changes
  nothing; :func:`on_bitrate_estimate` hands it to a callback. Upstream,
  :func:`send_bitrate_cap` sends the publisher a REMB of its own and
  :func:`cap_receiver_estimates` lowers the REMBs aiortc's receiver sends by itself, so
  that a publisher sends no more than its slowest subscriber takes.
* Robustness: a header extension whose length does not fit its negotiated meaning
  makes aiortc's parser raise ``struct.error``, which its transport does not catch: that
  one packet would end the connection's receive loop. :func:`harden_header_parsing`
  turns it into the ``ValueError`` the transport drops the packet for.
* Audio level: aiortc writes the RFC 6464 header extension only for frames it encodes;
  :func:`write_audio_level` gives pre-encoded packets their level again (a browser's
  own level, which the tap reads off each audio packet).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

__all__ = [
    "EncodedFrame",
    "TapError",
    "cap_receiver_estimates",
    "check_aiortc",
    "harden_header_parsing",
    "on_bitrate_estimate",
    "on_keyframe_request",
    "request_keyframe",
    "send_bitrate_cap",
    "tap_receiver",
    "tapped_frames",
    "write_audio_level",
]

log = logging.getLogger(__name__)

_RTCP_SSRC = "_RTCRtpReceiver__rtcp_ssrc"
_QUEUE = "_RTCRtpReceiver__decoder_queue"
_THREAD = "_RTCRtpReceiver__decoder_thread"
_JITTER = "_RTCRtpReceiver__jitter_buffer"
_PRIVATE_METHODS = (
    (RTCRtpReceiver, "_send_rtcp_pli"),
    (RTCRtpReceiver, "_handle_rtp_packet"),
    (RTCRtpSender, "_send_keyframe"),
    (RTCRtpSender, "_next_encoded_frame"),
    (RTCRtpSender, "_handle_rtcp_packet"),
    (RTCRtpReceiver, "_send_rtcp"),
    (HeaderExtensionsMap, "get"),
)
_pending: set[asyncio.Task[None]] = set()


class TapError(RuntimeError):
    """aiortc no longer has the internals the tap relies on, or the receiver already started."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded frame as the publisher sent it (its RTP payloads reassembled)."""

    kind: str  # "audio" | "video"
    codec: str  # "opus", "VP8", "H264"
    clock_rate_hz: int
    timestamp: int  # RTP clock units, starting near 0 for the stream
    data: bytes
    # Audio only (each packet is a frame): as the packet carried them; None for video.
    sequence: int | None = None
    marker: bool = False
    ssrc: int = 0
    audio_level: int | None = None  # RFC 6464 level (0..127, -dBov) when the packet had one


def check_aiortc(receiver: RTCRtpReceiver | None = None) -> None:
    """Raise :class:`TapError` when aiortc's internals are not what the tap expects."""
    for cls, name in _PRIVATE_METHODS:
        if not callable(getattr(cls, name, None)):
            raise TapError(f"aiortc {cls.__name__} has no {name}()")
    if receiver is not None:
        if not isinstance(getattr(receiver, _QUEUE, None), queue.Queue):
            raise TapError("aiortc RTCRtpReceiver has no decoder queue")
        if not hasattr(receiver, _THREAD):
            raise TapError("aiortc RTCRtpReceiver has no decoder thread attribute")
        buffer = getattr(receiver, _JITTER, None)
        if not callable(getattr(buffer, "add", None)):
            raise TapError("aiortc RTCRtpReceiver has no jitter buffer")


class _AudioFrame:
    """What aiortc's jitter buffer would hand out (``data``, ``timestamp``), plus the
    packet's own sequence number, marker and SSRC."""

    __slots__ = ("audio_level", "data", "marker", "sequence", "ssrc", "timestamp")

    def __init__(self, packet: Any) -> None:
        self.data: bytes = packet._data
        self.timestamp: int = packet.timestamp
        self.sequence: int = packet.sequence_number
        self.marker = bool(packet.marker)
        self.ssrc: int = packet.ssrc
        level = packet.extensions.audio_level  # (voice activity, level) when negotiated
        self.audio_level: int | None = int(level[1]) if level is not None else None


class _PassThrough:
    """Stands in for an audio receiver's jitter buffer: every packet is a frame at once.

    Repeats of the last few sequence numbers are dropped (a duplicated packet would be
    heard twice by the subscribers); everything else, late or reordered, goes on.
    """

    capacity = 16

    def __init__(self) -> None:
        self._recent: list[int] = []

    def add(self, packet: Any) -> tuple[bool, _AudioFrame | None]:
        seq = packet.sequence_number
        if seq in self._recent:
            return False, None
        self._recent.append(seq)
        if len(self._recent) > self.capacity:
            del self._recent[0]
        return False, _AudioFrame(packet)


class _TapQueue(queue.Queue[Any]):
    """Stands in for the decoder queue: frames go to the sink, only the stop marker queues."""

    def __init__(self, kind: str, sink: Callable[[EncodedFrame], None]) -> None:
        super().__init__()
        self._kind = kind
        self._sink = sink
        self.frames = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stops: let the (idle) decoder thread end
            super().put(item, block, timeout)
            return
        codec, frame = item
        self.frames += 1
        audio = isinstance(frame, _AudioFrame)
        try:
            self._sink(
                EncodedFrame(
                    self._kind,
                    codec.mimeType.split("/", 1)[1],
                    codec.clockRate,
                    frame.timestamp,
                    bytes(frame.data),
                    frame.sequence if audio else None,
                    frame.marker if audio else False,
                    frame.ssrc if audio else 0,
                    frame.audio_level if audio else None,
                )
            )
        except Exception:
            log.exception("encoded frame sink failed")


def tap_receiver(receiver: RTCRtpReceiver, kind: str, sink: Callable[[EncodedFrame], None]) -> None:
    """Send every encoded frame ``receiver`` reassembles to ``sink`` instead of its decoder.

    Call it from the peer connection's ``track`` event, before the receiver starts.
    Audio frames come one per RTP packet, as the packets arrive (see the module docstring).
    """
    check_aiortc(receiver)
    if getattr(receiver, _THREAD) is not None:
        raise TapError("the receiver has already started decoding")
    setattr(receiver, _QUEUE, _TapQueue(kind, sink))
    if kind == "audio":
        setattr(receiver, _JITTER, _PassThrough())


def tapped_frames(receiver: RTCRtpReceiver) -> int:
    """How many encoded frames went through the tap of ``receiver`` (0 when untapped)."""
    q = getattr(receiver, _QUEUE, None)
    return q.frames if isinstance(q, _TapQueue) else 0


def request_keyframe(receiver: RTCRtpReceiver) -> None:
    """Ask the publisher behind ``receiver`` for a keyframe (RFC 4585 §6.3.1 PLI)."""
    for source in receiver.getSynchronizationSources():
        task = asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
        _pending.add(task)
        task.add_done_callback(_pending.discard)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the subscriber behind ``sender`` sends PLI or FIR."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def write_audio_level(sender: RTCRtpSender, level: Callable[[], int | None]) -> None:
    """Give each packet ``sender`` sends the RFC 6464 level ``level()`` returns (0..127)."""
    original = sender._next_encoded_frame

    async def next_encoded_frame(codec: Any) -> Any:
        frame = await original(codec)
        if frame is not None and frame.audio_level is None:
            value = level()
            if value is not None:
                frame.audio_level = -value  # aiortc stores -dBov and writes its negation
        return frame

    sender._next_encoded_frame = next_encoded_frame  # type: ignore[method-assign]


def _remb(packet: Any) -> tuple[int, list[int]] | None:
    """(bitrate, SSRCs) of a REMB packet, else None."""
    if not isinstance(packet, RtcpPsfbPacket) or packet.fmt != RTCP_PSFB_APP:
        return None
    try:
        return unpack_remb_fci(packet.fci)
    except ValueError:
        return None  # another application-layer feedback


def on_bitrate_estimate(sender: RTCRtpSender, callback: Callable[[int], None]) -> None:
    """Call ``callback(bps)`` with each REMB the subscriber behind ``sender`` sends for it."""
    original = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        await original(packet)
        remb = _remb(packet)
        if remb is not None and sender._ssrc in remb[1]:
            callback(remb[0])

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


def send_bitrate_cap(receiver: RTCRtpReceiver, bps: int) -> None:
    """Send the publisher behind ``receiver`` a REMB of ``bps`` for all its streams."""
    rtcp_ssrc = getattr(receiver, _RTCP_SSRC, None)
    ssrcs = [source.source for source in receiver.getSynchronizationSources()]
    if rtcp_ssrc is None or not ssrcs:
        return
    packet = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bps, ssrcs)
    )
    task = asyncio.ensure_future(receiver._send_rtcp(packet))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def cap_receiver_estimates(receiver: RTCRtpReceiver, cap: Callable[[], int | None]) -> None:
    """Lower each REMB aiortc's ``receiver`` sends by itself to ``cap()`` (None: no cap)."""
    original = receiver._send_rtcp

    async def send_rtcp(packet: Any) -> None:
        remb = _remb(packet)
        limit = cap() if remb is not None else None
        if remb is not None and limit is not None and limit < remb[0]:
            packet = RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP,
                ssrc=packet.ssrc,
                media_ssrc=packet.media_ssrc,
                fci=pack_remb_fci(limit, remb[1]),
            )
        await original(packet)

    receiver._send_rtcp = send_rtcp  # type: ignore[method-assign]


_hardened = False


def harden_header_parsing() -> None:
    """Make a malformed RTP header extension drop its packet, not the connection (once)."""
    global _hardened
    if _hardened:
        return
    original = HeaderExtensionsMap.get

    def get(self: HeaderExtensionsMap, extension_profile: int, extension_value: bytes) -> Any:
        try:
            return original(self, extension_profile, extension_value)
        except struct.error as exc:
            raise ValueError(f"malformed RTP header extension: {exc}") from None

    HeaderExtensionsMap.get = get  # type: ignore[method-assign]
    _hardened = True
