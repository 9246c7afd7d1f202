"""Stateful sample-rate conversion of a PCM stream, frame by frame.

libswresample (through PyAV) does the filtering: it keeps its filter history
between calls, so consecutive frames join without clicks, and it delays the
stream by only about 2 ms. (libsoxr's streaming mode, at any of its quality
settings above "quick", holds 20 ms input chunks back for 30 to 175 ms and
releases them in bursts, which a 20 ms media clock cannot use.)

Every call returns exactly as many samples as the input's duration is worth at
the output rate (the running total, rounded down); the resampler's start-up
delay is filled with silence once, at the start.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from .base import Pcm
from .errors import CodecError

__all__ = ["StreamResampler"]


class StreamResampler:
    """Converts one continuous mono int16 stream from ``in_rate_hz`` to ``out_rate_hz``."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise CodecError(f"cannot resample {in_rate_hz} Hz to {out_rate_hz} Hz")
        self.in_rate_hz = in_rate_hz
        self.out_rate_hz = out_rate_hz
        self._resampler = (
            None
            if in_rate_hz == out_rate_hz
            else av.AudioResampler(format="s16", layout="mono", rate=out_rate_hz)
        )
        self._time_base = Fraction(1, in_rate_hz)
        self._in_total = 0
        self._out_total = 0
        self._pending = np.zeros(0, dtype=np.int16)

    @property
    def identity(self) -> bool:
        """True when both rates are equal and frames pass through untouched."""
        return self._resampler is None

    def process(self, pcm: Pcm) -> Pcm:
        """The next frame of the stream at the output rate."""
        if self._resampler is None:
            return pcm
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise CodecError(f"resampling takes 1-D int16 PCM, got {pcm.ndim}-D {pcm.dtype}")
        if pcm.size == 0:
            return pcm
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self.in_rate_hz
        frame.time_base = self._time_base
        frame.pts = self._in_total
        produced = [
            np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1)
            for out in self._resampler.resample(frame)
        ]
        self._in_total += pcm.size
        want = self._in_total * self.out_rate_hz // self.in_rate_hz - self._out_total
        self._out_total += want
        if len(produced) == 1 and self._pending.size == 0 and produced[0].size == want:
            return produced[0]
        data = np.concatenate([self._pending, *produced])
        if data.size < want:
            data = np.concatenate([np.zeros(want - data.size, dtype=np.int16), data])
        self._pending = data[want:]
        return data[:want]
