"""RFC 4733 telephone-events: receiving, sending, and SIP INFO bodies."""

from __future__ import annotations

import pytest

from sipmeet.rtp import (
    DTMF_DIGITS,
    DtmfDigit,
    DtmfPacketPlan,
    DtmfReceiver,
    DtmfSender,
    RtpPacket,
    RtpParseError,
    TelephoneEvent,
    parse_dtmf_info,
    parse_telephone_event,
)

SSRC = 0x4733


def event_packet(
    seq: int, timestamp: int, event: int, duration: int, *, end: bool = False, marker: bool = False
) -> RtpPacket:
    payload = TelephoneEvent(event, end, 10, duration).serialize()
    return RtpPacket(101, seq, timestamp, SSRC, marker, payload)


# RFC 4733 §5, the first rows of the table: digit "9" in 50 ms packets at 8000 Hz,
# then the first packet of digit "1" at timestamp 7040.
# (time ms, M, timestamp, seq, event, duration, E)
RFC4733_S5 = [
    (50, True, 0, 1, 9, 400, False),
    (100, False, 0, 2, 9, 800, False),
    (150, False, 0, 3, 9, 1200, False),
    (200, False, 0, 4, 9, 1600, False),
    (250, False, 0, 5, 9, 1600, True),
    (300, False, 0, 6, 9, 1600, True),
    (930, True, 7040, 7, 1, 400, False),
]


def test_rfc4733_example_gives_each_digit_once() -> None:
    receiver = DtmfReceiver(8000)
    emitted: list[tuple[int, list[DtmfDigit]]] = []
    for time_ms, marker, ts, seq, event, duration, end in RFC4733_S5:
        packet = event_packet(seq, ts, event, duration, end=end, marker=marker)
        emitted.append((seq, receiver.receive(packet, time_ms / 1000)))
    assert emitted == [
        (1, []),
        (2, []),
        (3, []),
        (4, []),
        (5, [DtmfDigit("9", 200, 0, 10, True)]),
        (6, []),  # the repeated end packet
        (7, []),  # "1" has started
    ]
    deadline = receiver.next_deadline()
    assert deadline is not None and deadline == pytest.approx(0.930 + 0.3)
    assert receiver.poll(1.2) == []
    assert receiver.poll(deadline) == [DtmfDigit("1", 50, 7040, 10, False)]
    assert receiver.next_deadline() is None
    assert receiver.poll(5.0) == []


def test_lost_start_and_marker() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(event_packet(3, 800, 5, 480), 0.0) == []
    assert receiver.receive(event_packet(4, 800, 5, 640, end=True), 0.02) == [
        DtmfDigit("5", 80, 800, 10, True)
    ]


def test_only_end_packets_arrive() -> None:
    receiver = DtmfReceiver()
    digits = []
    for seq in (10, 11, 12):
        digits += receiver.receive(event_packet(seq, 1600, 11, 960, end=True), 0.1 + seq / 100)
    assert digits == [DtmfDigit("#", 120, 1600, 10, True)]


def test_event_without_end_ends_at_the_next_event() -> None:
    receiver = DtmfReceiver()
    receiver.receive(event_packet(1, 0, 1, 160, marker=True), 0.0)
    receiver.receive(event_packet(2, 0, 1, 320), 0.02)
    digits = receiver.receive(event_packet(3, 4000, 2, 160, marker=True), 0.5)
    assert digits == [DtmfDigit("1", 40, 0, 10, False)]
    # A late update of the first event must not bring it back.
    assert receiver.receive(event_packet(4, 0, 1, 480), 0.51) == []
    assert receiver.receive(event_packet(5, 4000, 2, 480, end=True), 0.52) == [
        DtmfDigit("2", 60, 4000, 10, True)
    ]


def test_same_digit_twice_in_a_row_without_markers() -> None:
    receiver = DtmfReceiver()
    digits = []
    for ts in (0, 3200):
        for i, duration in enumerate((160, 320, 480)):
            digits += receiver.receive(event_packet(ts + i, ts, 7, duration), ts / 8000 + i / 50)
    digits += receiver.poll(2.0)
    assert [d.digit for d in digits] == ["7", "7"]
    assert [d.timestamp for d in digits] == [0, 3200]


