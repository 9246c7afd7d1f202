"""DTMF: RFC 4733 telephone-events in RTP, and the SIP INFO bodies some trunks send.

:class:`DtmfReceiver` turns the stream of telephone-event packets into one
:class:`DtmfDigit` per key press, whatever the network did to the packets: the
end packet repeated three times, the marker bit lost, the first packets lost,
the end packets lost (the event then ends at the next event or after a quiet
``timeout_s``). Events are told apart by their RTP timestamp (RFC 4733 §2.5.2).
:class:`DtmfSender` plans the packets for sending one digit (RFC 4733 §2.5.1).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from .errors import RtpParseError
from .packet import RtpPacket

__all__ = [
    "DTMF_DIGITS",
    "DtmfDigit",
    "DtmfPacketPlan",
    "DtmfReceiver",
    "DtmfSender",
    "TelephoneEvent",
    "parse_dtmf_info",
    "parse_telephone_event",
]

# RFC 4733 §3.2, table 7: events 0-15.
DTMF_DIGITS = "0123456789*#ABCD"
_EVENT = struct.Struct("!BBH")
_MAX_DURATION = 0xFFFF


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One event report, the first 4 bytes of a payload (RFC 4733 §2.3)."""

    event: int
    end: bool
    volume: int  # power level in -dBm0, 0-63
    duration: int  # in timestamp units since the event's RTP timestamp

    def serialize(self) -> bytes:
        return _EVENT.pack(
            self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration
        )


