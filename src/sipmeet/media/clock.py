"""One 20 ms clock per room: calls a function on a fixed grid, never drifting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["FrameClock"]

log = logging.getLogger(__name__)


class FrameClock:
    """Calls ``tick(now)`` every ``period_s`` on the loop's monotonic clock.

    Deadlines sit on a grid (start + n * period) so that lateness of one tick does
    not push the next. When the loop falls more than ``max_late_ticks`` behind,
    the missed ticks are skipped (and counted) rather than run in a burst.
    """

    def __init__(
        self,
        tick: Callable[[float], None],
        *,
        period_s: float = 0.020,
        max_late_ticks: int = 5,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._tick = tick
        self.period_s = period_s
        self._max_late = max_late_ticks * period_s
        self._loop = loop or asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._next = 0.0
        self.ticks = 0
        self.skipped = 0
        self.lateness_s_max = 0.0
        self.lateness_s_sum = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._next = self._loop.time() + self.period_s
            self._handle = self._loop.call_at(self._next, self._run)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _run(self) -> None:
        now = self._loop.time()
        late = now - self._next
        if late > self._max_late:
            missed = int(late / self.period_s)
            self.skipped += missed
            self._next += missed * self.period_s
            late = now - self._next
        self.lateness_s_max = max(self.lateness_s_max, late)
        self.lateness_s_sum += late
        self.ticks += 1
        try:
            self._tick(now)
        except Exception:  # one bad frame must not stop the room's audio
            log.exception("room tick failed")
        if self._handle is None:  # stopped from inside tick
            return
        self._next += self.period_s
        self._handle = self._loop.call_at(self._next, self._run)
