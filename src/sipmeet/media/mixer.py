"""The room's mix-minus: every participant hears everybody but itself.

One call mixes a whole 20 ms tick for all participants at once. Row ``i`` of
the result is the sum of all rows of the input except row ``i``, computed as
``total - own`` in 32-bit integers and saturated to 16 bits, so nobody ever
hears their own audio (the subtraction is exact). Per-row gains and a mute
mask act on what a participant *sends*: a muted participant reaches nobody
but still hears the others.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_GAIN", "MixMinus"]

MAX_GAIN = 8.0
"""Largest per-row gain (+18 dB); larger gains are clipped to it."""

_GAIN_BITS = 12  # gains are applied in Q12 fixed point
_UNITY = np.int32(1 << _GAIN_BITS)
_GAIN_SHIFT = np.int32(_GAIN_BITS)
_UNITY_F = np.float64(1 << _GAIN_BITS)
_MAX_GAIN_F = np.float64(MAX_GAIN)
_ZERO_F = np.float64(0.0)
_INT16_MIN = np.int32(-32768)
_INT16_MAX = np.int32(32767)


class MixMinus:
    """Vectorised mix-minus over an ``(N, S)`` block of int16 frames.

    The buffers are kept between calls and reallocated only when the number of
    participants or the frame size changes, so a steady room allocates nothing.
    The returned array is one of those buffers: it is valid until the next call
    to :meth:`mix`; copy the rows you need to keep longer.
    """

    def __init__(self) -> None:
        self._shape: tuple[int, int] = (-1, -1)
        self._acc: npt.NDArray[np.int32] = np.zeros((0, 0), dtype=np.int32)
        self._spread: npt.NDArray[np.int32] = np.zeros((0, 0), dtype=np.int32)
        self._total: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)
        self._out: npt.NDArray[np.int16] = np.zeros((0, 0), dtype=np.int16)
        self._gain_f: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)
        self._gain_q: npt.NDArray[np.int32] = np.zeros(0, dtype=np.int32)

    def _buffers(self, rows: int, samples: int) -> None:
        if self._shape != (rows, samples):
            self._shape = (rows, samples)
            self._acc = np.zeros((rows, samples), dtype=np.int32)
            self._spread = np.zeros((rows, samples), dtype=np.int32)
            self._total = np.zeros(samples, dtype=np.int32)
            self._out = np.zeros((rows, samples), dtype=np.int16)
            self._gain_f = np.zeros(rows, dtype=np.float64)
            self._gain_q = np.zeros(rows, dtype=np.int32)

    def mix(
        self,
        frames: npt.NDArray[np.int16],
        gains: npt.NDArray[np.floating] | None = None,
        muted: npt.NDArray[np.bool_] | None = None,
    ) -> npt.NDArray[np.int16]:
        """Row ``i`` of the result: the sum of every row of ``frames`` but row ``i``.

        ``frames`` is ``(N, S)`` int16, one row per participant at the room rate
        (zeros for a silent one). ``gains`` (N floats in 0..8) scale what each
        participant sends; ``muted`` (N bools) silences what a participant sends.
        """
        if frames.ndim != 2 or frames.dtype != np.int16:
            raise ValueError(f"mix takes (N, S) int16 frames, got {frames.ndim}-D {frames.dtype}")
        rows, samples = frames.shape
        self._buffers(rows, samples)
        acc = self._acc
        np.copyto(acc, frames)
        if gains is not None or muted is not None:
            weight = self._gain_q
            if gains is None:
                weight.fill(_UNITY)
            else:
                np.minimum(gains, _MAX_GAIN_F, out=self._gain_f)
                np.maximum(self._gain_f, _ZERO_F, out=self._gain_f)
                np.multiply(self._gain_f, _UNITY_F, out=self._gain_f)
                np.rint(self._gain_f, out=self._gain_f)
                np.copyto(weight, self._gain_f, casting="unsafe")
            if muted is not None:
                np.copyto(weight, 0, where=muted)
            # Broadcasting inside a ufunc would use a temporary buffer; spread first.
            np.copyto(self._spread, weight[:, np.newaxis])
            np.multiply(acc, self._spread, out=acc)
            np.right_shift(acc, _GAIN_SHIFT, out=acc)
        np.sum(acc, axis=0, out=self._total)
        np.copyto(self._spread, self._total)
        np.subtract(self._spread, acc, out=acc)
        # Saturate in place, then narrow (np.clip straight into int16 would buffer).
        np.minimum(acc, _INT16_MAX, out=acc)
        np.maximum(acc, _INT16_MIN, out=acc)
        np.copyto(self._out, acc, casting="unsafe")
        return self._out
