"""RTCP (RFC 3550 §6): compound packets, reception statistics, round-trip time.

:func:`parse_rtcp` reads a compound packet into SR, RR, SDES and BYE values and
skips the packet types a phone leg does not act on (APP, RTPFB, PSFB, XR, and
any unknown type) by their length. :class:`ReceptionStatistics` turns what an
:class:`RtpSource` counted into a report block (RFC 3550 §6.4.1, A.3, A.8), and
:class:`SenderStatistics` the sender-info of our own SR. Times are unix seconds
passed in as ``now``; NTP timestamps are 64-bit integers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import RtpParseError
from .packet import RtpPacket
from .seq import RtpSource

__all__ = [
    "NTP_UNIX_OFFSET_S",
    "RTCP_APP",
    "RTCP_BYE",
    "RTCP_PSFB",
    "RTCP_RR",
    "RTCP_RTPFB",
    "RTCP_SDES",
    "RTCP_SR",
    "RTCP_XR",
    "SDES_CNAME",
    "ReceptionStatistics",
    "ReportBlock",
    "RtcpBye",
    "RtcpPacket",
    "RtcpReceiverReport",
    "RtcpSenderReport",
    "RtcpSourceDescription",
    "SdesChunk",
    "SenderStatistics",
    "build_receiver_report",
    "build_rtcp",
    "build_sender_report",
    "ntp_middle32",
    "ntp_to_unix",
    "parse_rtcp",
    "round_trip_time_s",
    "unix_to_ntp",
]

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
RTCP_RTPFB = 205  # RFC 4585
RTCP_PSFB = 206  # RFC 4585
RTCP_XR = 207  # RFC 3611
SDES_CNAME = 1

NTP_UNIX_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")
_REPORT_BLOCK = struct.Struct("!IIIIII")
_SSRC = struct.Struct("!I")


# -- NTP time (RFC 3550 §4) ---------------------------------------------------------------


def unix_to_ntp(unix_s: float) -> int:
    """Unix time in seconds as a 64-bit NTP timestamp (32.32 fixed point)."""
    return round((unix_s + NTP_UNIX_OFFSET_S) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


def ntp_to_unix(ntp: int) -> float:
    """A 64-bit NTP timestamp as unix time in seconds."""
    return ntp / 4294967296.0 - NTP_UNIX_OFFSET_S


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as LSR and round-trip times use them."""
    return (ntp >> 16) & 0xFFFFFFFF


# -- packets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """A reception report block (RFC 3550 §6.4.1)."""

    ssrc: int  # the source this block reports on
    fraction_lost: int  # lost since the previous report, as a fraction of 256
    cumulative_lost: int  # 24-bit signed
    highest_sequence: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, in timestamp units
    lsr: int  # middle 32 bits of the NTP time of the last SR received, 0 if none
    dlsr: int  # delay since that SR, in 1/65536 s

    def serialize(self) -> bytes:
        return _REPORT_BLOCK.pack(
            self.ssrc,
            (self.fraction_lost & 0xFF) << 24 | (self.cumulative_lost & 0xFFFFFF),
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )


