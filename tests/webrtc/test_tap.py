"""The tap below aiortc's decoder, keyframe relay and audio levels, on real aiortc objects.

These tests drive aiortc's own RTCRtpReceiver and RTCRtpSender through a fake DTLS
transport: if an aiortc upgrade moves the internals the tap relies on, they fail.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import get_capabilities
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    HeaderExtensionsMap,
    RtcpPacket,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from sipmeet.webrtc import (
    EncodedFrame,
    ForwardedTrack,
    TapError,
    cap_receiver_estimates,
    check_aiortc,
    harden_header_parsing,
    on_bitrate_estimate,
    on_keyframe_request,
    request_keyframe,
    send_bitrate_cap,
    tap_receiver,
    tapped_frames,
    write_audio_level,
)

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


class FakeDtlsTransport:
    state = "connected"
    _stats_id = "transport"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def _register_rtp_receiver(self, receiver: object, parameters: object) -> None:
        pass

    def _unregister_rtp_receiver(self, receiver: object) -> None:
        pass

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


def _receiver(kind: str, codec: RTCRtpCodecParameters) -> tuple[RTCRtpReceiver, FakeDtlsTransport]:
    transport = FakeDtlsTransport()
    receiver = RTCRtpReceiver(kind, transport)  # type: ignore[arg-type]
    receiver._track = RemoteStreamTrack(kind=kind)
    return receiver, transport


async def test_tap_takes_encoded_opus_frames_and_nothing_is_decoded() -> None:
    receiver, _ = _receiver("audio", OPUS)
    frames: list[EncodedFrame] = []
    tap_receiver(receiver, "audio", frames.append)
    await receiver.receive(RTCRtpReceiveParameters(codecs=[OPUS]))
    payloads = [bytes([0x78, i, 1, 2, 3]) for i in range(12)]
    for i, payload in enumerate(payloads):
        packet = RtpPacket(payload_type=111, sequence_number=1000 + i, timestamp=5000 + 960 * i)
        packet.ssrc = 1234
        packet.marker = int(i == 0)
        packet.payload = payload
        packet.extensions.audio_level = (True, 30 + i) if i % 2 else None
        await receiver._handle_rtp_packet(packet, arrival_time_ms=20 * i)
        # each packet is handed on as it arrives: aiortc's 80 ms prefetch is bypassed
        assert len(frames) == i + 1
    assert all(f.codec == "opus" and f.clock_rate_hz == 48000 and f.kind == "audio" for f in frames)
    assert [f.data for f in frames] == payloads
    assert [f.timestamp for f in frames] == [960 * i for i in range(12)]
    assert [f.sequence for f in frames] == [1000 + i for i in range(12)]
    assert [f.marker for f in frames] == [True] + [False] * 11
    assert {f.ssrc for f in frames} == {1234}
    # the browser's own RFC 6464 level, where the packet carried one
    assert [f.audio_level for f in frames] == [30 + i if i % 2 else None for i in range(12)]
    assert tapped_frames(receiver) == 12
    await asyncio.sleep(0.05)
    assert receiver.track._queue.empty()  # type: ignore[attr-defined]  # nothing decoded
    await receiver.stop()


async def test_tapped_audio_keeps_reordered_packets_and_drops_repeats() -> None:
    receiver, _ = _receiver("audio", OPUS)
    frames: list[EncodedFrame] = []
    tap_receiver(receiver, "audio", frames.append)
    await receiver.receive(RTCRtpReceiveParameters(codecs=[OPUS]))
    for seq in (7, 9, 8, 9, 10, 7):
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=960 * seq)
        packet.ssrc = 5
        packet.payload = bytes([0x78, seq])
        await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    assert [f.sequence for f in frames] == [7, 9, 8, 10]
    assert [f.data[1] for f in frames] == [7, 9, 8, 10]
    await receiver.stop()


async def test_tap_reassembles_vp8_frames() -> None:
    receiver, _ = _receiver("video", VP8)
    frames: list[EncodedFrame] = []
    tap_receiver(receiver, "video", frames.append)
    await receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    # RFC 7741 §4.2 payload descriptor: S bit on the first packet of a frame, PID 0
    for n in range(3):
        for part, first in ((b"\x10" + bytes([n]) * 10, True), (b"\x00" + bytes([n]) * 5, False)):
            packet = RtpPacket(payload_type=96, sequence_number=10 + 2 * n + (not first))
            packet.timestamp = 3000 * n
            packet.ssrc = 99
            packet.payload = part
            packet.marker = 0 if first else 1
            await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    assert [f.data for f in frames] == [bytes([n]) * 15 for n in range(len(frames))]
    assert frames and all(f.codec == "VP8" and f.clock_rate_hz == 90000 for f in frames)
    await receiver.stop()


async def test_tap_must_be_set_before_the_receiver_starts() -> None:
    receiver, _ = _receiver("audio", OPUS)
    await receiver.receive(RTCRtpReceiveParameters(codecs=[OPUS]))
    with pytest.raises(TapError, match="already started"):
        tap_receiver(receiver, "audio", lambda frame: None)
    await receiver.stop()


def test_aiortc_still_has_what_the_tap_needs() -> None:
    receiver, _ = _receiver("audio", OPUS)
    check_aiortc(receiver)
    with pytest.raises(TapError):
        check_aiortc(object())  # type: ignore[arg-type]


async def test_keyframe_request_is_sent_to_the_publisher_as_pli() -> None:
    receiver, transport = _receiver("video", VP8)
    tap_receiver(receiver, "video", lambda frame: None)
    await receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    receiver._set_rtcp_ssrc(4321)
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=0)
    packet.ssrc = 777
    packet.payload = b"\x10\x00"
    await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    transport.sent.clear()
    request_keyframe(receiver)
    await asyncio.sleep(0.01)
    sent = [p for data in transport.sent for p in RtcpPacket.parse(data)]
    assert any(
        isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_PLI and p.media_ssrc == 777
        for p in sent
    )
    await receiver.stop()


@pytest.mark.parametrize("fmt", [RTCP_PSFB_PLI, RTCP_PSFB_FIR])
async def test_subscriber_pli_and_fir_reach_the_callback(fmt: int) -> None:
    sender = RTCRtpSender(ForwardedTrack("video"), FakeDtlsTransport())  # type: ignore[arg-type]
    calls: list[int] = []
    on_keyframe_request(sender, lambda: calls.append(1))
    await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=sender._ssrc))
    assert calls == [1]


async def test_forwarded_audio_gets_its_level_written_again() -> None:
    track = ForwardedTrack("audio")
    sender = RTCRtpSender(track, FakeDtlsTransport())  # type: ignore[arg-type]
    write_audio_level(sender, lambda: track.audio_level)
    track.put(b"\x78\x01\x02", 960, Fraction(1, 48000), 37)
    frame = await sender._next_encoded_frame(OPUS)
    assert frame is not None
    assert frame.payloads == [b"\x78\x01\x02"] and frame.timestamp == 960
    assert frame.audio_level == -37  # aiortc writes -audio_level into the RFC 6464 header


def _remb(ssrc: int, bps: int, media: list[int]) -> RtcpPsfbPacket:
    return RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=ssrc, media_ssrc=0, fci=pack_remb_fci(bps, media))


def _sent_rembs(transport: FakeDtlsTransport) -> list[tuple[int, list[int]]]:
    packets = [p for data in transport.sent for p in RtcpPacket.parse(data)]
    return [
        unpack_remb_fci(p.fci)
        for p in packets
        if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP
    ]


async def test_subscriber_remb_reaches_the_callback() -> None:
    sender = RTCRtpSender(ForwardedTrack("video"), FakeDtlsTransport())  # type: ignore[arg-type]
    estimates: list[int] = []
    on_bitrate_estimate(sender, estimates.append)
    await sender._handle_rtcp_packet(_remb(1, 250_000, [sender._ssrc]))
    await sender._handle_rtcp_packet(_remb(1, 900_000, [sender._ssrc + 1]))  # another stream's
    await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0))
    assert estimates == [250_000]


async def test_publisher_is_sent_a_cap_and_its_own_rembs_are_lowered() -> None:
    receiver, transport = _receiver("video", VP8)
    tap_receiver(receiver, "video", lambda frame: None)
    limit: list[int | None] = [None]
    cap_receiver_estimates(receiver, lambda: limit[0])
    await receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    receiver._set_rtcp_ssrc(4321)
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=0)
    packet.ssrc = 777
    packet.payload = b"\x10\x00"
    await receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    transport.sent.clear()
    send_bitrate_cap(receiver, 300_000)
    await asyncio.sleep(0.01)
    assert _sent_rembs(transport) == [(300_000, [777])]
    # aiortc's own estimate passes unchanged without a cap, and is lowered under one
    transport.sent.clear()
    await receiver._send_rtcp(_remb(4321, 2_000_000, [777]))
    limit[0] = 300_000
    await receiver._send_rtcp(_remb(4321, 2_000_000, [777]))
    await receiver._send_rtcp(_remb(4321, 200_000, [777]))  # already lower: unchanged
    assert _sent_rembs(transport) == [(2_000_000, [777]), (300_000, [777]), (200_000, [777])]
    await receiver.stop()


def test_a_malformed_header_extension_drops_the_packet_not_the_connection() -> None:
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    ext_map = HeaderExtensionsMap()
    level = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    ext_map.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=2, uri=level)])
    )
    packet = RtpPacket(payload_type=111, sequence_number=1, timestamp=0)
    packet.extensions.abs_send_time = 0x123456  # sent with id 2 by a peer numbering otherwise
    sender_map = HeaderExtensionsMap()
    abs_send_time = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    sender_map.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=2, uri=abs_send_time)]
        )
    )
    wire = packet.serialize(sender_map)
    harden_header_parsing()
    with pytest.raises(ValueError, match="malformed RTP header extension"):
        RtpPacket.parse(wire, ext_map)  # aiortc's transport drops a packet on ValueError


def test_aiortc_offers_the_codecs_forwarding_relies_on() -> None:
    audio = {c.mimeType.lower() for c in get_capabilities("audio").codecs}
    video = {c.mimeType.lower() for c in get_capabilities("video").codecs}
    assert "audio/opus" in audio and {"video/vp8", "video/h264"} <= video
