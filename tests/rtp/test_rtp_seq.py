"""RFC 3550 A.1 sequence validation and A.8 interarrival jitter."""

from __future__ import annotations

import pytest

from sipmeet.rtp import RtpSource

SSRC = 0x1234


def feed(source: RtpSource, seqs: list[int], ssrc: int = SSRC) -> list[bool]:
    return [source.update(ssrc, s & 0xFFFF, 160 * i, 0.02 * i) for i, s in enumerate(seqs)]


def test_probation_then_counting() -> None:
    source = RtpSource(8000)
    assert not source.valid
    assert source.expected == 0
    assert feed(source, list(range(100, 200))) == [False] + [True] * 99
    assert source.valid
    assert source.base_seq == 101
    assert (source.received, source.expected, source.lost) == (99, 99, 0)
    assert source.extended_max_seq == 199


def test_probation_restarts_on_a_gap() -> None:
    source = RtpSource(8000)
    assert feed(source, [10, 20, 21, 22]) == [False, False, True, True]
    assert source.base_seq == 21
    assert source.received == 2


def test_min_sequential_is_configurable() -> None:
    source = RtpSource(8000, min_sequential=3)
    assert feed(source, [1, 2, 3, 4]) == [False, False, True, True]


def test_sequence_wrap_extends() -> None:
    source = RtpSource(8000)
    feed(source, list(range(65530, 65536 + 6)))
    assert source.cycles == 65536
    assert source.extended_max_seq == 65536 + 5
    assert (source.expected, source.received, source.lost) == (11, 11, 0)


def test_losses_duplicates_and_reordering() -> None:
    source = RtpSource(8000)
    feed(source, [0, 1, 2, 5, 4, 6, 6, 9])
    # expected 1..9 = 9; received 1,2,5,4,6,6,9 = 7
    assert (source.expected, source.received, source.lost) == (9, 7, 2)
    feed(source, [10, 10, 10, 11])
    assert source.lost == 0  # duplicates make up for the losses: RFC 3550 §6.4.1 allows it


def test_large_jump_is_believed_only_when_confirmed() -> None:
    source = RtpSource(8000)
    feed(source, [0, 1, 2])
    assert not source.update(SSRC, 5000, 0, 1.0)  # a jump of 4998 > MAX_DROPOUT
    assert source.update(SSRC, 3, 0, 1.0)  # the stream goes on where it was
    assert source.extended_max_seq == 3
    assert not source.update(SSRC, 9000, 0, 1.0)
    assert source.update(SSRC, 9001, 0, 1.02)  # confirmed: the source restarts
    assert source.restarts == 1
    assert (source.base_seq, source.received, source.expected) == (9001, 1, 1)


def test_late_old_packets_count_as_received() -> None:
    source = RtpSource(8000)
    feed(source, list(range(0, 200)))
    assert source.update(SSRC, 150, 0, 5.0)  # within MAX_MISORDER behind: reordered
    assert not source.update(SSRC, 80, 0, 5.0)  # 119 behind: a jump, needs confirmation
    assert source.received == 200


def test_ssrc_change_starts_a_new_source() -> None:
    source = RtpSource(8000)
    feed(source, [0, 1, 2, 3])
    assert not source.update(0x9999, 500, 0, 1.0)
    assert source.ssrc == 0x9999
    assert source.restarts == 1
    assert not source.valid
    assert source.update(0x9999, 501, 160, 1.02)
    assert (source.received, source.expected) == (1, 1)


def test_jitter_follows_rfc3550_a8() -> None:
    source = RtpSource(8000)
    # Transit constant: no jitter, across an RTP timestamp wrap too.
    start = 2**32 - 320
    for i in range(6):
        source.update(SSRC, i, (start + 160 * i) & 0xFFFFFFFF, 10.0 + 0.02 * i)
    assert source.jitter == pytest.approx(0.0, abs=1e-9)
    # One packet 10 ms late, the next on time: |D| = 80 timestamp units twice.
    source.update(SSRC, 6, (start + 160 * 6) & 0xFFFFFFFF, 10.0 + 0.02 * 6 + 0.010)
    assert source.jitter == pytest.approx(80 / 16)
    source.update(SSRC, 7, (start + 160 * 7) & 0xFFFFFFFF, 10.0 + 0.02 * 7)
    assert source.jitter == pytest.approx(5 + (80 - 5) / 16)
    assert source.jitter_s == pytest.approx(source.jitter / 8000)


def test_jitter_of_a_steady_random_stream() -> None:
    import random

    rng = random.Random(3)
    source = RtpSource(8000)
    for i in range(3000):
        source.update(SSRC, i, 160 * i, 0.02 * i + rng.uniform(0, 0.02))
    # E|U1 - U2| for U uniform on [0, 20 ms] is 20/3 ms = 53.3 timestamp units.
    assert source.jitter == pytest.approx(53.3, rel=0.15)


def test_bad_clock_rate() -> None:
    with pytest.raises(ValueError, match="clock rate"):
        RtpSource(0)
