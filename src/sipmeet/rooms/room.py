"""A live room: its participants, the mix-minus on each 20 ms tick, and its events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ..media.levels import ActiveSpeakerDetector, audio_levels
from ..media.mixer import MixMinus
from .events import (
    ActiveSpeakerChanged,
    MuteChanged,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    RoomEvent,
)

__all__ = ["FrameObserver", "Participant", "Room"]

log = logging.getLogger(__name__)

WIDEBAND_HZ = 16000


class Participant(Protocol):
    """What the room needs of a participant, whatever its kind."""

    participant_id: str
    kind: ParticipantKind
    display_name: str
    masked_number: str | None
    muted: bool

    @property
    def rate_hz(self) -> int:
        """The rate its audio is naturally at (8 kHz for G.711)."""

    def set_room_rate(self, rate_hz: int) -> None: ...

    def pull_frame(self, now: float) -> np.ndarray | None:
        """Its next frame at the room rate, or None when it has nothing to play."""

    def push_frame(self, frame: np.ndarray, now: float) -> None:
        """What it hears this tick: everybody but itself, at the room rate."""


class FrameObserver(Protocol):
    """Sees every tick's pulled frames before the mix (the browser fan-out encodes from here)."""

    def frames_pulled(
        self,
        participants: Sequence[Participant],
        frames: np.ndarray,
        levels: np.ndarray,
        now: float,
    ) -> None:
        """Row ``i`` of ``frames`` (room rate, zeros when muted or silent) is ``participants[i]``'s
        audio this tick and ``levels[i]`` its RFC 6464 level; both are valid during the call only."""


class Room:
    """Participants of one meeting and the per-tick mixing between them.

    The room mixes at the lowest rate that loses nothing: 8 kHz while every
    participant is narrowband, 16 kHz as soon as one is wideband.
    """

    def __init__(
        self,
        room_id: str,
        api_key_id: str,
        *,
        frame_ms: int = 20,
        on_event: Callable[[RoomEvent], None] | None = None,
    ) -> None:
        self.room_id = room_id
        self.api_key_id = api_key_id
        self.frame_ms = frame_ms
        self._on_event = on_event
        self._participants: dict[str, Participant] = {}
        self._order: list[Participant] = []
        self.rate_hz = 8000
        self._mixer = MixMinus()
        self._speaker: ActiveSpeakerDetector[str] = ActiveSpeakerDetector()
        self._frames = np.zeros((0, self.samples_per_frame), dtype=np.int16)
        self.active_speaker: str | None = None
        self.levels: dict[str, int] = {}
        self._observers: list[FrameObserver] = []

    @property
    def samples_per_frame(self) -> int:
        return self.rate_hz * self.frame_ms // 1000

    def __len__(self) -> int:
        return len(self._participants)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._participants

    @property
    def participants(self) -> list[Participant]:
        return list(self._order)

    def get(self, participant_id: str) -> Participant | None:
        return self._participants.get(participant_id)

    def join(self, participant: Participant) -> None:
        self._participants[participant.participant_id] = participant
        self._order.append(participant)
        self._update_rate()
        participant.set_room_rate(self.rate_hz)
        self._emit(
            ParticipantJoined(
                self.room_id,
                participant.participant_id,
                participant.kind,
                participant.display_name,
                participant.masked_number,
            )
        )

    def leave(self, participant_id: str, reason: str) -> None:
        participant = self._participants.pop(participant_id, None)
        if participant is None:
            return
        self._order.remove(participant)
        self.levels.pop(participant_id, None)
        self._update_rate()
        self._emit(ParticipantLeft(self.room_id, participant_id, participant.kind, reason))
        if self.active_speaker == participant_id:
            self.active_speaker = None
            self._emit(ActiveSpeakerChanged(self.room_id, None))

    def set_muted(self, participant_id: str, muted: bool) -> None:
        participant = self._participants.get(participant_id)
        if participant is None or participant.muted == muted:
            return
        participant.muted = muted
        self._emit(MuteChanged(self.room_id, participant_id, muted))

    def add_observer(self, observer: FrameObserver) -> None:
        """Show ``observer`` every tick's pulled frames (see :class:`FrameObserver`)."""
        if observer not in self._observers:
            self._observers.append(observer)

    def remove_observer(self, observer: FrameObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def emit(self, event: RoomEvent) -> None:
        """Publish an event that happened in this room (DTMF from a leg, for example)."""
        self._emit(event)

    def _emit(self, event: RoomEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("room event handler failed")

    def _update_rate(self) -> None:
        rate = WIDEBAND_HZ if any(p.rate_hz > 8000 for p in self._order) else 8000
        if rate != self.rate_hz:
            self.rate_hz = rate
            for p in self._order:
                p.set_room_rate(rate)
        shape = (len(self._order), self.samples_per_frame)
        if self._frames.shape != shape:
            self._frames = np.zeros(shape, dtype=np.int16)

    def tick(self, now: float) -> None:
        """One frame: pull every participant, mix-minus once for all, push each its mix."""
        order = self._order
        if not order:
            return
        frames = self._frames
        size = frames.shape[1]
        for i, p in enumerate(order):
            frame = p.pull_frame(now)
            if frame is None or p.muted:
                frames[i].fill(0)
            elif frame.size == size:
                frames[i] = frame
            else:
                frames[i].fill(0)
                n = min(size, frame.size)
                frames[i, :n] = frame[:n]
        levels = audio_levels(frames)
        for i, p in enumerate(order):
            self.levels[p.participant_id] = int(levels[i])
        for observer in list(self._observers):
            try:
                observer.frames_pulled(order, frames, levels, now)
            except Exception:  # a broken observer must not silence the phones
                log.exception("room frame observer failed")
        change = self._speaker.update(levels, [p.participant_id for p in order])
        if change is not None and change.speaker != self.active_speaker:
            self.active_speaker = None if change.speaker is None else str(change.speaker)
            self._emit(ActiveSpeakerChanged(self.room_id, self.active_speaker))
        mixes = np.zeros_like(frames) if len(order) == 1 else self._mixer.mix(frames)
        for i, p in enumerate(order):
            p.push_frame(mixes[i], now)
