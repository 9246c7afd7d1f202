"""RTP packet parsing and building (RFC 3550 §5.1) and RTP/RTCP demultiplexing (RFC 5761 §4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipmeet.rtp import RtpPacket, RtpParseError, build_rtp, is_rtcp, parse_rtp

# A PCMU packet: V=2, M=0, PT=0, seq 1234, ts 160000, SSRC 0xdeadbeef, 160 bytes of 0xff.
PCMU = bytes.fromhex("800004d200027100deadbeef") + b"\xff" * 160


def test_plain_pcmu_packet() -> None:
    packet = parse_rtp(PCMU)
    assert packet == RtpPacket(0, 1234, 160000, 0xDEADBEEF, False, b"\xff" * 160)
    assert packet.serialize() == PCMU
    assert build_rtp(0, 1234, 160000, 0xDEADBEEF, b"\xff" * 160) == PCMU


def test_marker_and_payload_type() -> None:
    data = bytes.fromhex("80e5ffffffffffff00000001") + b"\x01\x02"
    packet = parse_rtp(data)
    assert (packet.payload_type, packet.marker, packet.sequence, packet.timestamp) == (
        101,
        True,
        65535,
        0xFFFFFFFF,
    )
    assert packet.payload == b"\x01\x02"
    assert build_rtp(101, 65535, 0xFFFFFFFF, 1, b"\x01\x02", marker=True) == data
    assert build_rtp(101, 65536 + 65535, 2**32 + 0xFFFFFFFF, 1, b"\x01\x02", True) == data


def test_csrc_extension_and_padding() -> None:
    data = (
        bytes.fromhex("b30800010000000200000003")  # V=2 P=1 X=1 CC=3, PT 8
        + bytes.fromhex("0000000a0000000b0000000c")  # CSRCs
        + bytes.fromhex("bede000110ff0000")  # RFC 8285 one-byte header extension
        + b"abc"  # payload
        + b"\x00\x00\x03"  # 3 bytes of padding
    )
    packet = parse_rtp(data)
    assert packet == RtpPacket(
        payload_type=8,
        sequence=1,
        timestamp=2,
        ssrc=3,
        marker=False,
        payload=b"abc",
        csrc=(10, 11, 12),
        extension=(0xBEDE, bytes.fromhex("10ff0000")),
    )
    assert packet.serialize(padding=3) == data
    assert parse_rtp(packet.serialize()) == packet


def test_padding_only_packet() -> None:
    data = bytes.fromhex("a0000001000000020000000300000004")
    assert parse_rtp(data).payload == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "RTP packet of 0 bytes is shorter than the 12-byte header"),
        (PCMU[:11], "RTP packet of 11 bytes is shorter than the 12-byte header"),
        (b"\x40" + PCMU[1:], "RTP version is 1, expected 2"),
        (b"\x00" + PCMU[1:], "RTP version is 0, expected 2"),
        (
            bytes.fromhex("8f000001000000020000000300000004"),
            "RTP header lists 15 CSRCs (72 bytes) but the packet has 16 bytes",
        ),
        (
            bytes.fromhex("90000001000000020000000300"),
            "RTP header extension flag set but only 1 bytes follow the header",
        ),
        (
            bytes.fromhex("9000000100000002000000030000000200000000"),
            "RTP header extension of 2 words needs 8 bytes but 4 remain",
        ),
        (
            bytes.fromhex("a00000010000000200000003aabb00"),
            "RTP padding length 0 is invalid with 3 bytes after the header",
        ),
        (
            bytes.fromhex("a00000010000000200000003aabb09"),
            "RTP padding length 9 is invalid with 3 bytes after the header",
        ),
        (
            bytes.fromhex("a00000010000000200000003"),
            "RTP padding length 0 is invalid with 0 bytes after the header",
        ),
    ],
)
def test_parse_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError) as info:
        parse_rtp(data)
    assert str(info.value) == message


def test_serialize_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="15 CSRCs"):
        RtpPacket(0, 0, 0, 0, csrc=tuple(range(16))).serialize()
    with pytest.raises(ValueError, match="padding"):
        RtpPacket(0, 0, 0, 0).serialize(padding=256)
    with pytest.raises(ValueError, match="32-bit words"):
        RtpPacket(0, 0, 0, 0, extension=(1, b"abc")).serialize()


def test_is_rtcp() -> None:
    assert is_rtcp(bytes.fromhex("80c80006"))  # SR, PT 200
    assert is_rtcp(bytes.fromhex("81c90007"))  # RR, PT 201
    assert is_rtcp(bytes.fromhex("80cf0000"))  # XR, PT 207
    assert not is_rtcp(PCMU)
    assert not is_rtcp(build_rtp(96, 1, 1, 1, b"", marker=True))  # second byte 224
    assert not is_rtcp(build_rtp(127, 1, 1, 1, b""))
    assert not is_rtcp(b"\x80")
    assert not is_rtcp(b"")


_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    marker=st.booleans(),
    payload=st.binary(max_size=64),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.one_of(
        st.none(),
        st.tuples(
            st.integers(0, 0xFFFF), st.binary(max_size=16).map(lambda b: b + bytes(-len(b) % 4))
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(_packets, st.integers(0, 255))
def test_round_trip(packet: RtpPacket, padding: int) -> None:
    assert parse_rtp(packet.serialize(padding=padding)) == packet


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_raise_our_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RtpParseError:
        return
    assert parse_rtp(packet.serialize()) == packet