def _header(count: int, packet_type: int, body_size: int) -> bytes:
    return _HEADER.pack(0x80 | count, packet_type, body_size // 4)


def _reports(reports: tuple[ReportBlock, ...]) -> bytes:
    if len(reports) > 31:
        raise ValueError(f"at most 31 report blocks fit in one packet, got {len(reports)}")
    return b"".join(r.serialize() for r in reports)


@dataclass(frozen=True, slots=True)
class RtcpSenderReport:
    """SR (RFC 3550 §6.4.1)."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def serialize(self) -> bytes:
        body = _SENDER_INFO.pack(
            self.ssrc,
            self.ntp_timestamp & 0xFFFFFFFFFFFFFFFF,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        ) + _reports(self.reports)
        return _header(len(self.reports), RTCP_SR, len(body)) + body


@dataclass(frozen=True, slots=True)
class RtcpReceiverReport:
    """RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def serialize(self) -> bytes:
        body = _SSRC.pack(self.ssrc) + _reports(self.reports)
        return _header(len(self.reports), RTCP_RR, len(body)) + body


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """The SDES items of one source; ``items`` are (item type, value) pairs."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...]

    @property
    def cname(self) -> str | None:
        for kind, value in self.items:
            if kind == SDES_CNAME:
                return value.decode("utf-8", "replace")
        return None


@dataclass(frozen=True, slots=True)
class RtcpSourceDescription:
    """SDES (RFC 3550 §6.5)."""

    chunks: tuple[SdesChunk, ...]

    @classmethod
    def for_cname(cls, ssrc: int, cname: str) -> RtcpSourceDescription:
        return cls((SdesChunk(ssrc, ((SDES_CNAME, cname.encode("utf-8")),)),))

    def serialize(self) -> bytes:
        if len(self.chunks) > 31:
            raise ValueError(f"at most 31 SDES chunks fit in one packet, got {len(self.chunks)}")
        parts = []
        for chunk in self.chunks:
            items = bytearray()
            for kind, value in chunk.items:
                if not 1 <= kind <= 255 or len(value) > 255:
                    raise ValueError(f"SDES item type {kind} with {len(value)} bytes does not fit")
                items += bytes((kind, len(value))) + value
            # A null item ends the list, then null octets up to the next 32-bit boundary.
            items += bytes(4 - len(items) % 4)
            parts.append(_SSRC.pack(chunk.ssrc) + bytes(items))
        body = b"".join(parts)
        return _header(len(self.chunks), RTCP_SDES, len(body)) + body


@dataclass(frozen=True, slots=True)
class RtcpBye:
    """BYE (RFC 3550 §6.6)."""

    sources: tuple[int, ...]
    reason: str | None = None

    def serialize(self) -> bytes:
        if len(self.sources) > 31:
            raise ValueError(f"at most 31 sources fit in one BYE, got {len(self.sources)}")
        body = b"".join(_SSRC.pack(s) for s in self.sources)
        if self.reason is not None:
            text = self.reason.encode("utf-8")
            if len(text) > 255:
                raise ValueError(f"a BYE reason holds at most 255 bytes, got {len(text)}")
            reason = bytes((len(text),)) + text
            body += reason + bytes(-len(reason) % 4)
        return _header(len(self.sources), RTCP_BYE, len(body)) + body


RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSourceDescription | RtcpBye


def build_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """A compound RTCP packet (RFC 3550 §6.1): start it with an SR or RR."""
    return b"".join(p.serialize() for p in packets)


# -- parsing ------------------------------------------------------------------------------


def _parse_report_blocks(body: bytes, start: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for i in range(count):
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(body, start + 24 * i)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def _parse_sdes(body: bytes, count: int, where: str) -> RtcpSourceDescription:
    chunks = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise RtpParseError(f"{where}: SDES announces {count} chunks but the packet ends")
        (ssrc,) = _SSRC.unpack_from(body, pos)
        pos += 4
        items = []
        while pos < len(body):
            kind = body[pos]
            if kind == 0:
                pos = (pos + 4) & ~3  # past the null item and the padding to 32 bits
                break
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise RtpParseError(f"{where}: SDES item of type {kind} runs past the packet")
            length = body[pos + 1]
            items.append((kind, bytes(body[pos + 2 : pos + 2 + length])))
            pos += 2 + length
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return RtcpSourceDescription(tuple(chunks))


def _parse_bye(body: bytes, count: int, where: str) -> RtcpBye:
    if len(body) < 4 * count:
        raise RtpParseError(f"{where}: BYE announces {count} sources but has {len(body)} bytes")
    sources = struct.unpack_from(f"!{count}I", body)
    reason = None
    if len(body) > 4 * count:
        length = body[4 * count]
        text = body[4 * count + 1 : 4 * count + 1 + length]
        if len(text) < length:
            raise RtpParseError(f"{where}: BYE reason of {length} bytes runs past the packet")
        reason = text.decode("utf-8", "replace")
    return RtcpBye(tuple(sources), reason)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet; APP, RTPFB, PSFB, XR and unknown types are skipped.

    Raises :class:`RtpParseError` for a version other than 2, a length that runs
    past the datagram, bad padding or a body too short for what it announces.
    """
    packets: list[RtcpPacket] = []
    offset = 0
    end = len(data)
    if end == 0:
        raise RtpParseError("empty RTCP packet")
    while offset < end:
        where = f"RTCP packet at byte {offset}"
        if end - offset < 4:
            raise RtpParseError(f"{where}: {end - offset} bytes left, a header needs 4")
        first, packet_type, length = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtpParseError(f"{where}: version is {first >> 6}, expected 2")
        size = (length + 1) * 4
        if offset + size > end:
            raise RtpParseError(f"{where}: length says {size} bytes but {end - offset} remain")
        body = data[offset + 4 : offset + size]
        offset += size
        if first & 0x20:
            padding = body[-1] if body else 0
            if padding == 0 or padding > len(body):
                raise RtpParseError(f"{where}: padding length {padding} is invalid")
            body = body[:-padding]
        count = first & 0x1F
        if packet_type in (RTCP_SR, RTCP_RR):
            head = 24 if packet_type == RTCP_SR else 4
            if len(body) < head + 24 * count:
                name = "SR" if packet_type == RTCP_SR else "RR"
                raise RtpParseError(
                    f"{where}: {name} with {count} report blocks needs {head + 24 * count}"
                    f" bytes, has {len(body)}"
                )
            reports = _parse_report_blocks(body, head, count)
            if packet_type == RTCP_SR:
                ssrc, ntp, rtp_ts, packet_count, octets = _SENDER_INFO.unpack_from(body)
                packets.append(RtcpSenderReport(ssrc, ntp, rtp_ts, packet_count, octets, reports))
            else:
                packets.append(RtcpReceiverReport(_SSRC.unpack_from(body)[0], reports))
        elif packet_type == RTCP_SDES:
            packets.append(_parse_sdes(body, count, where))
        elif packet_type == RTCP_BYE:
            packets.append(_parse_bye(body, count, where))
        # APP, RTPFB, PSFB, XR and anything unknown: skipped by its length.
    return packets


# -- statistics ---------------------------------------------------------------------------


class ReceptionStatistics:
    """The receive side of one stream: feeds an :class:`RtpSource`, makes report blocks.

    It also reads the peer's RTCP (:meth:`on_rtcp`): the SR times for our LSR/DLSR,
    and the peer's report block about our stream (``remote_report``, ``rtt_s``).
    ``local_ssrc`` picks that block when a report carries several.
    """

    __slots__ = (
        "_expected_prior",
        "_generation",
        "_received_prior",
        "_sr",
        "local_ssrc",
        "remote_report",
        "rtt_s",
        "source",
    )

    def __init__(self, clock_rate_hz: int, *, local_ssrc: int | None = None) -> None:
        self.source = RtpSource(clock_rate_hz)
        self.local_ssrc = local_ssrc
        self._expected_prior = 0
        self._received_prior = 0
        self._generation = 0
        self._sr: tuple[int, int, float] | None = None  # (ssrc, LSR, arrival time)
        self.remote_report: ReportBlock | None = None  # the peer's latest block about us
        self.rtt_s: float | None = None  # round-trip time from that block

    def receive(self, packet: RtpPacket, now: float) -> bool:
        """Count one received RTP packet; ``False`` when RFC 3550 A.1 says not to use it."""
        return self.source.update(packet.ssrc, packet.sequence, packet.timestamp, now)

    update = receive

    @property
    def cumulative_lost(self) -> int:
        return self.source.lost

    @property
    def jitter_s(self) -> float:
        return self.source.jitter_s

    def on_rtcp(self, packet: RtcpPacket, now: float) -> None:
        """Take in one packet of the peer's compound RTCP."""
        if isinstance(packet, RtcpSenderReport):
            self.receive_sender_report(packet, now)
        if isinstance(packet, RtcpSenderReport | RtcpReceiverReport):
            for block in packet.reports:
                if self.local_ssrc is None or block.ssrc == self.local_ssrc:
                    self.remote_report = block
                    rtt = round_trip_time_s(block, now)
                    if rtt is not None:
                        self.rtt_s = rtt
                    break

    def receive_sender_report(self, report: RtcpSenderReport, now: float) -> None:
        """Remember an SR's time for the LSR and DLSR of our next report block."""
        self._sr = (report.ssrc, ntp_middle32(report.ntp_timestamp), now)

    def report_block(self, now: float) -> ReportBlock | None:
        """The block for our next SR/RR (RFC 3550 A.3); ``None`` before the source is valid.

        Each call starts a new interval for the fraction lost.
        """
        source = self.source
        if not source.valid or source.ssrc is None:
            return None
        if source.restarts != self._generation:
            self._generation = source.restarts
            self._expected_prior = self._received_prior = 0
        expected = source.expected
        expected_interval = expected - self._expected_prior
        received_interval = source.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = source.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lsr = dlsr = 0
        if self._sr is not None and self._sr[0] == source.ssrc:
            _, lsr, arrival = self._sr
            dlsr = max(0, round((now - arrival) * 65536))
        return ReportBlock(
            ssrc=source.ssrc,
            fraction_lost=fraction,
            cumulative_lost=max(-0x800000, min(0x7FFFFF, source.lost)),
            highest_sequence=source.extended_max_seq & 0xFFFFFFFF,
            jitter=int(source.jitter),
            lsr=lsr,
            dlsr=dlsr,
        )


class SenderStatistics:
    """The send side of one stream: counts what we sent, makes our SR (RFC 3550 §6.4.1)."""

    __slots__ = (
        "_last_sent_s",
        "_last_timestamp",
        "clock_rate_hz",
        "octet_count",
        "packet_count",
        "ssrc",
    )

    def __init__(self, ssrc: int, clock_rate_hz: int) -> None:
        self.ssrc = ssrc
        self.clock_rate_hz = clock_rate_hz
        self.packet_count = 0
        self.octet_count = 0  # payload octets, without headers or padding
        self._last_timestamp = 0
        self._last_sent_s = 0.0

    def on_sent(self, timestamp: int, payload_size: int, now: float) -> None:
        """Count one RTP packet we sent."""
        self.packet_count += 1
        self.octet_count += payload_size
        self._last_timestamp = timestamp
        self._last_sent_s = now

    def report(
        self, now: float, reports: tuple[ReportBlock, ...] = ()
    ) -> RtcpSenderReport | RtcpReceiverReport:
        """An SR once we have sent, else an RR; ``reports`` are our report blocks."""
        if not self.packet_count:
            return RtcpReceiverReport(self.ssrc, reports)
        # The RTP timestamp that corresponds to `now` on our media clock.
        elapsed = round((now - self._last_sent_s) * self.clock_rate_hz)
        return RtcpSenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=unix_to_ntp(now),
            rtp_timestamp=(self._last_timestamp + elapsed) & 0xFFFFFFFF,
            packet_count=self.packet_count & 0xFFFFFFFF,
            octet_count=self.octet_count & 0xFFFFFFFF,
            reports=reports,
        )