def parse_telephone_event(payload: bytes) -> TelephoneEvent:
    """The (first) event report in a telephone-event payload."""
    if len(payload) < 4:
        raise RtpParseError(
            f"telephone-event payload of {len(payload)} bytes is shorter than 4 bytes"
        )
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press."""

    digit: str  # one of 0-9 * # A-D
    duration_ms: int
    timestamp: int  # RTP timestamp of the event's start
    volume: int  # -dBm0
    ended: bool  # an end packet was received (else: a later event or the timeout ended it)


class _Event:
    __slots__ = ("done_duration", "duration", "event", "ssrc", "timestamp", "updated_s", "volume")

    def __init__(self, ssrc: int, timestamp: int, event: int, now: float) -> None:
        self.ssrc = ssrc
        self.timestamp = timestamp  # of the current segment
        self.event = event
        self.volume = 0
        self.duration = 0  # longest duration seen in the current segment
        self.done_duration = 0  # of the finished segments of a long event (§2.5.1.3)
        self.updated_s = now


class DtmfReceiver:
    """Telephone-event packets in, one :class:`DtmfDigit` per event out."""

    __slots__ = ("_current", "_finished", "clock_rate_hz", "timeout_s")

    def __init__(self, clock_rate_hz: int = 8000, *, timeout_s: float = 0.3) -> None:
        self.clock_rate_hz = clock_rate_hz
        self.timeout_s = timeout_s
        self._current: _Event | None = None
        self._finished: deque[tuple[int, int]] = deque(maxlen=32)  # (ssrc, timestamp)

    def receive(self, packet: RtpPacket, now: float) -> list[DtmfDigit]:
        """Feed one telephone-event packet; returns the digits it completed.

        Raises :class:`RtpParseError` for a payload shorter than 4 bytes. Events
        other than 0-15 (RFC 4733 §3.2) are ignored.
        """
        report = parse_telephone_event(packet.payload)
        if report.event >= len(DTMF_DIGITS):
            return []
        key = (packet.ssrc, packet.timestamp)
        if key in self._finished:
            return []  # a repeated end packet, or an update after the event ended
        digits: list[DtmfDigit] = []
        current = self._current
        if current is not None and (current.ssrc, current.timestamp) != key:
            if (
                not packet.marker
                and packet.ssrc == current.ssrc
                and report.event == current.event
                and current.duration == _MAX_DURATION
                and (packet.timestamp - current.timestamp) & 0xFFFFFFFF == _MAX_DURATION
            ):
                # RFC 4733 §2.5.1.3: the next segment of an event too long for one.
                self._finished.append((current.ssrc, current.timestamp))
                current.done_duration += current.duration
                current.timestamp = packet.timestamp
                current.duration = 0
            else:
                digits.append(self._finish(current, ended=False))
                current = None
        if current is None:
            current = _Event(packet.ssrc, packet.timestamp, report.event, now)
            self._current = current
        current.duration = max(current.duration, report.duration)
        current.volume = report.volume
        current.updated_s = now
        if report.end:
            digits.append(self._finish(current, ended=True))
        return digits

    def poll(self, now: float) -> list[DtmfDigit]:
        """End an event that has had no packet for ``timeout_s`` (its end packets were lost)."""
        current = self._current
        if current is not None and now >= current.updated_s + self.timeout_s:
            return [self._finish(current, ended=False)]
        return []

    def next_deadline(self) -> float | None:
        """When :meth:`poll` should run next, or ``None`` with no event in progress."""
        if self._current is None:
            return None
        return self._current.updated_s + self.timeout_s

    def _finish(self, event: _Event, *, ended: bool) -> DtmfDigit:
        self._current = None
        self._finished.append((event.ssrc, event.timestamp))
        samples = event.done_duration + event.duration
        return DtmfDigit(
            digit=DTMF_DIGITS[event.event],
            duration_ms=samples * 1000 // self.clock_rate_hz,
            timestamp=(event.timestamp - event.done_duration) & 0xFFFFFFFF,
            volume=event.volume,
            ended=ended,
        )


@dataclass(frozen=True, slots=True)
class DtmfPacketPlan:
    """One telephone-event packet to send, ``offset_ms`` after the key press starts."""

    offset_ms: int
    marker: bool
    timestamp: int
    payload: bytes


class DtmfSender:
    """Plans the packets of one digit (RFC 4733 §2.5.1).

    The first packet carries the marker bit; an update follows every ``ptime_ms``
    with the duration so far, all with the event's start timestamp; the final
    packet (E bit set) is sent three times (§2.5.1.4), each copy one packet time
    apart. The caller gives each packet the next RTP sequence number and sends it
    at its offset, instead of audio for that time.
    """

    __slots__ = ("clock_rate_hz", "ptime_ms", "volume")

    def __init__(self, clock_rate_hz: int = 8000, *, ptime_ms: int = 20, volume: int = 10) -> None:
        if ptime_ms <= 0:
            raise ValueError(f"ptime must be positive, got {ptime_ms}")
        if not 0 <= volume <= 63:
            raise ValueError(f"volume is 0-63 (-dBm0), got {volume}")
        self.clock_rate_hz = clock_rate_hz
        self.ptime_ms = ptime_ms
        self.volume = volume

    def plan(self, digit: str, timestamp: int, duration_ms: int = 100) -> list[DtmfPacketPlan]:
        """The packets for ``digit`` starting at RTP ``timestamp``, lasting ``duration_ms``."""
        event = DTMF_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
        if event < 0:
            raise ValueError(f"not a DTMF digit: {digit!r} (use one of {DTMF_DIGITS})")
        total = duration_ms * self.clock_rate_hz // 1000
        if not 0 < total <= _MAX_DURATION:
            raise ValueError(
                f"duration {duration_ms} ms is not 1-{_MAX_DURATION} timestamp units"
                f" at {self.clock_rate_hz} Hz"
            )
        step = self.ptime_ms * self.clock_rate_hz // 1000
        timestamp &= 0xFFFFFFFF
        plan: list[DtmfPacketPlan] = []
        sent = step
        while sent < total:
            report = TelephoneEvent(event, False, self.volume, sent)
            plan.append(
                DtmfPacketPlan(
                    sent * 1000 // self.clock_rate_hz, not plan, timestamp, report.serialize()
                )
            )
            sent += step
        final = TelephoneEvent(event, True, self.volume, total).serialize()
        end_ms = total * 1000 // self.clock_rate_hz
        for copy in range(3):
            plan.append(DtmfPacketPlan(end_ms + copy * self.ptime_ms, not plan, timestamp, final))
        return plan


def parse_dtmf_info(content_type: str, body: bytes) -> str | None:
    """The digit in a SIP INFO body, or ``None`` when there is none we understand.

    ``application/dtmf-relay`` bodies read ``Signal=5`` / ``Duration=160`` lines;
    ``application/dtmf`` bodies hold just the digit. Some senders write ``*`` and
    ``#`` as the event numbers 10 and 11.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if media_type == "application/dtmf-relay":
        for line in text.splitlines():
            name, equals, value = line.partition("=")
            if equals and name.strip().lower() == "signal":
                return _digit(value)
        return None
    if media_type == "application/dtmf":
        return _digit(text)
    return None


def _digit(text: str) -> str | None:
    value = text.strip().upper()
    if len(value) == 1 and value in DTMF_DIGITS:
        return value
    if value.isdigit() and int(value) < len(DTMF_DIGITS):
        return DTMF_DIGITS[int(value)]
    return None
