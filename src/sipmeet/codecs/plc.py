"""Packet loss concealment by pitch-period repetition, for codecs without their own.

In the spirit of ITU-T G.711 Appendix I: when a gap starts, estimate the pitch
period of the last good audio, repeat that period for as long as the gap lasts,
keep it at full level for the first 10 ms, then fade by 20 % per 10 ms so that
the output is silent from 60 ms on. The first good frame after a gap is
overlap-added with the continuation of the synthetic signal so it joins without
a click.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .base import Pcm

__all__ = ["Concealer"]

_Float = npt.NDArray[np.float32]

HISTORY_MS = 40
MIN_PITCH_HZ = 66  # longest period searched: ~15 ms
MAX_PITCH_HZ = 400  # shortest period searched: 2.5 ms
FULL_LEVEL_MS = 10  # G.711 App. I: no attenuation during the first 10 ms
SILENT_AFTER_MS = 60  # then -20 % per 10 ms, silence from 60 ms
JOIN_MS = 2.5  # overlap-add at the first good frame after a gap
UNVOICED_CORRELATION = 0.3  # below this, repeat the last 10 ms instead of a pitch period


class Concealer:
    """Keeps recent decoded audio and synthesises stand-in audio for gaps."""

    def __init__(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        ms = sample_rate_hz / 1000
        self._min_period = int(sample_rate_hz / MAX_PITCH_HZ)
        self._max_period = int(sample_rate_hz / MIN_PITCH_HZ)
        self._history = np.zeros(int(HISTORY_MS * ms), dtype=np.int16)
        self._full = int(FULL_LEVEL_MS * ms)
        self._fade = int((SILENT_AFTER_MS - FULL_LEVEL_MS) * ms)
        self._join = max(1, int(JOIN_MS * ms))
        self._heard = False
        self._lost = 0  # samples concealed so far in the current gap
        self._period: _Float = np.zeros(0, dtype=np.float32)
        self._tail: _Float | None = None  # synthetic audio that follows the last concealed sample

    @property
    def concealing(self) -> bool:
        """True while a gap is being concealed (until the next good frame)."""
        return self._lost > 0

    def received(self, pcm: Pcm) -> Pcm:
        """Record a good frame (joined to a preceding gap, in place) and return it."""
        if pcm.size == 0:
            return pcm
        if self._tail is not None:
            n = min(pcm.size, self._tail.size)
            ramp = np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]
            joined = pcm[:n] * ramp + self._tail[:n] * (1.0 - ramp)
            if not pcm.flags.writeable:
                pcm = pcm.copy()
            pcm[:n] = np.rint(joined)
            self._tail = None
        self._lost = 0
        self._heard = True
        history = self._history
        if pcm.size >= history.size:
            history[:] = pcm[-history.size :]
        else:
            history[: -pcm.size] = history[pcm.size :]
            history[-pcm.size :] = pcm
        return pcm

    def conceal(self, samples: int) -> Pcm:
        """``samples`` samples of stand-in audio continuing the current gap."""
        if samples <= 0:
            return np.zeros(0, dtype=np.int16)
        if not self._heard or self._lost >= self._full + self._fade:
            self._lost += samples
            self._tail = np.zeros(self._join, dtype=np.float32) if self._heard else None
            return np.zeros(samples, dtype=np.int16)
        if self._lost == 0:
            self._period = self._history[-self._pitch_period() :].astype(np.float32)
        out = self._synthesise(self._lost, samples + self._join)
        self._lost += samples
        self._tail = out[samples:]
        return np.rint(out[:samples]).astype(np.int16)

    def _synthesise(self, start: int, count: int) -> _Float:
        """The repeated period from gap position ``start`` on, faded as the gap ages."""
        period = self._period
        position = np.arange(start, start + count)
        wave = period[position % period.size]
        gain = np.clip(1.0 - (position - self._full) / self._fade, 0.0, 1.0).astype(np.float32)
        return wave * gain

    def _pitch_period(self) -> int:
        """The lag (samples) at which the recent audio best matches itself."""
        h = self._history.astype(np.float32)
        window = self._max_period
        reference = h[-window:]
        # Candidate segments end `lag` samples before the end, lag in [min, max].
        search = h[h.size - window - self._max_period : h.size - self._min_period]
        correlation = np.correlate(search, reference, mode="valid")
        squares = np.concatenate(([0.0], np.cumsum(search.astype(np.float64) ** 2)))
        energy = squares[window:] - squares[:-window]
        norm = np.sqrt(energy * float(reference @ reference)) + 1e-9
        score = correlation / norm
        best = int(np.argmax(score))
        if score[best] < UNVOICED_CORRELATION:
            return self.sample_rate_hz // 100
        return self._max_period - best