def build_sender_report(
    ssrc: int,
    now: float,
    *,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    report_blocks: Iterable[ReportBlock] = (),
    cname: str | None = None,
) -> bytes:
    """A compound RTCP packet: our SR at ``now``, then SDES CNAME when given."""
    packets: list[RtcpPacket] = [
        RtcpSenderReport(
            ssrc,
            unix_to_ntp(now),
            rtp_timestamp,
            packet_count,
            octet_count,
            tuple(report_blocks),
        )
    ]
    if cname is not None:
        packets.append(RtcpSourceDescription.for_cname(ssrc, cname))
    return build_rtcp(packets)


def build_receiver_report(
    ssrc: int, *, report_blocks: Iterable[ReportBlock] = (), cname: str | None = None
) -> bytes:
    """A compound RTCP packet: our RR, then SDES CNAME when given."""
    packets: list[RtcpPacket] = [RtcpReceiverReport(ssrc, tuple(report_blocks))]
    if cname is not None:
        packets.append(RtcpSourceDescription.for_cname(ssrc, cname))
    return build_rtcp(packets)


def round_trip_time_s(block: ReportBlock, now: float) -> float | None:
    """RFC 3550 §6.4.1: A - LSR - DLSR for a block about our stream received at ``now``.

    ``None`` when the peer has not received an SR from us yet (LSR 0).
    """
    if block.lsr == 0:
        return None
    arrival = ntp_middle32(unix_to_ntp(now))
    rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt & 0x80000000:  # negative: the peer's DLSR overstates; clocks are not exact
        return 0.0
    return rtt / 65536.0
