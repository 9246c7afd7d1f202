"""Fakes of the live side (calls, rooms, their clocks) for the API and dashboard tests.

They implement the protocols of ``sipmeet.api.context`` (``LiveControl``, ``RoomView``) as
``CallManager`` and ``RoomRegistry`` do, with lists a test can fill and inspect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from sipmeet.rooms.events import RoomEvent


@dataclass
class FakeCall:
    participant_id: str
    room_id: str
    api_key_id: str
    call_id: str = ""  # default: call-<participant id>
    muted: bool = False
    quality: dict[str, object] = field(default_factory=dict)
    display_name: str = "Alice <Example>"  # markup in it: pages must escape it

    def describe(self) -> dict[str, object]:
        return {
            "participantId": self.participant_id,
            "callId": self.call_id or f"call-{self.participant_id}",
            "roomId": self.room_id,
            "apiKeyId": self.api_key_id,
            "displayName": self.display_name,
            "maskedNumber": "+*******4567",
            "codec": "PCMU",
            "muted": self.muted,
            "onHold": False,
            "quality": self.quality,
        }


@dataclass
class FakeLive:
    """The live-control protocol, as `CallManager` implements it."""

    live_calls: list[FakeCall] = field(default_factory=list)
    hung_up: list[tuple[str, str]] = field(default_factory=list)
    ended_rooms: list[tuple[str, str]] = field(default_factory=list)  # (room id, reason)

    @property
    def calls(self) -> list[FakeCall]:
        return list(self.live_calls)

    def hang_up(self, participant_id: str, *, reason: str = "removed") -> bool:
        for call in self.live_calls:
            if call.participant_id == participant_id:
                self.live_calls.remove(call)
                self.hung_up.append((participant_id, reason))
                return True
        return False

    def set_muted(self, participant_id: str, muted: bool) -> bool:
        for call in self.live_calls:
            if call.participant_id == participant_id:
                call.muted = muted
                return True
        return False

    def end_room(self, room_id: str, *, reason: str = "room-deactivated") -> int:
        ended = [c for c in self.live_calls if c.room_id == room_id]
        for call in ended:
            self.live_calls.remove(call)
        self.ended_rooms.append((room_id, reason))
        return len(ended)


@dataclass
class FakeFrameClock:
    ticks: int = 0
    skipped: int = 0
    lateness_s_max: float = 0.0
    lateness_s_sum: float = 0.0


@dataclass
class FakeParticipant:
    participant_id: str
    display_name: str = "Ada"
    muted: bool = False
    kind: str = "webrtc"


@dataclass
class FakeRoom:
    room_id: str
    size: int = 1
    participants: list[FakeParticipant] = field(default_factory=list)

    def __len__(self) -> int:
        return max(self.size, len(self.participants))


@dataclass
class FakeRooms:
    """The room view: live rooms, their frame clocks, and event subscribers."""

    rooms: dict[str, FakeRoom] = field(default_factory=dict)
    clocks: dict[str, FakeFrameClock] = field(default_factory=dict)
    subscribers: list[Callable[[RoomEvent], None]] = field(default_factory=list)

    @classmethod
    def of_sizes(cls, sizes: Mapping[str, int]) -> FakeRooms:
        return cls({room_id: FakeRoom(room_id, n) for room_id, n in sizes.items()})

    def get(self, room_id: str) -> FakeRoom | None:
        return self.rooms.get(room_id)

    def __iter__(self) -> Iterator[FakeRoom]:
        return iter(list(self.rooms.values()))

    def __len__(self) -> int:
        return len(self.rooms)

    def clock(self, room_id: str) -> FakeFrameClock | None:
        return self.clocks.get(room_id)

    def subscribe(self, subscriber: Callable[[RoomEvent], None]) -> Callable[[], None]:
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def publish(self, event: RoomEvent) -> None:
        for subscriber in self.subscribers:
            subscriber(event)
