"""The adaptive jitter buffer, driven by synthetic arrival schedules and a fake clock."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from sipmeet.rtp import Gap, JitterBuffer, RtpPacket

RATE = 8000
SSRC = 0x5EED

Item = RtpPacket | Gap
Arrival = tuple[float, RtpPacket]


def stream(
    count: int,
    *,
    ptime_ms: int = 20,
    network: Callable[[int], float | None] = lambda i: 0.030,
    first_seq: int = 1000,
    first_ts: int = 50_000,
    ssrc: int = SSRC,
    talk: Callable[[int], bool] = lambda i: True,
) -> list[Arrival]:
    """Packet i is sent at i * ptime and arrives `network(i)` later (None: lost).

    `talk(i)` False leaves packet i unsent (silence suppression): sequence numbers
    skip nothing, timestamps go on with time, and the next packet sent has the marker.
    """
    spp = RATE * ptime_ms // 1000
    arrivals = []
    seq = first_seq
    silent_before = True
    for i in range(count):
        if not talk(i):
            silent_before = True
            continue
        packet = RtpPacket(
            0,
            seq & 0xFFFF,
            (first_ts + i * spp) & 0xFFFFFFFF,
            ssrc,
            marker=silent_before,
            payload=bytes(spp),
        )
        seq += 1
        silent_before = False
        delay = network(i)
        if delay is not None:
            arrivals.append((i * ptime_ms / 1000 + delay, packet))
    return arrivals


def play(
    arrivals: list[Arrival], *, until: float, tick: float = 0.005, jb: JitterBuffer | None = None
) -> tuple[JitterBuffer, list[tuple[float, Item]]]:
    """Push packets as they arrive and pop everything due at every tick."""
    jb = jb or JitterBuffer(RATE)
    pending = sorted(arrivals, key=lambda a: a[0])
    out: list[tuple[float, Item]] = []
    index = 0
    steps = round(until / tick)
    for step in range(steps + 1):
        now = step * tick
        while index < len(pending) and pending[index][0] <= now:
            jb.push(pending[index][1], pending[index][0])
            index += 1
        while (item := jb.pop(now)) is not None:
            out.append((now, item))
    return jb, out


def sequences(out: list[tuple[float, Item]]) -> list[int]:
    return [item.sequence for _, item in out if isinstance(item, RtpPacket)]


def gaps(out: list[tuple[float, Item]]) -> list[int]:
    return [item.samples for _, item in out if isinstance(item, Gap)]


def test_steady_stream_plays_every_packet_in_order_after_the_minimum_delay() -> None:
    arrivals = stream(100)
    jb, out = play(arrivals, until=2.5)
    assert sequences(out) == list(range(1000, 1100))
    played_at = {item.sequence: t for t, item in out if isinstance(item, RtpPacket)}
    arrived_at = {p.sequence: t for t, p in arrivals}
    for seq, t in played_at.items():
        assert 0.020 - 1e-9 <= t - arrived_at[seq] <= 0.025 + 1e-9
    # After the last packet: a little concealment (loss or silence?), then quiet.
    assert gaps(out) == [160] * 5
    assert (jb.received, jb.late, jb.lost, jb.duplicate, jb.resets) == (100, 0, 0, 0, 0)
    assert jb.delay_ms == pytest.approx(20)
    assert jb.pop(10.0) is None


def test_nothing_before_the_first_packet() -> None:
    jb = JitterBuffer(RATE)
    assert jb.pop(0.0) is None
    assert jb.buffered == 0


def test_reordered_packets_come_out_in_order() -> None:
    arrivals = stream(200, network=lambda i: 0.030 + (0.015 if i % 2 == 0 else 0.0))
    # even packets overtaken by the next odd one
    jb, out = play(arrivals, until=5.0)
    assert sequences(out) == list(range(1000, 1200))
    assert (jb.late, jb.lost) == (0, 0)


def test_first_packets_reordered_before_playout_starts() -> None:
    arrivals = stream(20, network=lambda i: 0.030 if i else 0.060)  # packet 0 after packet 1
    jb, out = play(arrivals, until=1.0)
    assert sequences(out) == list(range(1000, 1020))
    assert (jb.late, jb.duplicate) == (0, 0)


def test_duplicates_are_dropped() -> None:
    arrivals = stream(50)
    arrivals += [(t + 0.001, p) for t, p in arrivals[10:15]]  # buffered duplicates
    arrivals += [(t + 0.5, p) for t, p in arrivals[20:23]]  # duplicates of played packets
    jb, out = play(arrivals, until=2.0)
    assert sequences(out) == list(range(1000, 1050))
    assert jb.duplicate == 8


def test_lost_packets_become_gaps_in_their_place() -> None:
    lost = {10, 30, 31, 32}
    jb, out = play(stream(60, network=lambda i: None if i in lost else 0.030), until=2.0)
    items = [item for _, item in out]
    assert sequences(out) == [s for s in range(1000, 1060) if s - 1000 not in lost]
    index = items.index(next(i for i in items if isinstance(i, RtpPacket) and i.sequence == 1009))
    assert items[index + 1] == Gap(160)
    after = items[index + 2]
    assert isinstance(after, RtpPacket) and after.sequence == 1011
    index = items.index(next(i for i in items if isinstance(i, RtpPacket) and i.sequence == 1029))
    assert items[index + 1 : index + 4] == [Gap(160)] * 3
    assert jb.lost == 4
    assert jb.late == 0


def test_sequence_numbers_of_rfc4733_packets_are_not_lost_audio() -> None:
    """A key press: audio 0-19, then four RFC 4733 packets take sequence numbers while no
    audio is sent for 80 ms, then audio again; one real loss after it."""
    jb = JitterBuffer(RATE)
    audio = stream(20) + [(t + 0.480, p) for t, p in stream(20, first_seq=1024, first_ts=53_840)]
    audio = [(t, p) for t, p in audio if p.sequence != 1030]  # really lost
    events = [
        (0.4 + 0.02 * k + 0.03, RtpPacket(101, 1020 + k, 53_200, SSRC, marker=k == 0))
        for k in range(4)
    ]
    pending = sorted(audio + events, key=lambda a: a[0])
    out: list[Item] = []
    for step in range(round(1.5 / 0.005) + 1):
        now = step * 0.005
        while pending and pending[0][0] <= now:
            at, packet = pending.pop(0)
            if packet.payload_type == 101:
                jb.skip(packet)
            else:
                jb.push(packet, at)
        while (item := jb.pop(now)) is not None:
            out.append(item)
    played = [i.sequence for i in out if isinstance(i, RtpPacket)]
    assert played == [s for s in range(1000, 1044) if not 1020 <= s <= 1023 and s != 1030]
    assert jb.lost == 1  # only the real loss; the event's sequence numbers were used
    # a late-told event packet takes back a loss already counted
    late = JitterBuffer(RATE)
    _, out = play(
        stream(10) + stream(10, first_seq=1011, first_ts=50_000 + 11 * 160), until=1.0, jb=late
    )
    assert late.lost == 1
    late.skip(RtpPacket(101, 1010, 51_600, SSRC))
    assert late.lost == 0


@pytest.mark.parametrize("ptime_ms", [10, 20, 30, 40])
def test_packet_durations(ptime_ms: int) -> None:
    spp = RATE * ptime_ms // 1000
    count = 2000 // ptime_ms
    lost = {count // 2}
    rng = random.Random(ptime_ms)
    arrivals = stream(
        count,
        ptime_ms=ptime_ms,
        network=lambda i: None if i in lost else 0.030 + rng.uniform(0, 0.010),
    )
    jb, out = play(arrivals, until=3.0)
    assert len(sequences(out)) == count - 1
    assert sequences(out) == sorted(sequences(out))
    # The loss is concealed with one packet's worth of samples, then the tail.
    assert gaps(out)[0] == spp
    assert jb.lost == 1
    assert jb.late == 0


def test_playout_is_paced_at_the_packet_rate() -> None:
    rng = random.Random(11)
    arrivals = stream(500, network=lambda i: 0.030 + rng.uniform(0, 0.015))
    jb, out = play(arrivals, until=11.0, tick=0.001)
    times = [t for t, item in out if isinstance(item, RtpPacket)]
    assert len(times) == 500
    steps = {round(b - a, 3) for a, b in itertools.pairwise(times)}
    # One talk spurt: the schedule never moves, packets leave exactly 20 ms apart.
    assert steps == {0.020}
    assert jb.late == 0


def test_adapts_up_to_the_jitter_of_a_continuous_stream() -> None:
    rng = random.Random(1)
    arrivals = stream(1500, network=lambda i: 0.030 + rng.uniform(0, 0.080))
    jb, out = play(arrivals, until=31.0)
    # The delay grew from 20 ms to cover the jitter; late packets became rare.
    assert 70 <= jb.delay_ms <= 200
    late_times = [t for t, p in arrivals if p.sequence - 1000 >= 500]
    assert late_times  # the second and third thirds of the call
    second_half = [item for t, item in out if t > 10.0]
    assert sum(isinstance(item, Gap) for item in second_half) <= 12  # incl. the final tail
    assert jb.late <= 30
    assert len(sequences(out)) + jb.late + jb.lost == 1500


def test_fixed_delay_when_min_equals_max() -> None:
    rng = random.Random(4)
    arrivals = stream(500, network=lambda i: 0.030 + rng.uniform(0, 0.060))
    jb = JitterBuffer(RATE, min_delay_ms=20, max_delay_ms=20)
    jb, out = play(arrivals, until=11.0, tick=0.001, jb=jb)
    assert jb.late > 50  # the jitter is larger than the delay allows
    # The delay never grows; it is counted from the fastest packet seen, and the
    # schedule was set from the first packet, which may have been a slow one.
    assert jb.delay_ms < 20 + 60
    # Packets played one after the other are exactly one packet time apart: the
    # schedule only moves after the buffer has run dry (silence).
    steps = {
        round(t2 - t1, 4)
        for (t1, a), (t2, b) in itertools.pairwise(out)
        if isinstance(a, RtpPacket) and isinstance(b, RtpPacket) and b.sequence == a.sequence + 1
    }
    assert steps == {0.02}
    assert len(sequences(out)) + jb.late + jb.lost == 500


def test_rare_spikes_are_concealed_rather_than_delaying_everything() -> None:
    rng = random.Random(2)
    arrivals = stream(
        1500, network=lambda i: 0.180 if i % 97 == 50 else 0.030 + rng.uniform(0, 0.005)
    )
    jb, _ = play(arrivals, until=31.0)
    assert jb.late == 15
    assert jb.delay_ms < 60


def test_delay_goes_down_at_talk_spurts_once_the_jitter_calms() -> None:
    rng = random.Random(3)
    arrivals = stream(
        2000,
        network=lambda i: 0.030 + rng.uniform(0, 0.080 if i < 600 else 0.004),
        talk=lambda i: (i // 50) % 2 == 0,  # 1 s talk, 1 s silence
    )
    delays: list[float] = []
    jb = JitterBuffer(RATE)
    pending = sorted(arrivals, key=lambda a: a[0])
    index = 0
    out: list[Item] = []
    for step in range(8200):
        now = step * 0.005
        while index < len(pending) and pending[index][0] <= now:
            jb.push(pending[index][1], pending[index][0])
            index += 1
        while (item := jb.pop(now)) is not None:
            out.append(item)
        if step % 200 == 0:
            delays.append(jb.delay_ms)
    assert min(delays[3:12]) >= 60  # during the jittery first 12 s
    assert delays[-1] <= 30  # back near the minimum by the end
    played = [i.sequence for i in out if isinstance(i, RtpPacket)]
    assert played == sorted(played)
    # Silence between spurts is not concealed beyond the short tail after each spurt.
    assert sum(isinstance(i, Gap) for i in out) <= 20 * 6 + jb.lost + 10


def test_silence_suppression_without_marker_bits() -> None:
    arrivals = stream(300, talk=lambda i: not 100 <= i < 200)
    arrivals = [
        (t, RtpPacket(p.payload_type, p.sequence, p.timestamp, p.ssrc, False, p.payload))
        for t, p in arrivals
    ]
    jb, out = play(arrivals, until=7.0)
    assert sequences(out) == list(range(1000, 1200))
    assert gaps(out) == [160] * 5 + [160] * 5  # the tail after each spurt, nothing more
    played_at = {item.sequence: t for t, item in out if isinstance(item, RtpPacket)}
    assert played_at[1100] - played_at[1099] == pytest.approx(2.02, abs=0.006)
    assert jb.lost == 0


def test_packets_arriving_after_their_time_are_late() -> None:
    arrivals = stream(100, network=lambda i: 0.200 if i == 40 else 0.030)
    jb, out = play(arrivals, until=3.0)
    assert 1040 not in sequences(out)
    assert (jb.late, jb.lost) == (1, 0)
    assert len(sequences(out)) == 99


def test_outage_then_burst() -> None:
    # 300 ms without packets, then the held ones all at once, in order.
    arrivals = stream(300, network=lambda i: 2.03 - i * 0.02 if 85 <= i < 100 else 0.030)
    jb, out = play(arrivals, until=7.0)
    played = sequences(out)
    assert played == sorted(played)
    # Concealment for 100 ms, quiet, then on from the present: the stale audio is dropped.
    assert gaps(out)[:5] == [160] * 5
    assert 1085 not in played and 1099 in played
    assert jb.late == 14
    assert len(played) + jb.late + jb.lost == 300
    assert jb.delay_ms < 60


def test_held_packets_released_after_later_ones() -> None:
    # Packets 85-99 are held back and released 300 ms after packet 100 arrived.
    arrivals = stream(
        300, network=lambda i: (100 * 0.02 + 0.33 - i * 0.02) if 85 <= i < 100 else 0.030
    )
    jb, out = play(arrivals, until=7.0)
    played = sequences(out)
    assert played == sorted(played)
    assert jb.late >= 10
    assert len(played) + jb.late + jb.lost == 300
    assert jb.delay_ms < 60  # one stall of the network does not delay the rest of the call
    assert played[-1] == 1299


def test_ssrc_change_starts_over() -> None:
    first = stream(50)
    second = stream(50, first_seq=7, first_ts=999_999, ssrc=0xBEEF)
    second = [(t + 1.5, p) for t, p in second]
    jb, out = play(first + second, until=3.5)
    assert sequences(out) == list(range(1000, 1050)) + list(range(7, 57))
    assert jb.resets == 1
    assert jb.lost == 0


def test_timestamp_jump_starts_over() -> None:
    arrivals = stream(100)
    arrivals = [
        (t, p if p.sequence < 1050 else RtpPacket(0, p.sequence, p.timestamp + 80_000 * 60, SSRC))
        for t, p in arrivals
    ]
    jb, out = play(arrivals, until=2.5)
    # Starting over drops what was still buffered from before the jump (packet 1049).
    assert sequences(out) == list(range(1000, 1049)) + list(range(1050, 1100))
    assert jb.resets == 1


def test_sequence_jump_starts_over() -> None:
    arrivals = stream(100)
    arrivals = [
        (t, p if p.sequence < 1050 else RtpPacket(0, p.sequence + 20_000, p.timestamp, SSRC))
        for t, p in arrivals
    ]
    jb, out = play(arrivals, until=2.5)
    assert sequences(out) == list(range(1000, 1049)) + list(range(21050, 21100))
    assert jb.resets == 1


def test_sequence_and_timestamp_wrap() -> None:
    arrivals = stream(200, first_seq=65500, first_ts=2**32 - 160 * 50)
    jb, out = play(arrivals, until=4.5)
    assert sequences(out) == [(65500 + i) & 0xFFFF for i in range(200)]
    assert (jb.lost, jb.late, jb.resets) == (0, 0, 0)


def test_memory_is_bounded_when_nobody_pops() -> None:
    jb = JitterBuffer(RATE)
    for t, packet in stream(1000):
        jb.push(packet, t)
    assert jb.buffered <= 2 * (200 // 10 + 1) + 50
    assert jb.overflow == 1000 - jb.buffered
    assert jb.lost == 0


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="clock rate"):
        JitterBuffer(0)
    with pytest.raises(ValueError, match="min_delay_ms"):
        JitterBuffer(RATE, min_delay_ms=300, max_delay_ms=200)


def test_opus_clock_and_configured_delays() -> None:
    jb = JitterBuffer(48000, min_delay_ms=40, max_delay_ms=80)
    arrivals = [(i * 0.02 + 0.01, RtpPacket(111, i, i * 960, 1)) for i in range(100)]
    jb, out = play(arrivals, until=2.5, tick=0.001, jb=jb)
    assert out[0][0] == pytest.approx(0.050)  # first arrival + the minimum delay
    assert sequences(out) == list(range(100))
    assert gaps(out) == [960] * 5  # 100 ms of tail
