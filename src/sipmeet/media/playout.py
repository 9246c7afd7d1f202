"""From a jitter buffer to fixed-size frames of PCM: what a phone leg and a browser share.

Each 20 ms tick takes what the buffer has released: packets are decoded, a
:class:`~sipmeet.rtp.jitter.Gap` is concealed by the decoder (Opus's own PLC, or
repeat-and-fade for G.711/G.722), RFC 3389 comfort noise plays as silence, and a payload
that will not decode is concealed too (it never stops the room). Decoded audio beyond one
frame waits for the next tick (a 30 ms packet spans ticks).
"""

from __future__ import annotations

import logging

import numpy as np

from ..codecs.base import Decoder
from ..rtp.jitter import Gap, JitterBuffer

__all__ = ["COMFORT_NOISE_PT", "Playout"]

log = logging.getLogger(__name__)

COMFORT_NOISE_PT = 13  # RFC 3389, static payload type (RFC 3551)
_EMPTY = np.zeros(0, dtype=np.int16)


class Playout:
    """Frames of ``decoder``'s PCM out of ``jitter`` (the decoder can be replaced)."""

    def __init__(self, jitter: JitterBuffer, decoder: Decoder) -> None:
        self.jitter = jitter
        self.decoder = decoder
        self.frames_decoded = 0
        self._pending = _EMPTY

    def reset(self, decoder: Decoder) -> None:
        """Decode with ``decoder`` from now on; audio decoded by the old one is dropped."""
        self.decoder = decoder
        self._pending = _EMPTY

    def pull(self, samples: int, now: float) -> np.ndarray | None:
        """The next ``samples`` samples at the decoder's rate, or None when nothing is due
        (between talk spurts, or nothing received yet). A short tail is padded with zeros."""
        decoder = self.decoder
        chunks = [self._pending] if self._pending.size else []
        have = self._pending.size
        while have < samples:
            item = self.jitter.pop(now)
            if item is None:
                break
            if isinstance(item, Gap):  # lost or late: the codec conceals
                pcm = decoder.conceal(
                    item.samples * decoder.sample_rate_hz // self.jitter.clock_rate_hz
                )
            elif item.payload_type == COMFORT_NOISE_PT:
                pcm = np.zeros(samples, dtype=np.int16)
            else:
                try:
                    pcm = decoder.decode(item.payload)
                except Exception as exc:  # a corrupt payload conceals, never stops the room
                    log.debug("undecodable %s payload: %s", decoder.name, exc)
                    pcm = decoder.conceal(samples)
                else:
                    self.frames_decoded += 1
            chunks.append(pcm)
            have += pcm.size
        if have == 0:
            self._pending = _EMPTY
            return None
        pcm = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        if pcm.size < samples:
            pcm = np.concatenate((pcm, np.zeros(samples - pcm.size, dtype=np.int16)))
        frame, self._pending = pcm[:samples], pcm[samples:]
        return frame
