"""The browser side of one room: who publishes what, who receives it, phone voices as Opus.

Browsers receive no mix. Each browser gets every other browser's tracks (forwarded
encoded, see :mod:`.tap`) and one audio track per phone caller. A caller's audio is
encoded to Opus once per tick, at the room rate (8 or 16 kHz, never resampled to
48 kHz), and that single stream is forwarded to every browser.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..codecs.opus import OpusEncoder, is_dtx_packet
from ..media.levels import SILENCE_LEVEL
from ..rooms.room import Participant, Room
from .tracks import Publication

__all__ = ["PublicationListener", "RoomSfu"]

log = logging.getLogger(__name__)

OPUS_CLOCK_HZ = 48000  # RFC 7587 §4.1: the RTP clock of Opus is always 48 kHz
# A phone's voice has been through G.711/G.722 once already; Opus at libopus's default
# (~19 kb/s at 16 kHz) audibly adds to that, 32 kb/s does not (P.862 4.2 vs 3.7 offline).
PHONE_OPUS_BPS = 32000


class PublicationListener(Protocol):
    """A browser's session: told when streams appear in or leave the room."""

    participant_id: str

    def publication_added(self, publication: Publication) -> None: ...

    def publication_removed(self, publication: Publication) -> None: ...


@dataclass(slots=True)
class _PhoneStream:
    publication: Publication
    encoder: OpusEncoder
    rate_hz: int
    ticks: int = 0
    in_dtx: bool = True  # the browsers were told "comfort noise" and nothing was said since


class RoomSfu:
    """Forwarding state of one room's browsers; observes the room's ticks for phone audio."""

    def __init__(self, room: Room, *, opus_complexity: int = 5) -> None:
        self.room = room
        self.opus_complexity = opus_complexity
        self.publications: dict[str, Publication] = {}
        self._listeners: dict[str, PublicationListener] = {}
        self._phones: dict[str, _PhoneStream] = {}
        self.encoded_frames = 0
        room.add_observer(self)

    # -- browsers ---------------------------------------------------------------------

    def add_listener(self, listener: PublicationListener) -> None:
        self._listeners[listener.participant_id] = listener
        for publication in list(self.publications.values()):
            if publication.publisher_id != listener.participant_id:
                listener.publication_added(publication)

    def remove_listener(self, participant_id: str) -> None:
        self._listeners.pop(participant_id, None)
        for publication in list(self.publications.values()):
            if publication.publisher_id == participant_id:
                self.unpublish(publication)

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def publish(self, publication: Publication) -> None:
        self.publications[publication.publication_id] = publication
        for listener in list(self._listeners.values()):
            if listener.participant_id != publication.publisher_id:
                listener.publication_added(publication)

    def unpublish(self, publication: Publication) -> None:
        if self.publications.pop(publication.publication_id, None) is None:
            return
        for listener in list(self._listeners.values()):
            listener.publication_removed(publication)
        publication.close()

    def close(self) -> None:
        self.room.remove_observer(self)
        for publication in list(self.publications.values()):
            self.unpublish(publication)
        for phone in self._phones.values():
            phone.encoder.close()
        self._phones.clear()
        self._listeners.clear()

    # -- phone callers: one Opus encode per tick ---------------------------------------

    def frames_pulled(
        self,
        participants: Sequence[Participant],
        frames: np.ndarray,
        levels: np.ndarray,
        now: float,
    ) -> None:
        rate = self.room.rate_hz
        present: set[str] = set()
        for i, participant in enumerate(participants):
            if participant.kind == "webrtc":
                continue
            pid = participant.participant_id
            present.add(pid)
            phone = self._phones.get(pid)
            if phone is None or phone.rate_hz != rate:
                phone = self._phone_stream(participant, rate, phone)
            phone.ticks += 1
            publication = phone.publication
            if not publication.subscribers:
                continue  # nobody listening
            if phone.in_dtx and int(levels[i]) >= SILENCE_LEVEL:
                continue  # still digital silence (muted, on hold, no packets): nothing to say
            payload = phone.encoder.encode(frames[i])
            self.encoded_frames += 1
            if is_dtx_packet(payload):
                if phone.in_dtx:
                    continue  # DTX: the encoder judged this frame silence
                # The first DTX frame is sent: the browser's jitter buffer then plays comfort
                # noise instead of concealing "lost" packets and stretching time around them.
                phone.in_dtx = True
            else:
                phone.in_dtx = False
            samples = OPUS_CLOCK_HZ * self.room.frame_ms // 1000
            publication.forward(payload, phone.ticks * samples, int(levels[i]))
        for pid in [p for p in self._phones if p not in present]:
            gone = self._phones.pop(pid)
            gone.encoder.close()
            self.unpublish(gone.publication)

    def _phone_stream(
        self, participant: Participant, rate_hz: int, previous: _PhoneStream | None
    ) -> _PhoneStream:
        encoder = OpusEncoder(
            rate_hz, complexity=self.opus_complexity, dtx=True, bitrate_bps=PHONE_OPUS_BPS
        )
        if previous is not None:  # the room changed rate: same stream, new encoder
            previous.encoder.close()
            previous.encoder, previous.rate_hz = encoder, rate_hz
            return previous
        publication = Publication(participant.participant_id, "audio", "opus", OPUS_CLOCK_HZ)
        phone = _PhoneStream(publication, encoder, rate_hz)
        self._phones[participant.participant_id] = phone
        self.publish(publication)
        return phone
