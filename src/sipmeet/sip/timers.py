"""Timer names of RFC 3261 §17 (A-K) and RFC 6026 (L, M), and one deadline queue.

The endpoint keeps every pending deadline (transaction timers, 2xx retransmission, session
expiry) in one :class:`TimerQueue`: setting, cancelling and finding the next deadline cost
O(log n) at most, never a scan over all transactions.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["Timer", "TimerConfig", "TimerKey", "TimerQueue"]


class Timer(Enum):
    """RFC 3261 Table 4 plus RFC 6026 §8.11."""

    A = "A"  # INVITE request retransmit (client, unreliable)
    B = "B"  # INVITE transaction timeout (client)
    D = "D"  # wait time for response retransmits (client INVITE, Completed)
    E = "E"  # non-INVITE request retransmit (client, unreliable)
    F = "F"  # non-INVITE transaction timeout (client)
    G = "G"  # INVITE final response retransmit (server, unreliable)
    H = "H"  # wait time for ACK receipt (server INVITE, Completed)
    I = "I"  # noqa: E741 - the RFC's name; wait time for ACK retransmits (server INVITE)
    J = "J"  # wait time for non-INVITE request retransmits (server)
    K = "K"  # wait time for response retransmits (client non-INVITE)
    L = "L"  # wait time for accepted INVITE request retransmits (server, RFC 6026)
    M = "M"  # wait time for retransmission of 2xx to INVITE (client, RFC 6026)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 §17.1.1.1 base values, in seconds."""

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    timer_d_s: float = 32.0  # "at least 32 seconds" on unreliable transports

    @property
    def timeout_s(self) -> float:
        """64*T1: timers B, F, H, J, L, M."""
        return 64 * self.t1_s


K = TypeVar("K", bound=Hashable)

TimerKey = tuple[object, Enum]
"""The endpoint's key: (transaction or dialog, its timer)."""


class TimerQueue(Generic[K]):
    """Deadlines keyed by ``K``; one deadline per key (setting again replaces it).

    A binary heap with lazy deletion: replaced or cancelled entries stay in the heap until
    they reach the top, and the heap is rebuilt when stale entries outnumber live ones.
    """

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def deadline(self, key: K) -> float | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def set(self, key: K, deadline: float) -> None:
        self._seq += 1
        self._live[key] = (deadline, self._seq)
        heapq.heappush(self._heap, (deadline, self._seq, key))
        if len(self._heap) > 64 and len(self._heap) > 4 * len(self._live):
            self._heap = [(d, s, k) for k, (d, s) in self._live.items()]
            heapq.heapify(self._heap)

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            entry = self._live.get(key)
            if entry is not None and entry[1] == seq:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> K | None:
        """Remove and return the key with the earliest deadline <= ``now``, if any."""
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            entry = self._live.get(key)
            if entry is None or entry[1] != seq:
                heapq.heappop(heap)
                continue
            if deadline > now:
                return None
            heapq.heappop(heap)
            del self._live[key]
            return key
        return None
