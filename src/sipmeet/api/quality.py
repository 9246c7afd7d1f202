"""Call quality figures for the API: loss, jitter, RTT from a call's stats, and an estimated MOS.

The MOS estimate is the simplified E-model of ITU-T G.107 as commonly applied to VoIP
monitoring (Cole & Rosenbluth, "Voice over IP performance monitoring", 2001), with the
G.711-with-PLC impairment figures of ITU-T G.113 Appendix I:

* one-way delay ``d = rtt/2 + 2*jitter + 10 ms`` (half the round trip, a jitter buffer of twice
  the jitter, 10 ms of codec delay); without an RTT measurement ``d`` counts the other terms;
* delay impairment ``Id = 0.024*d + 0.11*(d - 177.3)*H(d - 177.3)`` (G.107 simplified, H = step);
* equipment impairment with random loss ``Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl)``,
  ``Ie = 0`` and ``Bpl = 25.1`` (G.711 with packet loss concealment, G.113 Appendix I);
* ``R = 93.2 - Id - Ie_eff``, clamped to 0..100, and the G.107 Annex B mapping
  ``MOS = 1 + 0.035*R + 7e-6*R*(R - 60)*(100 - R)`` (R = 93.2 gives 4.41; a call
  without loss, jitter or network delay scores 4.40).

The same figures are used for every codec: the estimate ranks calls, it is not a PESQ score.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["QUALITY_FIELDS", "call_quality", "estimate_mos", "mos_from_r", "r_factor"]

QUALITY_FIELDS = ("lossPercent", "jitterMs", "rttMs", "mos")

_R0 = 93.2
_IE_G711 = 0.0
_BPL_G711 = 25.1
_CODEC_DELAY_MS = 10.0


def r_factor(loss_percent: float, jitter_ms: float, rtt_ms: float | None) -> float:
    """The E-model transmission rating R (0..100) for the given network figures."""
    loss = min(max(loss_percent, 0.0), 100.0)
    jitter = max(jitter_ms, 0.0)
    one_way = (max(rtt_ms, 0.0) / 2.0 if rtt_ms is not None else 0.0) + 2.0 * jitter
    d = one_way + _CODEC_DELAY_MS
    i_d = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    i_e = _IE_G711 + (95.0 - _IE_G711) * loss / (loss + _BPL_G711)
    return min(max(_R0 - i_d - i_e, 0.0), 100.0)


def mos_from_r(r: float) -> float:
    """ITU-T G.107 Annex B: the MOS (conversational quality estimate) for a rating R."""
    if r <= 0.0:
        return 1.0
    if r >= 100.0:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def estimate_mos(loss_percent: float, jitter_ms: float, rtt_ms: float | None) -> float:
    """The estimated MOS (1.0..4.5), two decimals, from loss (%), jitter and RTT (ms)."""
    return round(mos_from_r(r_factor(loss_percent, jitter_ms, rtt_ms)), 2)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def call_quality(stats: Mapping[str, object] | None) -> dict[str, float | None]:
    """``lossPercent``, ``jitterMs``, ``rttMs`` and ``mos`` from a call's stats (see
    ``sipmeet.media.leg.AudioLeg.quality``); all None when the call carried no media."""
    stats = stats or {}
    received = _number(stats.get("packets_in"))
    lost = _number(stats.get("lost"))
    jitter = _number(stats.get("jitter_ms"))
    rtt = _number(stats.get("rtt_ms"))
    if received is None and jitter is None:
        return dict.fromkeys(QUALITY_FIELDS)
    loss_percent: float | None = None
    if received is not None:
        lost_n = max(lost or 0.0, 0.0)
        expected = received + lost_n
        loss_percent = round(100.0 * lost_n / expected, 2) if expected > 0 else 0.0
    mos = estimate_mos(loss_percent or 0.0, jitter or 0.0, rtt)
    return {"lossPercent": loss_percent, "jitterMs": jitter, "rttMs": rtt, "mos": mos}
