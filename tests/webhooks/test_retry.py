from __future__ import annotations

import pytest

from sipmeet.webhooks import RetryPolicy, is_success


def test_backoff_doubles_from_one_second_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=8, base_s=1.0, max_delay_s=30.0, jitter=0.0)
    assert [policy.delay_s(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay_s(8) is None  # the eighth attempt was the last


def test_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy(base_s=1.0, jitter=0.2)
    assert policy.delay_s(3, lambda: 0.0) == pytest.approx(3.2)
    assert policy.delay_s(3, lambda: 0.5) == pytest.approx(4.0)
    assert policy.delay_s(3, lambda: 0.999999) == pytest.approx(4.8, abs=1e-4)
    draws = {policy.delay_s(1) for _ in range(50)}
    assert len(draws) > 1 and all(d is not None and 0.8 <= d < 1.2 for d in draws)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempts count from 1, got 0"):
        RetryPolicy().nominal_delay_s(0)
    assert RetryPolicy().nominal_delay_s(1000) == 60.0


@pytest.mark.parametrize(
    ("status", "ok"),
    [(200, True), (204, True), (299, True), (301, False), (404, False), (500, False), (199, False)],
)
def test_only_2xx_is_success(status: int, ok: bool) -> None:
    assert is_success(status) is ok
