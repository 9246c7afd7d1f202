"""A browser as a room participant: its Opus decoded once per tick at the room rate.

The browser's microphone frames arrive from the tap (encoded, on the event loop); each
20 ms tick the room pulls one frame, decoded straight to the room rate, and mixes it
into every phone leg's mix-minus. Browsers hear the others through forwarded tracks,
not a mix, so :meth:`push_frame` discards the room's mix.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

from ..codecs.errors import CodecError
from ..codecs.opus import OpusDecoder
from ..rooms.events import ParticipantKind

__all__ = ["WebRtcParticipant"]

log = logging.getLogger(__name__)

_MAX_BACKLOG_FRAMES = 4  # more than this queued (80 ms) and the oldest audio is dropped
_CONCEAL_FRAMES = 3  # frames of loss concealment before the browser counts as silent


class WebRtcParticipant:
    """Implements :class:`sipmeet.rooms.room.Participant` for one browser."""

    kind: ParticipantKind = "webrtc"
    masked_number: str | None = None

    def __init__(self, participant_id: str, display_name: str, *, frame_ms: int = 20) -> None:
        self.participant_id = participant_id
        self.display_name = display_name
        self.muted = False
        self.hand_raised = False
        self.frame_ms = frame_ms
        self._room_rate_hz = 16000
        self._decoder: OpusDecoder | None = None
        self._payloads: deque[bytes] = deque()
        self._pcm = np.zeros(0, dtype=np.int16)
        self._missing = _CONCEAL_FRAMES
        self.frames_decoded = 0
        self.frames_dropped = 0

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

    def receive_opus(self, payload: bytes) -> None:
        """One Opus frame from the browser (called from the tap, on the event loop)."""
        if len(self._payloads) >= _MAX_BACKLOG_FRAMES:
            self._payloads.popleft()
            self.frames_dropped += 1
        self._payloads.append(payload)

    def pull_frame(self, now: float) -> np.ndarray | None:
        size = self._room_rate_hz * self.frame_ms // 1000
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = OpusDecoder(self._room_rate_hz)
        while self._pcm.size < size and self._payloads:
            payload = self._payloads.popleft()
            try:
                pcm = decoder.decode(payload)
            except CodecError as exc:
                log.debug("undecodable Opus frame from %s: %s", self.participant_id, exc)
                continue
            self.frames_decoded += 1
            self._missing = 0
            self._pcm = pcm if not self._pcm.size else np.concatenate((self._pcm, pcm))
        if self._pcm.size >= size:
            frame, self._pcm = self._pcm[:size], self._pcm[size:]
            return frame
        if self._missing < _CONCEAL_FRAMES:  # a late or lost packet: let libopus conceal
            self._missing += 1
            return decoder.conceal(size)
        return None

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        return None  # browsers receive each participant's own track, not a mix
