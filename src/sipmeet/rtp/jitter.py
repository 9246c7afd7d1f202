"""An adaptive jitter buffer for one received audio stream, driven by an injected clock.

Model. Each packet's *transit* is ``arrival_s - timestamp / clock_rate``. The
smallest recent transit is the fastest path through the network; a packet is
played at ``timestamp / clock_rate + offset`` where ``offset`` is that base
transit plus the playout *delay*. The delay is a high quantile of the recent
transits above the base (the interarrival jitter as measured), clamped to
``[min_delay_ms, max_delay_ms]``.

Playout runs on a cursor: the RTP timestamp up to which audio has been handed
out. :meth:`JitterBuffer.pop` returns the next packet once its time has come, a
:class:`Gap` when audio is missing at a time that has passed (the caller
conceals that many samples with its codec's PLC), or ``None`` when nothing is
due (including silence between talk spurts, where the caller plays silence or
comfort noise).

When the delay changes. A lower delay is taken only where the stream is silent:
at the start of a talk spurt (marker bit, or a timestamp jump without a
sequence gap, RFC 3551 §4.1) or after the stream has gone quiet. A higher delay
is taken when a packet arrived too late to be played: the extra time is handed
out as a :class:`Gap` right away, next to the concealment the late packet has
already caused, so continuous streams without talk spurts (most trunks) still
adapt upward.

A new SSRC, a sequence jump of more than 3000 (RFC 3550 A.1 MAX_DROPOUT), or a
transit that moves by more than ``max(1 s, 2 * max_delay)`` at once (a
timestamp jump) starts the buffer over. Memory is bounded.

Feed it audio packets only: telephone-event (RFC 4733) and comfort noise go to
their own handlers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .packet import RtpPacket

__all__ = ["Gap", "JitterBuffer"]

_MAX_SEQ_JUMP = 3000  # RFC 3550 A.1 MAX_DROPOUT
_WINDOW = 200  # transits remembered for the delay estimate (4 s of 20 ms packets)
_JITTER_FACTOR = 2.5  # playout this many jitter estimates after the mean transit
_MARGIN_S = 0.005  # headroom above the estimate
_LATE_WINDOW = 100  # packets over which late arrivals are counted
_BURST_S = 0.005  # late packets arriving this close together are one event
_LATE_TO_GROW = 5  # late arrivals within that many packets that raise the delay
_MAX_PACKET_S = 0.12  # longest packet duration believed (RFC 7587 allows 120 ms)
_EPSILON_S = 1e-6  # due times are sums of floats: compare with a microsecond of slack


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing audio: the caller conceals ``samples`` samples (at the RTP clock rate)."""

    samples: int


