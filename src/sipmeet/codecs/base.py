"""What the media pipeline needs of a codec: PCM in, payload out, and back.

PCM is always a one-dimensional ``numpy.int16`` array, mono, at the codec's own
sample rate (``sample_rate_hz``). One call handles one frame (one RTP payload).
"""

from __future__ import annotations

from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["Decoder", "Encoder", "Pcm"]

Pcm: TypeAlias = npt.NDArray[np.int16]


class Encoder(Protocol):
    """Turns frames of PCM into payloads, keeping whatever state the codec has."""

    name: str
    """Encoding name as SDP gives it: ``"PCMU"``, ``"PCMA"``, ``"G722"`` or ``"opus"``."""
    sample_rate_hz: int
    """The PCM rate this encoder consumes."""

    def encode(self, pcm: Pcm) -> bytes:
        """One frame (for example 20 ms) of PCM to one payload."""
        ...


class Decoder(Protocol):
    """Turns payloads into PCM, and fills gaps where packets were lost."""

    name: str
    sample_rate_hz: int
    """The PCM rate this decoder produces."""

    def decode(self, payload: bytes) -> Pcm:
        """One payload to PCM; raises :class:`~sipmeet.codecs.errors.CodecError` if invalid."""
        ...

    def conceal(self, samples: int) -> Pcm:
        """Exactly ``samples`` samples standing in for audio that never arrived."""
        ...
