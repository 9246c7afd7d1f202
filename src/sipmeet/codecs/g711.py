"""ITU-T G.711 μ-law (PCMU) and A-law (PCMA) with numpy lookup tables.

The decode tables are the decoder output values of G.711 Tables 1a (A-law)
and 2a (μ-law), scaled to 16 bits: the A-law range of 4096 units times 8,
the μ-law range of 8192 units times 4. The encode tables quantise every 16-bit value to
the code word whose decision interval holds it, with the character signals of
the standard: A-law has its even bits inverted (XOR 0x55), μ-law all bits
inverted, and bit 8 is 1 for positive values.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from .base import Pcm
from .errors import CodecError
from .plc import Concealer

__all__ = [
    "ALAW_DECODE",
    "ALAW_ENCODE",
    "ULAW_DECODE",
    "ULAW_ENCODE",
    "G711Decoder",
    "G711Encoder",
    "decode_alaw",
    "decode_ulaw",
    "encode_alaw",
    "encode_ulaw",
]

G711_RATE_HZ = 8000
G711Law = Literal["PCMU", "PCMA"]


def _segment(magnitude: npt.NDArray[np.int32], first_end: int) -> npt.NDArray[np.int32]:
    """Segment 0..7 of a biased magnitude: segment s covers [first_end·2^(s-1), first_end·2^s)."""
    seg = np.zeros_like(magnitude)
    for s in range(1, 8):
        seg += magnitude >= (first_end << (s - 1))
    return seg


def _ulaw_tables() -> tuple[npt.NDArray[np.int16], npt.NDArray[np.uint8]]:
    # G.711 Table 2a in 14-bit units (full scale 8192): segment s, step m gives the
    # decoder output ((2m + 33) << s) - 33 and decision interval
    # [((2m + 32) << s) - 33, ((2m + 34) << s) - 33), clamped at 0 and at 8159.
    code = np.arange(256, dtype=np.int32)
    bits = code ^ 0xFF
    seg = (bits >> 4) & 0x7
    mant = bits & 0xF
    magnitude = ((2 * mant + 33) << seg) - 33
    decode = np.where(bits & 0x80, -magnitude, magnitude) * 4

    # Encoding: the analogue value x/4 falls in an interval; on the negative side the
    # one's complement (~x) >> 2 maps |x|/4 in (k, k+1] to k, so both halves are
    # mirror images of each other and every decision value is honoured exactly.
    x = np.arange(-32768, 32768, dtype=np.int32)
    negative = x < 0
    units = np.where(negative, ~x, x) >> 2
    biased = np.minimum(units, 8158) + 33  # 8159 and above saturate to the top code
    seg_e = _segment(biased, 64)
    mant_e = (biased >> (seg_e + 1)) & 0xF
    bits_e = (seg_e << 4) | mant_e | np.where(negative, 0x80, 0)
    encode = (bits_e ^ 0xFF).astype(np.uint8)
    return decode.astype(np.int16), _by_uint16_view(encode)


def _alaw_tables() -> tuple[npt.NDArray[np.int16], npt.NDArray[np.uint8]]:
    # G.711 Table 1a in 13-bit units (full scale 4096 on each side): segment 0 has
    # outputs 2m + 1, segment s >= 1 has ((2m + 33) << (s - 1)); decision values are
    # the multiples of the step, so floor division by the step finds the code.
    code = np.arange(256, dtype=np.int32)
    bits = code ^ 0x55
    seg = (bits >> 4) & 0x7
    mant = bits & 0xF
    magnitude = np.where(seg == 0, 2 * mant + 1, (2 * mant + 33) << np.maximum(seg - 1, 0))
    decode = np.where(bits & 0x80, magnitude, -magnitude) * 8

    x = np.arange(-32768, 32768, dtype=np.int32)
    negative = x < 0
    units = np.where(negative, ~x, x) >> 3  # 0..4095
    seg_e = _segment(units, 32)
    mant_e = np.where(seg_e == 0, units >> 1, units >> np.maximum(seg_e, 1)) & 0xF
    bits_e = (seg_e << 4) | mant_e | np.where(negative, 0, 0x80)
    encode = (bits_e ^ 0x55).astype(np.uint8)
    return decode.astype(np.int16), _by_uint16_view(encode)


def _by_uint16_view(table: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Reorder a table built for -32768..32767 so an int16's uint16 view indexes it."""
    return np.roll(table, -32768)


ULAW_DECODE, ULAW_ENCODE = _ulaw_tables()
ALAW_DECODE, ALAW_ENCODE = _alaw_tables()
for _table in (ULAW_DECODE, ULAW_ENCODE, ALAW_DECODE, ALAW_ENCODE):
    _table.flags.writeable = False


def _check_pcm(pcm: Pcm) -> None:
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise CodecError(f"G.711 encodes 1-D int16 PCM, got {pcm.ndim}-D {pcm.dtype}")


def encode_ulaw(pcm: Pcm) -> bytes:
    """16-bit PCM to μ-law code words."""
    _check_pcm(pcm)
    return ULAW_ENCODE[pcm.view(np.uint16)].tobytes()


def encode_alaw(pcm: Pcm) -> bytes:
    """16-bit PCM to A-law code words."""
    _check_pcm(pcm)
    return ALAW_ENCODE[pcm.view(np.uint16)].tobytes()


def decode_ulaw(payload: bytes) -> Pcm:
    """μ-law code words to 16-bit PCM."""
    return ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def decode_alaw(payload: bytes) -> Pcm:
    """A-law code words to 16-bit PCM."""
    return ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def _tables(name: str) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.uint8]]:
    if name == "PCMU":
        return ULAW_DECODE, ULAW_ENCODE
    if name == "PCMA":
        return ALAW_DECODE, ALAW_ENCODE
    raise CodecError(f"G.711 has no law named {name!r} (PCMU or PCMA)")


class G711Encoder:
    """PCMU or PCMA encoder (stateless), 8 kHz."""

    def __init__(self, name: G711Law) -> None:
        self.name: str = name
        self.sample_rate_hz = G711_RATE_HZ
        self._table = _tables(name)[1]

    def encode(self, pcm: Pcm) -> bytes:
        _check_pcm(pcm)
        return self._table[pcm.view(np.uint16)].tobytes()


class G711Decoder:
    """PCMU or PCMA decoder, 8 kHz, with waveform-substitution loss concealment."""

    def __init__(self, name: G711Law) -> None:
        self.name: str = name
        self.sample_rate_hz = G711_RATE_HZ
        self._table = _tables(name)[0]
        self._plc = Concealer(G711_RATE_HZ)

    def decode(self, payload: bytes) -> Pcm:
        pcm = self._table[np.frombuffer(payload, dtype=np.uint8)]
        return self._plc.received(pcm)

    def conceal(self, samples: int) -> Pcm:
        return self._plc.conceal(samples)
