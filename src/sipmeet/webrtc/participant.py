"""A browser as a room participant: its Opus decoded once per tick at the room rate.

The browser's microphone packets arrive from the tap (encoded, one Opus frame per RTP
packet, on the event loop) into the same adaptive jitter buffer phone legs use; each
20 ms tick the room pulls one frame, decoded straight to the room rate (missing audio
concealed by libopus), and mixes it into every phone leg's mix-minus. Browsers hear
the others through forwarded tracks, not a mix, so :meth:`push_frame` discards the
room's mix.
"""

from __future__ import annotations

import numpy as np

from ..codecs.opus import OpusDecoder
from ..media.playout import Playout
from ..rooms.events import ParticipantKind
from ..rtp.jitter import JitterBuffer
from ..rtp.packet import RtpPacket

__all__ = ["WebRtcParticipant"]

OPUS_CLOCK_HZ = 48000  # RFC 7587: Opus RTP timestamps always count 48 kHz


class WebRtcParticipant:
    """Implements :class:`sipmeet.rooms.room.Participant` for one browser."""

    kind: ParticipantKind = "webrtc"
    masked_number: str | None = None

    def __init__(
        self,
        participant_id: str,
        display_name: str,
        *,
        frame_ms: int = 20,
        jitter_min_ms: int = 20,
        jitter_max_ms: int = 200,
    ) -> None:
        self.participant_id = participant_id
        self.display_name = display_name
        self.muted = False
        self.hand_raised = False
        self.frame_ms = frame_ms
        self._room_rate_hz = 16000
        self.jitter = JitterBuffer(
            OPUS_CLOCK_HZ, min_delay_ms=jitter_min_ms, max_delay_ms=jitter_max_ms
        )
        # Decoded straight to the room rate: libopus resamples for free.
        self.playout = Playout(self.jitter, OpusDecoder(self._room_rate_hz))

    @property
    def rate_hz(self) -> int:
        return 48000  # Opus: the room goes wideband while a browser is in it

    @property
    def room_rate_hz(self) -> int:
        return self._room_rate_hz

    def set_room_rate(self, rate_hz: int) -> None:
        if rate_hz != self._room_rate_hz:
            self._room_rate_hz = rate_hz
            self.playout.reset(OpusDecoder(rate_hz))

    @property
    def frames_decoded(self) -> int:
        return self.playout.frames_decoded

    def receive_opus(
        self,
        payload: bytes,
        sequence: int,
        timestamp: int,
        now: float,
        *,
        marker: bool = False,
        ssrc: int = 0,
    ) -> None:
        """One Opus RTP packet from the browser (called from the tap, on the event loop)."""
        self.jitter.push(RtpPacket(111, sequence, timestamp, ssrc, marker, payload), now)

    def pull_frame(self, now: float) -> np.ndarray | None:
        return self.playout.pull(self._room_rate_hz * self.frame_ms // 1000, now)

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        return None  # browsers receive each participant's own track, not a mix
