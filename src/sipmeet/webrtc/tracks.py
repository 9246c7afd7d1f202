"""Forwarding encoded media: a published stream and the per-subscriber tracks fed from it.

A :class:`Publication` is one encoded stream in the room: a browser's microphone or
camera (frames from the tap) or a phone caller's voice (encoded once per tick). Every
browser that receives it has its own :class:`ForwardedTrack` (aiortc's sender pulls
from exactly one track), and the publication hands each the same encoded bytes.

Video is not re-encoded, so one bitrate serves every subscriber: the publication keeps
each subscriber's latest bandwidth estimate (REMB) and caps the publisher at the lowest
fresh one, so that a subscriber on a slow link still gets decodable video instead of
losing packets. Lower estimates go upstream at once, higher ones at most once a second.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

__all__ = ["ForwardedTrack", "Publication"]

log = logging.getLogger(__name__)

_MAX_QUEUED = {"audio": 10, "video": 30}  # frames a slow sender may lag before old ones drop
ESTIMATE_TTL_S = 5.0  # a subscriber's REMB counts this long (browsers send one about every second)
NO_CAP_BPS = 10_000_000  # sent upstream when no subscriber limits the publisher any more
_RAISE_EVERY_S = 1.0  # a higher (or unchanged) cap goes upstream at most this often
_ids = itertools.count(1)


class ForwardedTrack(MediaStreamTrack):
    """A track whose ``recv()`` returns already-encoded :class:`av.Packet`s.

    It is bound to one publication at a time; when that one ends the track idles
    and can be bound to the next publication of the same kind (the m-line is reused).
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._queue: deque[tuple[av.Packet[Any], int | None]] = deque()
        self._ready = asyncio.Event()
        self.publication: Publication | None = None
        self.audio_level: int | None = None
        self.packets = 0
        self.dropped = 0
        self.estimate_bps: int | None = None  # the subscriber's latest REMB for this stream
        self.estimated_at = 0.0

    def put(self, data: bytes, pts: int, time_base: Fraction, audio_level: int | None) -> None:
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = time_base
        if len(self._queue) >= _MAX_QUEUED.get(self.kind, 10):
            self._queue.popleft()
            self.dropped += 1
        self._queue.append((packet, audio_level))
        self._ready.set()

    def clear(self) -> None:
        self._queue.clear()

    async def recv(self) -> av.Packet[Any]:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        packet, self.audio_level = self._queue.popleft()
        self.packets += 1
        return packet


class Publication:
    """One encoded stream in the room and the tracks it is forwarded to."""

    def __init__(
        self,
        publisher_id: str,
        kind: str,
        codec: str,
        clock_rate_hz: int,
        *,
        on_keyframe_request: Callable[[], None] | None = None,
        on_bitrate_cap: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.publication_id = f"{publisher_id}-{kind}-{next(_ids)}"
        self.publisher_id = publisher_id
        self.kind = kind
        self.codec = codec
        self.clock_rate_hz = clock_rate_hz
        self.time_base = Fraction(1, clock_rate_hz)
        self._on_keyframe_request = on_keyframe_request
        self._on_bitrate_cap = on_bitrate_cap
        self._clock = clock
        self.bitrate_cap: int | None = None  # the last cap sent upstream (None: uncapped)
        self._cap_sent_at = float("-inf")
        self.subscribers: list[ForwardedTrack] = []
        self.frames = 0
        self.bytes = 0
        self.keyframe_requests = 0

    def attach(self, track: ForwardedTrack) -> None:
        if track.publication is not None:
            track.publication.detach(track)
        track.clear()
        track.publication = self
        self.subscribers.append(track)
        self.request_keyframe()  # a new viewer cannot decode video until the next keyframe

    def detach(self, track: ForwardedTrack) -> None:
        if track in self.subscribers:
            self.subscribers.remove(track)
        if track.publication is self:
            track.publication = None
            track.clear()
            track.estimate_bps = None
            if self.bitrate_cap is not None:
                self._update_cap(at_once=True)  # the slowest subscriber may have gone

    def close(self) -> None:
        for track in list(self.subscribers):
            self.detach(track)

    def forward(self, data: bytes, timestamp: int, audio_level: int | None = None) -> None:
        """Hand one encoded frame (``timestamp`` in the codec's RTP clock) to every subscriber."""
        self.frames += 1
        self.bytes += len(data)
        for track in self.subscribers:
            track.put(data, timestamp, self.time_base, audio_level)

    def request_keyframe(self) -> None:
        """Relay a keyframe request (PLI/FIR from a subscriber, or a new subscriber) upstream."""
        if self.kind == "video" and self._on_keyframe_request is not None:
            self.keyframe_requests += 1
            self._on_keyframe_request()

    def subscriber_estimate(self, track: ForwardedTrack, bps: int) -> None:
        """A subscriber's bandwidth estimate (REMB) for this stream."""
        if track.publication is not self or self.kind != "video":
            return
        track.estimate_bps, track.estimated_at = bps, self._clock()
        self._update_cap()

    def lowest_estimate(self) -> int | None:
        """The lowest fresh subscriber estimate, or None when no subscriber gives one."""
        now = self._clock()
        fresh = [
            t.estimate_bps
            for t in self.subscribers
            if t.estimate_bps is not None and now - t.estimated_at <= ESTIMATE_TTL_S
        ]
        return min(fresh) if fresh else None

    def _update_cap(self, *, at_once: bool = False) -> None:
        if self._on_bitrate_cap is None:
            return
        now = self._clock()
        lowest = self.lowest_estimate()
        previous = self.bitrate_cap
        if lowest is None:
            if previous is not None:  # nobody limits it any more: let the publisher decide
                self.bitrate_cap = None
                self._cap_sent_at = now
                self._on_bitrate_cap(NO_CAP_BPS)
            return
        recent = now - self._cap_sent_at < _RAISE_EVERY_S
        if previous is not None and lowest >= previous and recent and not at_once:
            return
        self.bitrate_cap = lowest
        self._cap_sent_at = now
        self._on_bitrate_cap(lowest)
