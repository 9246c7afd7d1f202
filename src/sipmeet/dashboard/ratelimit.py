"""Failed logins per client address in a sliding window: too many, and logins are refused (429)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LoginRateLimiter"]


class LoginRateLimiter:
    """At most ``max_failures`` failed logins per client in ``window_s`` seconds.

    While a client is over the limit every login is refused, right or wrong, until its oldest
    failure leaves the window. At most ``max_clients`` clients are tracked (the least recently
    failing are forgotten first), so a flood of addresses cannot exhaust memory.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("the limit needs at least one failure in a positive window")
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after_s(self, client: str) -> float:
        """0 when the client may try to log in now, else the seconds until it may."""
        times = self._recent(client)
        if times is None or len(times) < self.max_failures:
            return 0.0
        return max(times[-self.max_failures] + self.window_s - self._clock(), 0.001)

    def failure(self, client: str) -> None:
        times = self._recent(client)
        if times is None:
            times = deque(maxlen=self.max_failures)
            self._failures[client] = times
            while len(self._failures) > self._max_clients:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        times.append(self._clock())

    def success(self, client: str) -> None:
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times
