"""Receive-side state of one RTP source: RFC 3550 Appendix A.1 and A.8.

:class:`RtpSource` validates a source's sequence numbers (probation before a new
source counts, 16-bit wrap into extended sequence numbers, misordered and
duplicate packets, large jumps, restart after a jump is confirmed or the SSRC
changes) and keeps the counts an RTCP report block is built from, plus the
interarrival jitter estimate.
"""

from __future__ import annotations

__all__ = ["MAX_DROPOUT", "MAX_MISORDER", "MIN_SEQUENTIAL", "RTP_SEQ_MOD", "RtpSource"]

# RFC 3550 Appendix A.1 constants.
RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
MIN_SEQUENTIAL = 2


class RtpSource:
    """Sequence validation and reception counts for the stream from one remote SSRC.

    Feed every received RTP packet to :meth:`update`. A different SSRC than the
    current one starts over with a new source in probation.
    """

    __slots__ = (
        "_last_arrival_s",
        "_last_timestamp",
        "bad_seq",
        "base_seq",
        "clock_rate_hz",
        "cycles",
        "jitter",
        "max_seq",
        "min_sequential",
        "probation",
        "received",
        "restarts",
        "ssrc",
    )

    def __init__(self, clock_rate_hz: int, *, min_sequential: int = MIN_SEQUENTIAL) -> None:
        if clock_rate_hz <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate_hz}")
        self.clock_rate_hz = clock_rate_hz
        self.min_sequential = min_sequential
        self.ssrc: int | None = None
        self.max_seq = 0  # highest sequence number seen (16 bits)
        self.cycles = 0  # shifted count of sequence number wraps
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1  # the sequence number that would confirm a jump
        self.probation = 0
        self.received = 0  # packets counted since the source became valid
        self.restarts = 0  # times the source was re-initialised (SSRC change or jump)
        self.jitter = 0.0  # RFC 3550 A.8 estimate, in timestamp units
        self._last_arrival_s: float | None = None
        self._last_timestamp = 0

    # -- RFC 3550 A.1 ---------------------------------------------------------------------

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self._last_arrival_s = None

    def _start(self, ssrc: int, seq: int) -> None:
        if self.ssrc is not None:
            self.restarts += 1
        self.ssrc = ssrc
        self._init_seq(seq)
        self.max_seq = (seq - 1) & 0xFFFF
        self.probation = self.min_sequential
        self.jitter = 0.0

    def update(self, ssrc: int, sequence: int, timestamp: int, arrival_s: float) -> bool:
        """Count one packet; ``False`` when it must not be used (probation, a jump).

        ``arrival_s`` is the local arrival time in seconds; ``timestamp`` the RTP
        timestamp, for the jitter estimate.
        """
        if ssrc != self.ssrc:
            self._start(ssrc, sequence)
        if not self._update_seq(sequence):
            return False
        self._update_jitter(timestamp, arrival_s)
        return True

    def _update_seq(self, seq: int) -> bool:
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            # RFC 3550 A.1: a new source counts after MIN_SEQUENTIAL packets in sequence.
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return True
            else:
                self.probation = self.min_sequential - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            # In order, with a permissible gap.
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # A very large jump: believe it only when the next packet follows it.
            if seq == self.bad_seq:
                self.restarts += 1
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: a duplicate or a reordered packet; it still counts as received.
        self.received += 1
        return True

    # -- RFC 3550 A.8 ---------------------------------------------------------------------

    def _update_jitter(self, timestamp: int, arrival_s: float) -> None:
        last_arrival = self._last_arrival_s
        if last_arrival is not None:
            # D(i-1, i) = (R_i - R_i-1) - (S_i - S_i-1), in timestamp units; the RTP
            # timestamp difference is taken modulo 2^32 so that a wrap does no harm.
            ts_delta = ((timestamp - self._last_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            d = (arrival_s - last_arrival) * self.clock_rate_hz - ts_delta
            if d < 0:
                d = -d
            self.jitter += (d - self.jitter) / 16.0
        self._last_arrival_s = arrival_s
        self._last_timestamp = timestamp

    # -- what RTCP needs ------------------------------------------------------------------

    @property
    def valid(self) -> bool:
        """The source has passed probation."""
        return self.ssrc is not None and self.probation == 0

    @property
    def extended_max_seq(self) -> int:
        """The highest sequence number received, extended with the wrap count."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """RFC 3550 A.3: packets expected since the source became valid."""
        if not self.valid:
            return 0
        return self.extended_max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        """RFC 3550 A.3: cumulative packets lost (negative with duplicates)."""
        return self.expected - self.received

    @property
    def jitter_s(self) -> float:
        """The interarrival jitter estimate in seconds."""
        return self.jitter / self.clock_rate_hz
