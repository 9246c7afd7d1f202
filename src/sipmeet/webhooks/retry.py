"""When to try a webhook delivery again: exponential backoff with jitter, a fixed attempt cap."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy", "is_success"]

_system_random = secrets.SystemRandom()


def is_success(status_code: int) -> bool:
    """Only 2xx answers count as delivered (redirects are not followed)."""
    return 200 <= status_code < 300


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempt ``n`` (1-based) that fails is retried after ``base_s * 2**(n-1)`` seconds, capped
    at ``max_delay_s``, times a jitter factor in ``[1 - jitter, 1 + jitter)``; after
    ``max_attempts`` attempts the delivery has failed."""

    max_attempts: int = 8
    base_s: float = 1.0
    max_delay_s: float = 60.0
    jitter: float = 0.2

    def nominal_delay_s(self, attempt: int) -> float:
        """The delay after failed attempt ``attempt`` before jitter: 1, 2, 4, ... capped."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, got {attempt}")
        return min(self.max_delay_s, self.base_s * 2.0 ** min(attempt - 1, 62))

    def delay_s(
        self, attempt: int, random: Callable[[], float] = _system_random.random
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt``; None when it was the last one."""
        if attempt >= self.max_attempts:
            return None
        nominal = self.nominal_delay_s(attempt)
        return nominal * (1.0 - self.jitter + 2.0 * self.jitter * random())
