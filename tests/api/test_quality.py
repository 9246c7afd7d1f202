"""The E-model MOS estimate and the quality figures derived from call stats."""

from __future__ import annotations

import pytest

from sipmeet.api import call_quality, estimate_mos, mos_from_r, r_factor


@pytest.mark.parametrize(
    ("r", "mos"),
    # ITU-T G.107 Annex B (Figure B.1 / the R-to-MOS relation): R 93.2 is the default
    # configuration's rating, 4.41.
    [
        (93.2, 4.41),
        (90, 4.34),
        (80, 4.02),
        (70, 3.60),
        (60, 3.10),
        (50, 2.58),
        (0, 1.0),
        (100, 4.5),
    ],
)
def test_g107_r_to_mos(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=0.005)


def test_r_factor_terms() -> None:
    # No loss, no jitter, no RTT: only the 10 ms codec delay (Id = 0.024 * 10).
    assert r_factor(0, 0, None) == pytest.approx(93.2 - 0.24)
    # 1 % random loss, G.711 with PLC: Ie_eff = 95 * 1 / (1 + 25.1) (G.113 Appendix I Bpl).
    assert r_factor(1, 0, None) == pytest.approx(93.2 - 0.24 - 95 / 26.1)
    # 400 ms RTT: d = 210 ms, past the 177.3 ms knee.
    d = 210.0
    assert r_factor(0, 0, 400) == pytest.approx(93.2 - (0.024 * d + 0.11 * (d - 177.3)))
    # Jitter counts twice (a jitter buffer of twice the jitter).
    assert r_factor(0, 20, 0) == r_factor(0, 0, 80)
    assert r_factor(100, 500, 5000) == 0.0


def test_mos_falls_with_each_impairment() -> None:
    clean = estimate_mos(0, 0, 20)
    assert clean == 4.4
    assert estimate_mos(2, 0, 20) < clean
    assert estimate_mos(0, 30, 20) < clean
    assert estimate_mos(0, 0, 600) < estimate_mos(0, 0, 200) < clean
    assert estimate_mos(20, 80, 800) < 2.0


def test_call_quality_from_stats() -> None:
    q = call_quality({"packets_in": 950, "lost": 50, "jitter_ms": 3.5, "rtt_ms": 60.0})
    assert q["lossPercent"] == 5.0 and q["jitterMs"] == 3.5 and q["rttMs"] == 60.0
    assert q["mos"] == estimate_mos(5.0, 3.5, 60.0)
    assert call_quality(None) == {"lossPercent": None, "jitterMs": None, "rttMs": None, "mos": None}
    assert call_quality({"dtmf": "12"})["mos"] is None
    # Nonsense values do not break it.
    q = call_quality({"packets_in": 0, "lost": -3, "jitter_ms": "x", "rtt_ms": True})
    assert q == {
        "lossPercent": 0.0,
        "jitterMs": None,
        "rttMs": None,
        "mos": estimate_mos(0, 0, None),
    }
