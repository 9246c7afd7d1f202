"""The live rooms of this node: created on first join, closed when the last one leaves."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator

from ..media.clock import FrameClock
from .events import RoomEvent
from .room import Participant, Room

__all__ = ["RoomRegistry"]

log = logging.getLogger(__name__)

Subscriber = Callable[[RoomEvent], None]


class RoomRegistry:
    """Owns every live :class:`Room` and its 20 ms clock; fans room events out to subscribers."""

    def __init__(self, *, frame_ms: int = 20) -> None:
        self.frame_ms = frame_ms
        self._rooms: dict[str, Room] = {}
        self._clocks: dict[str, FrameClock] = {}
        self._subscribers: list[Subscriber] = []
        self._queue: deque[RoomEvent] = deque()
        self._publishing = False

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every room event; returns a function that unsubscribes."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def _publish(self, event: RoomEvent) -> None:
        # An event raised by a subscriber (a keypad command muting its caller) is queued
        # until the current one has reached everybody, so all see events in one order.
        self._queue.append(event)
        if self._publishing:
            return
        self._publishing = True
        try:
            while self._queue:
                queued = self._queue.popleft()
                for subscriber in list(self._subscribers):
                    try:
                        subscriber(queued)
                    except Exception:
                        log.exception("room event subscriber failed")
        finally:
            self._publishing = False

    def get(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self._rooms.values()))

    def __len__(self) -> int:
        return len(self._rooms)

    def clock(self, room_id: str) -> FrameClock | None:
        return self._clocks.get(room_id)

    def join(self, room_id: str, api_key_id: str, participant: Participant) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = Room(room_id, api_key_id, frame_ms=self.frame_ms, on_event=self._publish)
            self._rooms[room_id] = room
            clock = FrameClock(room.tick, period_s=self.frame_ms / 1000)
            self._clocks[room_id] = clock
            clock.start()
            log.info(
                "room %s opened", room_id, extra={"room_id": room_id, "api_key_id": api_key_id}
            )
        room.join(participant)
        return room

    def leave(self, room_id: str, participant_id: str, reason: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.leave(participant_id, reason)
        if not len(room):
            self._rooms.pop(room_id, None)
            clock = self._clocks.pop(room_id, None)
            if clock is not None:
                clock.stop()
                mean_ms = 1000 * clock.lateness_s_sum / clock.ticks if clock.ticks else 0.0
                log.info(
                    "room %s closed: %d ticks, %d skipped, tick lateness mean %.2f ms max %.2f ms",
                    room_id,
                    clock.ticks,
                    clock.skipped,
                    mean_ms,
                    1000 * clock.lateness_s_max,
                    extra={"room_id": room_id},
                )
            else:
                log.info("room %s closed", room_id, extra={"room_id": room_id})

    def close(self) -> None:
        for clock in self._clocks.values():
            clock.stop()
        self._clocks.clear()
        self._rooms.clear()
