"""RTCP compound packets, reception statistics and round-trip time (RFC 3550 §6, A.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipmeet.rtp import (
    NTP_UNIX_OFFSET_S,
    ReceptionStatistics,
    ReportBlock,
    RtcpBye,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpSourceDescription,
    RtpPacket,
    RtpParseError,
    SdesChunk,
    SenderStatistics,
    build_receiver_report,
    build_rtcp,
    build_sender_report,
    ntp_middle32,
    ntp_to_unix,
    parse_rtcp,
    round_trip_time_s,
    unix_to_ntp,
)

BLOCK = ReportBlock(
    ssrc=0x11111111,
    fraction_lost=64,
    cumulative_lost=-1,
    highest_sequence=0x00012345,
    jitter=37,
    lsr=0xB7052000,
    dlsr=0x00054000,
)


def test_receiver_report_wire_format() -> None:
    data = RtcpReceiverReport(0xAABBCCDD, (BLOCK,)).serialize()
    assert data == bytes.fromhex(
        "81c90007"  # V=2, RC=1, PT=201, length 7 words after the first
        "aabbccdd"
        "11111111"
        "40ffffff"  # fraction 64/256, cumulative lost -1 as 24-bit two's complement
        "00012345"
        "00000025"
        "b7052000"
        "00054000"
    )
    assert parse_rtcp(data) == [RtcpReceiverReport(0xAABBCCDD, (BLOCK,))]


def test_compound_sr_sdes_bye_round_trip() -> None:
    packets: list[RtcpPacket] = [
        RtcpSenderReport(
            ssrc=0x01020304,
            ntp_timestamp=0x83AA7E80_80000000,
            rtp_timestamp=123456,
            packet_count=50,
            octet_count=8000,
            reports=(BLOCK, ReportBlock(2, 0, 0x7FFFFF, 1, 2, 3, 4)),
        ),
        RtcpSourceDescription.for_cname(0x01020304, "sipmeet@example.com"),
        RtcpBye((0x01020304,), "call ended"),
    ]
    data = build_rtcp(packets)
    assert len(data) % 4 == 0
    assert data[:4] == bytes.fromhex("82c80012")  # SR, RC=2: 4 + 24 + 48 bytes, 19 words
    assert parse_rtcp(data) == packets


@pytest.mark.parametrize("length", range(0, 9))
def test_sdes_chunks_are_padded_to_32_bits(length: int) -> None:
    sdes = RtcpSourceDescription(
        (
            SdesChunk(7, ((1, b"x" * length), (6, b"tool"))),
            SdesChunk(8, ()),
        )
    )
    data = sdes.serialize()
    assert len(data) % 4 == 0
    (parsed,) = parse_rtcp(data)
    assert parsed == sdes
    assert isinstance(parsed, RtcpSourceDescription)
    assert parsed.chunks[0].cname == "x" * length
    assert parsed.chunks[1].cname is None


def test_bye_without_reason_and_with_padding() -> None:
    assert parse_rtcp(RtcpBye((1, 2)).serialize()) == [RtcpBye((1, 2))]
    # RFC 3550 §6.1: the padding bit on the last packet of a compound.
    padded = bytes.fromhex("a1cb00020000000100000004")
    assert parse_rtcp(padded) == [RtcpBye((1,))]


def test_feedback_app_and_xr_are_skipped() -> None:
    rr = RtcpReceiverReport(5)
    data = (
        rr.serialize()
        + bytes.fromhex("81ce00020000000500000006")  # PSFB PLI (RFC 4585)
        + bytes.fromhex("81cd0003000000050000000600010001")  # RTPFB NACK
        + bytes.fromhex("80cc0002000000056e616d65")  # APP "name"
        + bytes.fromhex("80cf000100000005")  # XR without blocks (RFC 3611)
        + bytes.fromhex("80f00000")  # an unknown type
        + RtcpBye((5,)).serialize()
    )
    assert parse_rtcp(data) == [rr, RtcpBye((5,))]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty RTCP packet"),
        (bytes.fromhex("80c9"), "RTCP packet at byte 0: 2 bytes left, a header needs 4"),
        (bytes.fromhex("40c9000100000001"), "RTCP packet at byte 0: version is 1, expected 2"),
        (
            bytes.fromhex("80c900010000000180c90005"),
            "RTCP packet at byte 8: length says 24 bytes but 4 remain",
        ),
        (
            bytes.fromhex("81c9000100000001"),
            "RTCP packet at byte 0: RR with 1 report blocks needs 28 bytes, has 4",
        ),
        (
            bytes.fromhex("80c8000100000001"),
            "RTCP packet at byte 0: SR with 0 report blocks needs 24 bytes, has 4",
        ),
        (
            bytes.fromhex("a0c9000100000000"),
            "RTCP packet at byte 0: padding length 0 is invalid",
        ),
        (bytes.fromhex("a0c90000"), "RTCP packet at byte 0: padding length 0 is invalid"),
        (
            bytes.fromhex("82ca000100000001"),
            "RTCP packet at byte 0: SDES announces 2 chunks but the packet ends",
        ),
        (
            bytes.fromhex("81ca000200000001010a6162"),
            "RTCP packet at byte 0: SDES item of type 1 runs past the packet",
        ),
        (
            bytes.fromhex("82cb000100000001"),
            "RTCP packet at byte 0: BYE announces 2 sources but has 4 bytes",
        ),
        (
            bytes.fromhex("81cb00020000000109616263"),
            "RTCP packet at byte 0: BYE reason of 9 bytes runs past the packet",
        ),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError) as info:
        parse_rtcp(data)
    assert str(info.value) == message


def test_serialize_limits() -> None:
    with pytest.raises(ValueError, match="31 report blocks"):
        RtcpReceiverReport(1, (BLOCK,) * 32).serialize()
    with pytest.raises(ValueError, match="31 SDES chunks"):
        RtcpSourceDescription((SdesChunk(1, ()),) * 32).serialize()
    with pytest.raises(ValueError, match="does not fit"):
        RtcpSourceDescription((SdesChunk(1, ((1, b"x" * 256),)),)).serialize()
    with pytest.raises(ValueError, match="31 sources"):
        RtcpBye(tuple(range(32))).serialize()
    with pytest.raises(ValueError, match="255 bytes"):
        RtcpBye((1,), "x" * 256).serialize()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_parse_or_raise_our_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except RtpParseError:
        return
    assert parse_rtcp(build_rtcp(packets)) == packets if packets else not packets


# -- time ---------------------------------------------------------------------------------


def test_ntp_conversions() -> None:
    assert unix_to_ntp(0.0) == NTP_UNIX_OFFSET_S << 32 == 0x83AA7E80_00000000
    assert unix_to_ntp(1.5) == 0x83AA7E81_80000000
    assert ntp_to_unix(0x83AA7E81_80000000) == 1.5
    assert ntp_middle32(0x83AA7E81_80000000) == 0x7E818000
    now = 1_700_000_000.123456
    assert ntp_to_unix(unix_to_ntp(now)) == pytest.approx(now, abs=1e-6)


def test_rfc3550_round_trip_time_example() -> None:
    # RFC 3550 §6.4.1, figure 2: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000,
    # so the round-trip delay is 0x0006:2000 = 6.125 s.
    ntp_seconds = 0xE100B710  # any NTP second whose low 16 bits are 0xb710
    now = ntp_seconds - NTP_UNIX_OFFSET_S + 0.5
    assert ntp_middle32(unix_to_ntp(now)) == 0xB7108000
    assert round_trip_time_s(BLOCK, now) == 6.125
    assert round_trip_time_s(ReportBlock(1, 0, 0, 0, 0, 0, 0), now) is None
    # A DLSR that overstates the delay gives 0, not a wrapped huge value.
    assert round_trip_time_s(ReportBlock(1, 0, 0, 0, 0, 0xB7108000, 0x00010000), now) == 0.0


# -- statistics ---------------------------------------------------------------------------


def _packet(seq: int, ssrc: int = 0xABC) -> RtpPacket:
    return RtpPacket(0, seq & 0xFFFF, 160 * seq, ssrc, payload=bytes(160))


def test_reception_statistics_report_blocks() -> None:
    stats = ReceptionStatistics(8000)
    assert stats.report_block(0.0) is None
    lost = {10, 11, 50, 70, 71}
    for seq in range(101):
        if seq not in lost:
            stats.receive(_packet(seq), 0.02 * seq)
    block = stats.report_block(2.5)
    assert block is not None
    # Counted from seq 1 (seq 0 was probation): expected 100, received 95.
    assert block == ReportBlock(0xABC, 5 * 256 // 100, 5, 100, 0, 0, 0)
    for seq in range(101, 201):
        stats.receive(_packet(seq), 0.02 * seq)
    block = stats.report_block(4.5)
    assert block is not None
    assert (block.fraction_lost, block.cumulative_lost, block.highest_sequence) == (0, 5, 200)


def test_reception_statistics_lsr_dlsr_and_restart() -> None:
    stats = ReceptionStatistics(8000)
    for seq in range(10):
        stats.receive(_packet(seq), 0.02 * seq)
    sr = RtcpSenderReport(0xABC, unix_to_ntp(1000.25), 0, 10, 1600)
    stats.receive_sender_report(sr, now=1.0)
    block = stats.report_block(now=1.5)
    assert block is not None
    assert block.lsr == ntp_middle32(sr.ntp_timestamp)
    assert block.dlsr == 0x8000  # 0.5 s in 1/65536 s
    # An SR about another source is not ours to report.
    stats.receive_sender_report(RtcpSenderReport(0xDEF, unix_to_ntp(1), 0, 0, 0), now=2.0)
    block = stats.report_block(now=2.0)
    assert block is not None and (block.lsr, block.dlsr) == (0, 0)
    # A new SSRC: the interval counts start over with the new source.
    for seq in range(500, 520):
        stats.receive(_packet(seq, ssrc=0x777), 3.0 + 0.02 * seq)
    block = stats.report_block(now=4.0)
    assert block is not None
    assert (block.ssrc, block.fraction_lost, block.cumulative_lost) == (0x777, 0, 0)


def test_cumulative_lost_is_clamped_to_24_bits() -> None:
    stats = ReceptionStatistics(8000)
    stats.receive(_packet(0), 0.0)
    stats.receive(_packet(1), 0.02)
    stats.source.cycles = 0x7FFF0000  # pretend an enormous number of packets never came
    block = stats.report_block(1.0)
    assert block is not None
    assert block.cumulative_lost == 0x7FFFFF
    assert block.fraction_lost == 255


def test_sender_statistics_and_round_trip_between_two_ends() -> None:
    ours = SenderStatistics(ssrc=0x5151, clock_rate_hz=8000)
    assert ours.report(100.0) == RtcpReceiverReport(0x5151)
    for i in range(50):
        ours.on_sent(timestamp=1000 + 160 * i, payload_size=160, now=100.0 + 0.02 * i)
    sr = ours.report(now=101.0)
    assert isinstance(sr, RtcpSenderReport)
    assert (sr.packet_count, sr.octet_count) == (50, 8000)
    # 0.02 s after the last packet (timestamp 1000 + 160 * 49) on an 8 kHz clock.
    assert sr.rtp_timestamp == 1000 + 160 * 49 + 160
    assert sr.ntp_timestamp == unix_to_ntp(101.0)
    # The far end receives our stream and our SR 50 ms later, reports 250 ms after that.
    theirs = ReceptionStatistics(8000)
    for i in range(50):
        theirs.receive(RtpPacket(0, i, 1000 + 160 * i, 0x5151), 100.05 + 0.02 * i)
    theirs.receive_sender_report(sr, now=101.05)
    block = theirs.report_block(now=101.30)
    assert block is not None
    # Their RR reaches us 50 ms later: the round trip is 100 ms.
    rtt = round_trip_time_s(block, now=101.35)
    assert rtt == pytest.approx(0.100, abs=1e-4)


def test_compound_report_builders() -> None:
    sr = build_sender_report(
        0x77,
        1.5,
        rtp_timestamp=8000,
        packet_count=3,
        octet_count=480,
        report_blocks=[BLOCK],
        cname="leg@sipmeet",
    )
    assert parse_rtcp(sr) == [
        RtcpSenderReport(0x77, 0x83AA7E81_80000000, 8000, 3, 480, (BLOCK,)),
        RtcpSourceDescription.for_cname(0x77, "leg@sipmeet"),
    ]
    assert parse_rtcp(build_receiver_report(0x77)) == [RtcpReceiverReport(0x77)]
    rr = build_receiver_report(0x77, report_blocks=[BLOCK], cname="x")
    assert parse_rtcp(rr) == [
        RtcpReceiverReport(0x77, (BLOCK,)),
        RtcpSourceDescription.for_cname(0x77, "x"),
    ]


def test_reception_statistics_reads_the_peers_rtcp() -> None:
    ntp_seconds = 0xE100B710
    now = ntp_seconds - NTP_UNIX_OFFSET_S + 0.5  # middle 32 bits 0xb7108000, as above
    stats = ReceptionStatistics(8000, local_ssrc=0x11111111)
    other = ReportBlock(0x22222222, 0, 0, 0, 0, 0, 0)
    stats.on_rtcp(RtcpReceiverReport(0xABC, (other, BLOCK)), now)
    assert stats.remote_report == BLOCK
    assert stats.rtt_s == 6.125
    sr = RtcpSenderReport(0xABC, unix_to_ntp(now), 0, 1, 1, ())
    stats.on_rtcp(sr, now)
    stats.on_rtcp(RtcpBye((0xABC,)), now)
    assert stats.rtt_s == 6.125  # unchanged by packets without a block about us
    for seq in range(5):
        assert stats.update(RtpPacket(0, seq, 160 * seq, 0xABC), now + 0.02 * seq) == (seq > 0)
    block = stats.report_block(now + 1.0)
    assert block is not None and block.lsr == ntp_middle32(sr.ntp_timestamp)
    assert stats.cumulative_lost == 0
    assert stats.jitter_s == pytest.approx(0.0, abs=1e-6)
    anyone = ReceptionStatistics(8000)
    anyone.on_rtcp(RtcpReceiverReport(0xABC, (other, BLOCK)), now)
    assert anyone.remote_report == other
    assert anyone.rtt_s is None  # LSR 0: no SR from us yet