class JitterBuffer:
    """Reorders, delays and paces one RTP audio stream; see the module docstring."""

    __slots__ = (
        "_buffer",
        "_capacity",
        "_delay_s",
        "_fresh",
        "_grow_pending",
        "_jitter_s",
        "_jump_s",
        "_last_late_arrival",
        "_last_seq",
        "_last_transit",
        "_last_ts",
        "_late_marks",
        "_max_conceal",
        "_max_delay_s",
        "_min_delay_s",
        "_next_seq",
        "_non_audio",
        "_offset",
        "_pos_ts",
        "_silent",
        "_skipped",
        "_spp",
        "_spp_known",
        "_spp_seen",
        "_spurt_seq",
        "_ssrc",
        "_tail_run",
        "_transits",
        "clock_rate_hz",
        "concealed_samples",
        "duplicate",
        "late",
        "lost",
        "overflow",
        "received",
        "resets",
    )

    def __init__(
        self,
        clock_rate_hz: int,
        *,
        min_delay_ms: int = 20,
        max_delay_ms: int = 200,
        max_conceal_ms: int = 100,
    ) -> None:
        if clock_rate_hz <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate_hz}")
        if not 0 <= min_delay_ms <= max_delay_ms:
            raise ValueError(
                f"need 0 <= min_delay_ms <= max_delay_ms, got {min_delay_ms}, {max_delay_ms}"
            )
        self.clock_rate_hz = clock_rate_hz
        self._min_delay_s = min_delay_ms / 1000
        self._max_delay_s = max_delay_ms / 1000
        self._max_conceal = clock_rate_hz * max_conceal_ms // 1000
        self._jump_s = max(1.0, 2 * self._max_delay_s)
        # Room for the longest delay in 10 ms packets, twice over.
        self._capacity = 2 * (max_delay_ms // 10 + 1) + 50
        self._delay_s = self._min_delay_s
        # ext seq -> (packet, ext timestamp, arrival time)
        self._buffer: dict[int, tuple[RtpPacket, int, float]] = {}
        self._transits: deque[float] = deque(maxlen=_WINDOW)
        self._late_marks: deque[int] = deque()  # `received` at each recent late arrival
        self._last_late_arrival = float("-inf")
        self._skipped: deque[int] = deque(maxlen=64)  # ext seqs given up on, for late arrivals
        self._non_audio: deque[int] = deque(maxlen=64)  # ext seqs of RFC 4733 packets: not lost
        self._ssrc: int | None = None
        self._next_seq = 0  # lowest extended sequence number not yet played or given up
        self._pos_ts = 0  # playout cursor, extended RTP timestamp
        self._offset = 0.0  # playout time = ext_ts / clock_rate + offset
        self._spp = clock_rate_hz // 50  # samples per packet, 20 ms until measured
        self._spp_seen = 0
        self._spp_known = False
        self._last_seq = 0  # the last packet played, for measuring its duration
        self._last_ts = 0
        self._spurt_seq = 0  # the packet the current talk spurt was scheduled from
        self._tail_run = 0  # samples concealed since the last packet, none buffered
        self._silent = True
        self._grow_pending = False
        self._fresh = False  # nothing handed out since the stream (re)started
        self._jitter_s = 0.0  # interarrival jitter estimate (RFC 3550 A.8), seconds
        self._last_transit = 0.0  # of the previous packet; set by _start before use
        self.received = 0  # packets pushed
        self.late = 0  # arrived after their playout time; dropped
        self.duplicate = 0  # already buffered or played; dropped
        self.lost = 0  # never arrived (their time was concealed or skipped)
        self.overflow = 0  # dropped because the buffer was full
        self.resets = 0  # started over: SSRC change, sequence or timestamp jump
        self.concealed_samples = 0  # samples handed out as Gap

    @property
    def delay_ms(self) -> float:
        """The current playout delay: time from the fastest recent arrival to playout."""
        if not self._transits:
            return self._delay_s * 1000
        return (self._offset - min(self._transits)) * 1000

    @property
    def buffered(self) -> int:
        """Packets waiting to be played."""
        return len(self._buffer)

    # -- input ----------------------------------------------------------------------------

    def push(self, packet: RtpPacket, now: float) -> None:
        """Add one received packet; ``now`` is its arrival time in seconds."""
        self.received += 1
        if self._ssrc is None or packet.ssrc != self._ssrc:
            self._start(packet, now)
            return
        next_seq = self._next_seq
        ext_seq = next_seq + ((packet.sequence - next_seq + 0x8000) & 0xFFFF) - 0x8000
        pos = self._pos_ts
        ext_ts = pos + ((packet.timestamp - pos + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        transit = now - ext_ts / self.clock_rate_hz
        deviation = transit - (self._offset - self._delay_s)
        if (
            deviation > self._jump_s
            or deviation < -self._jump_s
            or ext_seq - next_seq > _MAX_SEQ_JUMP
            or next_seq - ext_seq > _MAX_SEQ_JUMP
        ):
            self._start(packet, now)
            return
        self._transits.append(transit)
        # RFC 3550 A.8: |D(i-1, i)| smoothed with gain 1/16, here in seconds.
        d = transit - self._last_transit
        self._jitter_s += ((d if d >= 0 else -d) - self._jitter_s) / 16
        self._last_transit = transit
        if ext_seq < next_seq and self._fresh and ext_ts < pos:
            # Reordered ahead of the first packet, before anything was handed out.
            self._next_seq = ext_seq
            self._pos_ts = ext_ts
            self._spurt_seq = ext_seq
            next_seq = ext_seq
        if ext_seq < next_seq:
            if ext_seq in self._skipped:
                self._skipped.remove(ext_seq)
                self.lost -= 1
                self._count_late(now)
            else:
                self.duplicate += 1
            return
        buffer = self._buffer
        if ext_seq in buffer:
            self.duplicate += 1
            return
        buffer[ext_seq] = (packet, ext_ts, now)
        self._measure_packet_duration(ext_seq, ext_ts)
        if len(buffer) > self._capacity:
            oldest = min(buffer)
            _, oldest_ts, _ = buffer.pop(oldest)
            self.overflow += 1
            self._give_up(oldest)
            self._next_seq = oldest + 1
            self._pos_ts = max(self._pos_ts, oldest_ts + self._spp)

    def skip(self, packet: RtpPacket) -> None:
        """A packet of the stream that carries no audio (an RFC 4733 event): its sequence
        number was used, not lost, when the buffer passes over it."""
        if self._ssrc is None or packet.ssrc != self._ssrc:
            return
        next_seq = self._next_seq
        ext_seq = next_seq + ((packet.sequence - next_seq + 0x8000) & 0xFFFF) - 0x8000
        if ext_seq >= next_seq:
            self._non_audio.append(ext_seq)
        elif ext_seq in self._skipped:  # already passed over and counted: take it back
            self._skipped.remove(ext_seq)
            self.lost -= 1

    def _start(self, packet: RtpPacket, now: float) -> None:
        if self._ssrc is not None:
            self.resets += 1
        self._ssrc = packet.ssrc
        self._buffer.clear()
        self._transits.clear()
        self._skipped.clear()
        seq, ts = packet.sequence, packet.timestamp
        self._buffer[seq] = (packet, ts, now)
        transit = now - ts / self.clock_rate_hz
        self._transits.append(transit)
        self._last_transit = transit
        self._offset = transit + self._delay_s
        self._next_seq = seq
        self._pos_ts = ts
        self._spurt_seq = seq
        self._last_seq = seq - 0x10000  # no packet played yet
        self._last_ts = ts
        self._spp_seen = 0
        self._tail_run = 0
        self._silent = False
        self._grow_pending = False
        self._fresh = True

    def _measure_packet_duration(self, seq: int, ts: int) -> None:
        """Learn samples per packet from two neighbours; believe a value seen twice running."""
        before = self._buffer.get(seq - 1)
        if before is not None:
            duration = ts - before[1]
        elif seq - 1 == self._last_seq:
            duration = ts - self._last_ts
        else:
            return
        if 0 < duration <= _MAX_PACKET_S * self.clock_rate_hz:
            if duration == self._spp_seen:
                self._spp = duration
                self._spp_known = True
            self._spp_seen = duration

    # -- output ---------------------------------------------------------------------------

    def pop(self, now: float) -> RtpPacket | Gap | None:
        """The next packet if its time has come, a :class:`Gap` to conceal, or ``None``."""
        if self._ssrc is None:
            return None
        if self._grow_pending:
            gap = self._grow()
            if gap is not None:
                return gap
        rate = self.clock_rate_hz
        buffer = self._buffer
        while True:
            next_seq = self._next_seq
            item = buffer.get(next_seq)
            if item is not None:
                seq = next_seq
            elif buffer:
                seq = min(buffer)
                item = buffer[seq]
            else:
                return self._underrun(now)
            packet, ts, arrival = item
            spp = self._spp
            if self._silent and ts / rate + self._offset < now - spp / rate:
                # Not a new talk spurt but audio that came after we stopped waiting
                # for it: move the cursor to the present; what is behind it is late.
                # Round up to a packet boundary so the schedule stays where it was.
                behind = (now - self._offset) * rate - ts
                self._pos_ts = max(self._pos_ts, ts + -int(-behind // spp) * spp)
                self._silent = False
                self._tail_run = 0
                self._spurt_seq = seq
            if seq != self._spurt_seq and (
                self._silent or packet.marker or ts - self._pos_ts >= (seq - next_seq + 1) * spp
            ):
                self._start_talk_spurt(seq, ts, now)
            pos = self._pos_ts
            if ts + spp <= pos:
                # Its time was concealed already: too late to play.
                del buffer[seq]
                self._give_up(seq)
                self._next_seq = seq + 1
                self._count_late(arrival)
                continue
            if ts > pos and seq == next_seq:
                # Nothing is missing: the previous packet was longer than we assumed.
                self._pos_ts = pos = ts
            if ts > pos:
                # Packets before this one are missing: conceal up to it.
                if now + _EPSILON_S < pos / rate + self._offset:
                    return None
                samples = min(spp, ts - pos)
                self._fresh = False
                self._pos_ts = pos + samples
                self.concealed_samples += samples
                return Gap(samples)
            if now + _EPSILON_S < ts / rate + self._offset:
                return None
            del buffer[seq]
            self._give_up(seq)
            self._next_seq = seq + 1
            self._last_seq = seq
            self._last_ts = ts
            self._pos_ts = ts + spp
            self._tail_run = 0
            self._fresh = False
            return packet

    def _underrun(self, now: float) -> Gap | None:
        """Nothing buffered: conceal a little, then treat the quiet as silence."""
        if self._silent or now + _EPSILON_S < self._pos_ts / self.clock_rate_hz + self._offset:
            return None
        if self._tail_run >= self._max_conceal or not self._spp_known:
            # (Until the packet duration is known, the next packet cannot be overdue.)
            self._silent = self._spp_known
            return None
        samples = self._spp
        self._fresh = False
        self._pos_ts += samples
        self._tail_run += samples
        self.concealed_samples += samples
        return Gap(samples)

    def _count_late(self, arrival: float) -> None:
        """A packet came after its time. Recurring lateness raises the delay.

        Packets that arrive together (a burst after an outage) count as one event:
        one stall of the network is no reason to delay the rest of the call.
        """
        self.late += 1
        previous = self._last_late_arrival
        self._last_late_arrival = arrival
        if previous - _BURST_S <= arrival <= previous + _BURST_S:
            return
        marks = self._late_marks
        marks.append(self.received)
        while marks[0] <= self.received - _LATE_WINDOW:
            marks.popleft()
        if len(marks) >= _LATE_TO_GROW:
            self._grow_pending = True
            marks.clear()

    def _give_up(self, seq: int) -> None:
        """Advance past every sequence number below ``seq``; those never came."""
        for missing in range(self._next_seq, seq):
            if missing in self._non_audio:
                continue
            self.lost += 1
            self._skipped.append(missing)
        if seq > self._next_seq:
            self._next_seq = seq

    def _measure(self) -> tuple[float, float]:
        """(base transit, target delay): the fastest recent transit, and the delay after it.

        The target is the mean recent transit plus a multiple of the interarrival
        jitter, which covers nearly every packet of a steady stream and shrinks back
        soon after a single burst.
        """
        transits = self._transits
        base = min(transits)
        mean = sum(transits) / len(transits)
        wanted = mean - base + _JITTER_FACTOR * self._jitter_s + _MARGIN_S
        return base, min(max(wanted, self._min_delay_s), self._max_delay_s)

    def _start_talk_spurt(self, seq: int, ts: int, now: float) -> None:
        """Re-schedule from the first packet of a talk spurt: the delay may go down or up."""
        base, delay = self._measure()
        rate = self.clock_rate_hz
        cursor_time = self._pos_ts / rate + self._offset
        # Never schedule the new spurt before audio already handed out, nor its first
        # packet in the past (the packets after it would then play as they arrive).
        offset = max(base + delay, cursor_time - ts / rate, now - ts / rate)
        self._offset = offset
        self._delay_s = offset - base
        self._pos_ts = ts
        self._spurt_seq = seq
        self._silent = False
        self._tail_run = 0
        self._grow_pending = False

    def _grow(self) -> Gap | None:
        """After a late packet: raise the delay if the measurements ask for it."""
        self._grow_pending = False
        base, delay = self._measure()
        extra = base + delay - self._offset
        samples = round(extra * self.clock_rate_hz)
        if samples <= 0:
            return None
        self._offset += samples / self.clock_rate_hz
        self._delay_s = self._offset - base
        self.concealed_samples += samples
        return Gap(samples)
