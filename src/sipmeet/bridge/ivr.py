"""The dial-in menu: one number (or `sip:dialin@<domain>`), many rooms.

A caller is asked for the room's numeric dial-in code, then for its PIN when it
has one, by DTMF (RFC 4733 or SIP INFO); then the call joins the room. Three
wrong entries end the call with a goodbye. This module is the menu's state
machine only: digits and time in, actions out. The call carries the actions
out (prompts, lookups, joining, hanging up).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CheckPin",
    "DialInMenu",
    "HangUpAfter",
    "Join",
    "LookUpCode",
    "MenuAction",
    "MenuState",
    "Play",
]


class MenuState(Enum):
    CODE = "code"  # collecting the meeting code
    LOOKING_UP = "looking-up"  # the code is being looked up
    PIN = "pin"  # collecting the PIN
    CHECKING = "checking"  # the PIN is being checked
    JOINED = "joined"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Play:
    """Play a prompt (interrupting whatever prompt is playing)."""

    prompt: str


@dataclass(frozen=True, slots=True)
class LookUpCode:
    code: str


@dataclass(frozen=True, slots=True)
class CheckPin:
    room_id: str
    pin: str


@dataclass(frozen=True, slots=True)
class Join:
    room_id: str


@dataclass(frozen=True, slots=True)
class HangUpAfter:
    """Play ``prompt``, then end the call with ``reason``."""

    prompt: str
    reason: str


MenuAction = Play | LookUpCode | CheckPin | Join | HangUpAfter

ENTRY_DIGITS = frozenset("0123456789")


class DialInMenu:
    """See module docstring. ``now`` is seconds on any monotonic clock."""

    def __init__(
        self,
        *,
        code_length: int = 6,
        max_attempts: int = 3,
        digit_timeout_s: float = 5.0,
        prompt_timeout_s: float = 15.0,
        max_entry_digits: int = 16,
    ) -> None:
        self.code_length = code_length
        self.max_attempts = max_attempts
        self.digit_timeout_s = digit_timeout_s
        self.prompt_timeout_s = prompt_timeout_s
        self.max_entry_digits = max_entry_digits
        self.state = MenuState.CODE
        self.room_id: str | None = None
        self._entry = ""
        self._failures = 0
        self._deadline: float | None = None
        self._last_prompt = "welcome"

    def next_deadline(self) -> float | None:
        return self._deadline

    def start(self, now: float) -> list[MenuAction]:
        return self._prompt("welcome", now)

    def _prompt(self, prompt: str, now: float) -> list[MenuAction]:
        self._last_prompt = prompt
        self._deadline = now + self.prompt_timeout_s
        return [Play(prompt)]

    def digit(self, digit: str, now: float) -> list[MenuAction]:
        """One key press."""
        if self.state not in (MenuState.CODE, MenuState.PIN):
            return []
        if digit == "#":
            return self._submit(now)
        if digit == "*":
            self._entry = ""  # start the entry again
            self._deadline = now + self.prompt_timeout_s
            return []
        if digit not in ENTRY_DIGITS:
            return []
        self._entry += digit
        if len(self._entry) > self.max_entry_digits:
            return self._wrong(now)
        if self.state is MenuState.CODE and len(self._entry) == self.code_length:
            return self._submit(now)
        self._deadline = now + self.digit_timeout_s
        return []

    def poll(self, now: float) -> list[MenuAction]:
        """Time passed: an entry stopped half-way is submitted; silence repeats the prompt."""
        if self._deadline is None or now < self._deadline:
            return []
        if self.state not in (MenuState.CODE, MenuState.PIN):
            self._deadline = None
            return []
        if self._entry:
            return self._submit(now)
        self._failures += 1
        if self._failures >= self.max_attempts:
            return self._fail()
        return self._prompt(self._last_prompt, now)

    def _submit(self, now: float) -> list[MenuAction]:
        entry, self._entry = self._entry, ""
        if not entry:
            return self._wrong(now)
        self._deadline = None
        if self.state is MenuState.CODE:
            self.state = MenuState.LOOKING_UP
            return [LookUpCode(entry)]
        assert self.room_id is not None  # our invariant: PIN comes after a found room
        self.state = MenuState.CHECKING
        return [CheckPin(self.room_id, entry)]

    def code_result(self, room_id: str | None, has_pin: bool, now: float) -> list[MenuAction]:
        """The lookup's answer: the room (one the caller may enter) or None."""
        if self.state is not MenuState.LOOKING_UP:
            return []
        if room_id is None:
            self.state = MenuState.CODE
            return self._wrong(now)
        self.room_id = room_id
        if has_pin:
            self.state = MenuState.PIN
            self._failures = 0
            return self._prompt("enter_pin", now)
        return self._join()

    def pin_result(self, ok: bool, now: float) -> list[MenuAction]:
        if self.state is not MenuState.CHECKING:
            return []
        if not ok:
            self.state = MenuState.PIN
            return self._wrong(now)
        return self._join()

    def _join(self) -> list[MenuAction]:
        assert self.room_id is not None
        self.state = MenuState.JOINED
        self._deadline = None
        return [Play("joining"), Join(self.room_id)]

    def _wrong(self, now: float) -> list[MenuAction]:
        self._entry = ""
        self._failures += 1
        if self._failures >= self.max_attempts:
            return self._fail()
        return self._prompt("wrong_pin" if self.state is MenuState.PIN else "wrong_code", now)

    def _fail(self) -> list[MenuAction]:
        self.state = MenuState.FAILED
        self._deadline = None
        return [HangUpAfter("goodbye", "ivr-failed")]