def test_long_event_in_segments() -> None:
    # RFC 4733 §2.5.1.3: an event longer than 0xFFFF timestamp units goes on in a new
    # segment whose timestamp is the old one plus 0xFFFF.
    receiver = DtmfReceiver()
    assert receiver.receive(event_packet(1, 1000, 0, 0xFF00, marker=True), 0.0) == []
    assert receiver.receive(event_packet(2, 1000, 0, 0xFFFF), 0.05) == []
    assert receiver.receive(event_packet(3, 1000 + 0xFFFF, 0, 400), 0.10) == []
    assert receiver.receive(event_packet(4, 1000 + 0xFFFF, 0, 800, end=True), 0.15) == [
        DtmfDigit("0", (0xFFFF + 800) * 1000 // 8000, 1000, 10, True)
    ]
    assert receiver.receive(event_packet(5, 1000, 0, 0xFFFF), 0.2) == []


def test_other_events_and_bad_payloads() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(event_packet(1, 0, 16, 160, end=True), 0.0) == []  # flash
    with pytest.raises(RtpParseError) as info:
        receiver.receive(RtpPacket(101, 2, 0, SSRC, payload=b"\x01\x8a\x00"), 0.0)
    assert str(info.value) == "telephone-event payload of 3 bytes is shorter than 4 bytes"


def test_opus_clock_durations() -> None:
    receiver = DtmfReceiver(48000)
    assert receiver.receive(event_packet(1, 0, 4, 4800, end=True), 0.0) == [
        DtmfDigit("4", 100, 0, 10, True)
    ]


def test_parse_telephone_event() -> None:
    assert parse_telephone_event(bytes.fromhex("098a0640")) == TelephoneEvent(9, True, 10, 1600)
    assert TelephoneEvent(9, True, 10, 1600).serialize() == bytes.fromhex("098a0640")
    # Extra event reports after the first are ignored.
    assert parse_telephone_event(bytes.fromhex("010a0190098a0640")).event == 1


def test_sender_plan_follows_rfc4733() -> None:
    sender = DtmfSender(8000, ptime_ms=50)
    plan = sender.plan("9", timestamp=0, duration_ms=200)
    # RFC 4733 §5: updates every 50 ms with the duration so far; §2.5.1.4: the final
    # packet, E bit set, three times.
    assert plan == [
        DtmfPacketPlan(50, True, 0, bytes.fromhex("090a0190")),
        DtmfPacketPlan(100, False, 0, bytes.fromhex("090a0320")),
        DtmfPacketPlan(150, False, 0, bytes.fromhex("090a04b0")),
        DtmfPacketPlan(200, False, 0, bytes.fromhex("098a0640")),
        DtmfPacketPlan(250, False, 0, bytes.fromhex("098a0640")),
        DtmfPacketPlan(300, False, 0, bytes.fromhex("098a0640")),
    ]


def test_sender_short_digit_and_case() -> None:
    plan = DtmfSender(8000, ptime_ms=20, volume=0).plan("a", timestamp=2**32 + 5, duration_ms=30)
    assert [(p.offset_ms, p.marker, p.timestamp) for p in plan] == [
        (20, True, 5),
        (30, False, 5),
        (50, False, 5),
        (70, False, 5),
    ]
    assert [parse_telephone_event(p.payload) for p in plan] == [
        TelephoneEvent(12, False, 0, 160),
        *[TelephoneEvent(12, True, 0, 240)] * 3,
    ]
    # Shorter than one packet time: the end packets alone, the first with the marker.
    plan = DtmfSender(8000).plan("1", timestamp=0, duration_ms=10)
    assert [(p.offset_ms, p.marker) for p in plan] == [(10, True), (30, False), (50, False)]


@pytest.mark.parametrize("digit", list(DTMF_DIGITS))
def test_sender_to_receiver(digit: str) -> None:
    plan = DtmfSender(48000).plan(digit, timestamp=123456, duration_ms=160)
    receiver = DtmfReceiver(48000)
    digits = []
    for seq, item in enumerate(plan):
        packet = RtpPacket(101, seq, item.timestamp, SSRC, item.marker, item.payload)
        digits += receiver.receive(packet, item.offset_ms / 1000)
    assert digits == [DtmfDigit(digit, 160, 123456, 10, True)]


def test_sender_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        DtmfSender().plan("E", 0)
    with pytest.raises(ValueError, match="not a DTMF digit"):
        DtmfSender().plan("12", 0)
    with pytest.raises(ValueError, match="duration"):
        DtmfSender().plan("1", 0, duration_ms=0)
    with pytest.raises(ValueError, match="duration"):
        DtmfSender(48000).plan("1", 0, duration_ms=2000)
    with pytest.raises(ValueError, match="ptime"):
        DtmfSender(ptime_ms=0)
    with pytest.raises(ValueError, match="volume"):
        DtmfSender(volume=64)


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", b"Signal=5\nDuration=160", "5"),
        ("Application/DTMF-Relay; charset=utf-8", b"signal= *\r\nduration=250", "*"),
        ("application/dtmf-relay", b"Signal=#\r\n", "#"),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=100", "#"),
        ("application/dtmf-relay", b"Signal=10", "*"),
        ("application/dtmf-relay", b"Signal=d", "D"),
        ("application/dtmf-relay", b"Signal=16\r\n", None),
        ("application/dtmf-relay", b"Signal=hello", None),
        ("application/dtmf-relay", b"Duration=160", None),
        ("application/dtmf-relay", b"", None),
        ("application/dtmf", b"5", "5"),
        ("application/dtmf", b" 7\r\n", "7"),
        ("application/dtmf", b"b", "B"),
        ("application/dtmf", b"11", "#"),
        ("application/dtmf", b"", None),
        ("application/sdp", b"Signal=5", None),
        ("text/plain", b"5", None),
    ],
)
def test_parse_dtmf_info(content_type: str, body: bytes, digit: str | None) -> None:
    assert parse_dtmf_info(content_type, body) == digit
