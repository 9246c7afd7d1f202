"""The media state of one phone leg, without sockets.

Incoming RTP goes through sequence tracking and the jitter buffer; on each room
tick the leg decodes what is due into one frame at the room's rate. The room's
mix for this leg goes the other way: resampled to the codec's rate only when
the rates differ, encoded, and packetised at the negotiated ptime. RTCP
reception statistics and sender reports are kept here too, so the socket layer
only moves bytes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..codecs import create_decoder, create_encoder
from ..codecs.base import Decoder, Encoder
from ..codecs.resample import StreamResampler
from ..rtp.dtmf import DtmfDigit, DtmfReceiver
from ..rtp.errors import RtpParseError
from ..rtp.jitter import JitterBuffer
from ..rtp.packet import build_rtp, is_rtcp, parse_rtp
from ..rtp.rtcp import (
    ReceptionStatistics,
    build_receiver_report,
    build_sender_report,
    parse_rtcp,
)
from ..sdp.negotiate import NegotiatedAudio
from .playout import COMFORT_NOISE_PT, Playout

__all__ = ["LegStats", "SipLegMedia"]

log = logging.getLogger(__name__)

OPUS_PHONE_RATE_HZ = 16000
Addr = tuple[str, int]


@dataclass(slots=True)
class LegStats:
    """Counters the call record and metrics read."""

    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    invalid_in: int = 0
    foreign_in: int = 0
    rtt_ms: float | None = None
    remote_fraction_lost: float | None = None
    remote_jitter_ms: float | None = None


class SipLegMedia:
    """RTP in/out and codec work for one phone leg (see module docstring)."""

    def __init__(
        self,
        negotiated: NegotiatedAudio,
        *,
        room_rate_hz: int,
        jitter_min_ms: int = 20,
        jitter_max_ms: int = 200,
        opus_complexity: int = 5,
        frame_ms: int = 20,
        ssrc: int | None = None,
        token_bits: Callable[[int], int] = secrets.randbits,
    ) -> None:
        self.negotiated = negotiated
        codec = negotiated.codec
        self.codec_name = codec.name
        self.payload_type = codec.payload_type
        self.dtmf_pt = negotiated.dtmf.payload_type if negotiated.dtmf is not None else None
        self.clock_rate_hz = codec.clock_rate_hz
        self.frame_ms = frame_ms
        self.ptime_ms = max(frame_ms, (negotiated.ptime_ms // frame_ms) * frame_ms or frame_ms)
        options: dict[str, int] = {}
        if codec.name == "opus":
            options["complexity"] = opus_complexity
        # Opus phone legs run wideband (16 kHz): libopus decodes and encodes at that
        # rate directly, so the room never needs 48 kHz for a phone.
        pcm_rate = OPUS_PHONE_RATE_HZ if codec.name == "opus" else None
        self.decoder: Decoder = create_decoder(codec.name, pcm_rate)
        self.encoder: Encoder = create_encoder(codec.name, self.decoder.sample_rate_hz, **options)
        self.codec_rate_hz = self.decoder.sample_rate_hz
        self.jitter = JitterBuffer(
            self.clock_rate_hz, min_delay_ms=jitter_min_ms, max_delay_ms=jitter_max_ms
        )
        self.dtmf = DtmfReceiver(
            negotiated.dtmf.clock_rate_hz if negotiated.dtmf is not None else 8000
        )
        self.stats = LegStats()
        self.remote_rtp: Addr = negotiated.remote_rtp
        self.remote_rtcp: Addr | None = negotiated.remote_rtcp
        self.latched = False
        self.remote_ssrc: int | None = None
        self.last_packet_at: float | None = None
        # Outgoing stream.
        self.ssrc = ssrc if ssrc is not None else token_bits(32)
        self.reception = ReceptionStatistics(self.clock_rate_hz, local_ssrc=self.ssrc)
        self._seq = token_bits(16)
        self._ts = token_bits(32)
        self._first_out = True
        self._out_samples_per_tick = self.codec_rate_hz * frame_ms // 1000
        self._ts_per_tick = self.clock_rate_hz * frame_ms // 1000
        self._ticks_per_packet = self.ptime_ms // frame_ms
        self._pending_out: list[np.ndarray] = []
        self._octets_out = 0
        # Rate conversion between the codec and the room.
        self._room_rate_hz = room_rate_hz
        self._to_room: StreamResampler | None = None
        self._from_room: StreamResampler | None = None
        self._set_rates()
        self.playout = Playout(self.jitter, self.decoder)
        self.started = False

    # -- configuration -----------------------------------------------------------

    @property
    def room_rate_hz(self) -> int:
        return self._room_rate_hz

    @room_rate_hz.setter
    def room_rate_hz(self, rate: int) -> None:
        if rate != self._room_rate_hz:
            self._room_rate_hz = rate
            self._set_rates()

    def _set_rates(self) -> None:
        same = self.codec_rate_hz == self._room_rate_hz
        self._to_room = None if same else StreamResampler(self.codec_rate_hz, self._room_rate_hz)
        self._from_room = None if same else StreamResampler(self._room_rate_hz, self.codec_rate_hz)

    def renegotiate(self, negotiated: NegotiatedAudio) -> None:
        """Apply a re-INVITE/UPDATE answer: new remote address or direction, same codec."""
        self.negotiated = negotiated
        if negotiated.remote_rtp != self.remote_rtp and not negotiated.on_hold:
            self.remote_rtp = negotiated.remote_rtp
            self.remote_rtcp = negotiated.remote_rtcp
            self.latched = False

    @property
    def sending(self) -> bool:
        return self.negotiated.direction in ("sendrecv", "sendonly") and self.remote_rtp[1] != 0

    # -- input ---------------------------------------------------------------------

    def receive(self, data: bytes, addr: Addr, now: float) -> list[DtmfDigit]:
        """One datagram from the RTP socket (RTCP too when rtcp-mux is on)."""
        if self.negotiated.rtcp_mux and is_rtcp(data):
            self.receive_rtcp(data, addr, now)
            return []
        try:
            packet = parse_rtp(data)
        except RtpParseError:
            self.stats.invalid_in += 1
            return []
        pt = packet.payload_type
        if pt != self.payload_type and pt != self.dtmf_pt and pt != COMFORT_NOISE_PT:
            self.stats.foreign_in += 1
            return []
        if not self.latched or addr != self.remote_rtp:
            # Symmetric RTP: send back to where the packets really come from (NAT).
            if not self.latched:
                log.debug("RTP latched to %s:%d", addr[0], addr[1])
            self.remote_rtp = addr
            self.latched = True
        self.stats.packets_in += 1
        self.stats.bytes_in += len(data)
        self.last_packet_at = now
        if packet.ssrc != self.remote_ssrc:
            self.remote_ssrc = packet.ssrc
        self.reception.update(packet, now)
        if pt == self.dtmf_pt:
            self.jitter.skip(packet)  # its sequence number is no lost audio
            return self.dtmf.receive(packet, now)
        self.jitter.push(packet, now)
        return []

    def receive_rtcp(self, data: bytes, addr: Addr, now: float) -> None:
        try:
            packets = parse_rtcp(data)
        except RtpParseError:
            self.stats.invalid_in += 1
            return
        if self.remote_rtcp is None or not self.negotiated.rtcp_mux:
            self.remote_rtcp = addr
        for pkt in packets:
            self.reception.on_rtcp(pkt, now)
        rtt = self.reception.rtt_s
        if rtt is not None:
            self.stats.rtt_ms = rtt * 1000.0
        remote = self.reception.remote_report
        if remote is not None:
            self.stats.remote_fraction_lost = remote.fraction_lost / 256.0
            self.stats.remote_jitter_ms = remote.jitter * 1000.0 / self.clock_rate_hz

    def poll_dtmf(self, now: float) -> list[DtmfDigit]:
        """Digits whose end packets never came (RFC 4733 §2.5.2.2)."""
        return self.dtmf.poll(now)

    # -- room tick -----------------------------------------------------------------------

    def pull(self, now: float) -> np.ndarray | None:
        """The leg's next 20 ms at the room rate, or None while it has nothing to play."""
        frame = self.playout.pull(self.codec_rate_hz * self.frame_ms // 1000, now)
        if frame is None:
            return None
        self.started = True
        if self._to_room is not None:
            frame = self._to_room.process(frame)
        return frame

    def push(self, mix: np.ndarray) -> list[bytes]:
        """Encode this leg's mix (room rate) and return the RTP packets to send now."""
        if self._from_room is not None:
            mix = self._from_room.process(mix)
        self._pending_out.append(mix)
        if len(self._pending_out) < self._ticks_per_packet:
            return []
        pcm = (
            self._pending_out[0]
            if len(self._pending_out) == 1
            else np.concatenate(self._pending_out)
        )
        self._pending_out.clear()
        payload = self.encoder.encode(pcm)
        packet = build_rtp(
            self.payload_type, self._seq, self._ts, self.ssrc, payload, marker=self._first_out
        )
        self._first_out = False
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + self._ts_per_tick * self._ticks_per_packet) & 0xFFFFFFFF
        self.stats.packets_out += 1
        self.stats.bytes_out += len(packet)
        self._octets_out += len(payload)
        return [packet]

    # -- RTCP --------------------------------------------------------------------------

    def rtcp_report(self, now: float, cname: str) -> bytes:
        """A compound SR (we send) with a report block for the remote source."""
        block = self.reception.report_block(now)
        blocks = [block] if block is not None else []
        if self.stats.packets_out:
            return build_sender_report(
                self.ssrc,
                now,
                rtp_timestamp=self._ts,
                packet_count=self.stats.packets_out,
                octet_count=self._octets_out,
                report_blocks=blocks,
                cname=cname,
            )
        return build_receiver_report(self.ssrc, report_blocks=blocks, cname=cname)

    def quality(self) -> dict[str, float | int | None]:
        """Loss, jitter and round-trip figures for the call record."""
        jb = self.jitter
        return {
            "packets_in": self.stats.packets_in,
            "packets_out": self.stats.packets_out,
            "lost": self.reception.cumulative_lost,
            "jitter_ms": round(self.reception.jitter_s * 1000.0, 2),
            "late": jb.late,
            "lost_packets_concealed": jb.lost,
            "concealed_ms": round(jb.concealed_samples * 1000 / self.clock_rate_hz),
            "jitter_buffer_ms": round(jb.delay_ms, 1),
            "rtt_ms": None if self.stats.rtt_ms is None else round(self.stats.rtt_ms, 1),
            "remote_fraction_lost": self.stats.remote_fraction_lost,
            "remote_jitter_ms": self.stats.remote_jitter_ms,
        }
