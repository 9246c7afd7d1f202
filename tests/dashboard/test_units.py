"""The session signer, the login rate limiter and the history filter on their own."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sipmeet.dashboard import DashboardSession, Flash, HistoryFilter, LoginRateLimiter
from sipmeet.dashboard.sessions import SessionSigner, password_tag

KEY = bytes(range(32))


class Tick:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_session_round_trip_and_tampering() -> None:
    tick = Tick()
    signer = SessionSigner(KEY, clock=tick)
    session = signer.new("admin", "$argon2id$hash")
    assert session.password_tag == password_tag("$argon2id$hash")
    value = signer.encode(session)
    assert signer.decode(value) == session
    body, mac = value.split(".")
    assert signer.decode(body + "." + mac[::-1]) is None
    assert signer.decode(body + "x." + mac) is None
    assert signer.decode(value + ".x") is None
    assert signer.decode("") is None and signer.decode(None) is None
    assert signer.decode("é" + value) is None
    assert SessionSigner(bytes(32), clock=tick).decode(value) is None  # another master key
    # a flash cookie is not a session, even though both are signed with the same key
    assert signer.decode(signer.encode_flash(Flash("ok", "hi"))) is None


def test_session_lifetime_and_revocation() -> None:
    tick = Tick()
    signer = SessionSigner(KEY, clock=tick, max_age_s=100)
    session = signer.new()
    value = signer.encode(session)
    assert signer.decode(value) == DashboardSession(session.sid, None, int(tick.now), None)
    tick.now += 99
    assert signer.decode(value) is not None
    tick.now += 1
    assert signer.decode(value) is None
    fresh = signer.new("admin", "h")
    signer.revoke(fresh)
    assert signer.decode(signer.encode(fresh)) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    signer = SessionSigner(KEY)
    a, b = signer.new(), signer.new()
    assert a.sid != b.sid
    assert signer.csrf_ok(a, signer.csrf_token(a))
    assert not signer.csrf_ok(a, signer.csrf_token(b))
    assert not signer.csrf_ok(a, None) and not signer.csrf_ok(a, "")
    assert not signer.csrf_ok(a, "é")


def test_flash_round_trip() -> None:
    signer = SessionSigner(KEY)
    assert signer.decode_flash(signer.encode_flash(Flash("error", "nope"))) == Flash(
        "error", "nope"
    )
    assert signer.decode_flash(signer.encode_flash(Flash("evil", "x"))) is None
    assert signer.decode_flash("garbage") is None


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SessionSigner(b"short")


def test_rate_limiter_sliding_window() -> None:
    tick = Tick()
    limiter = LoginRateLimiter(3, 60.0, clock=tick)
    for _ in range(2):
        limiter.failure("a")
        tick.now += 10
    assert limiter.retry_after_s("a") == 0.0
    limiter.failure("a")  # failures at 0, 10, 20
    assert limiter.retry_after_s("a") == pytest.approx(40.0)
    assert limiter.retry_after_s("b") == 0.0
    tick.now += 40.5  # the first failure left the window
    assert limiter.retry_after_s("a") == 0.0
    limiter.failure("a")
    assert limiter.retry_after_s("a") == pytest.approx(9.5)
    limiter.success("a")
    assert limiter.retry_after_s("a") == 0.0


def test_rate_limiter_forgets_the_oldest_clients() -> None:
    tick = Tick()
    limiter = LoginRateLimiter(1, 60.0, clock=tick, max_clients=2)
    for client in ("a", "b", "c"):
        limiter.failure(client)
    assert limiter.retry_after_s("a") == 0.0
    assert limiter.retry_after_s("b") > 0 and limiter.retry_after_s("c") > 0
    with pytest.raises(ValueError):
        LoginRateLimiter(0)


def test_history_filter() -> None:
    wanted, problems = HistoryFilter.from_query(
        {"room": " Standup ", "result": "success", "date": "2026-03-01", "key": "APIa"}
    )
    assert problems == []
    assert wanted == HistoryFilter("standup", "success", date(2026, 3, 1), "APIa")
    assert wanted.query() == {
        "room_id": "standup",
        "api_key_id": "APIa",
        "result": "success",
        "started_from": datetime(2026, 3, 1, tzinfo=UTC),
        "started_before": datetime(2026, 3, 2, tzinfo=UTC),
    }
    assert wanted.link() == "room=standup&result=success&key=APIa&date=2026-03-01"
    assert wanted.link(42).endswith("&older=42")
    ongoing, _ = HistoryFilter.from_query({"result": "ongoing"})
    assert ongoing.query() == {"room_id": None, "api_key_id": None, "ongoing": True}
    assert HistoryFilter().link() == ""
