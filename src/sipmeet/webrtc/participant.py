"""A browser as a room participant: its Opus decoded once per tick at the room rate.

The browser's microphone packets arrive from the tap (encoded, one Opus frame per RTP
packet, on the event loop) into the same adaptive jitter buffer phone legs use; each
20 ms tick the room pulls one frame, decoded straight to the room rate (missing audio
concealed by libopus), and mixes it into every phone leg's mix-minus. Browsers hear
the others through forwarded tracks, not a mix, so :meth:`push_frame` discards the
room's mix.
"""

from __future__ import annotations

import logging

import numpy as np

from ..codecs.errors import CodecError
from ..codecs.opus import OpusDecoder
from ..rooms.events import ParticipantKind
from ..rtp.jitter import Gap, JitterBuffer
from ..rtp.packet import RtpPacket

__all__ = ["WebRtcParticipant"]

log = logging.getLogger(__name__)

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
        self._decoder: OpusDecoder | None = None
        self.jitter = JitterBuffer(
            OPUS_CLOCK_HZ, min_delay_ms=jitter_min_ms, max_delay_ms=jitter_max_ms
        )
        self._pcm = np.zeros(0, dtype=np.int16)
        self.frames_decoded = 0

    @property
    def rate_hz(self) -> int:
        return 48000  # Opus: the room goes wideband while a browser is in it

    @property
    def room_rate_hz(self) -> int:
        return self._room_rate_hz

    def set_room_rate(self, rate_hz: int) -> None:
        if rate_hz != self._room_rate_hz:
            self._room_rate_hz = rate_hz
            self._decoder = None
            self._pcm = np.zeros(0, dtype=np.int16)

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
        size = self._room_rate_hz * self.frame_ms // 1000
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = OpusDecoder(self._room_rate_hz)
        chunks = [self._pcm] if self._pcm.size else []
        have = self._pcm.size
        while have < size:
            item = self.jitter.pop(now)
            if item is None:
                break
            if isinstance(item, Gap):  # lost or late: libopus conceals
                pcm = decoder.conceal(item.samples * self._room_rate_hz // OPUS_CLOCK_HZ)
            else:
                try:
                    pcm = decoder.decode(item.payload)
                except CodecError as exc:
                    log.debug("undecodable Opus frame from %s: %s", self.participant_id, exc)
                    pcm = decoder.conceal(size)
                else:
                    self.frames_decoded += 1
            chunks.append(pcm)
            have += pcm.size
        if have == 0:
            self._pcm = np.zeros(0, dtype=np.int16)
            return None  # nothing due: between talk spurts, or nothing received yet
        pcm = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        if pcm.size < size:
            pcm = np.concatenate((pcm, np.zeros(size - pcm.size, dtype=np.int16)))
        frame, self._pcm = pcm[:size], pcm[size:]
        return frame

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        return None  # browsers receive each participant's own track, not a mix
