"""Runs the dial-in menu (:mod:`.ivr`) for one call: prompts, lookups, joining the room.

Until the caller has keyed in a valid code (and PIN), the call sits alone in a
private lobby room, so that the room clock drives its prompts like any other
audio; then it moves to the room it asked for, in the same SIP dialog.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..media.prompts import load_prompt
from .ivr import CheckPin, DialInMenu, HangUpAfter, Join, LookUpCode, MenuAction, MenuState, Play
from .results import CallEnd, CallResult

if TYPE_CHECKING:
    from .call import Call

__all__ = ["DialInSession"]

log = logging.getLogger(__name__)


class DialInSession:
    """The menu of one call (see module docstring)."""

    def __init__(self, call: Call, menu: DialInMenu | None = None) -> None:
        self.call = call
        self.menu = menu or DialInMenu()
        self._loop = asyncio.get_running_loop()

    @property
    def active(self) -> bool:
        return self.menu.state not in (MenuState.JOINED, MenuState.FAILED)

    def start(self) -> None:
        self._do(self.menu.start(self._loop.time()))

    def digit(self, digit: str) -> None:
        """A key press; it cuts the prompt short (barge-in). Never logged: it may be a PIN."""
        participant = self.call.participant
        if participant is not None:
            participant.player.clear()
        self._do(self.menu.digit(digit, self._loop.time()))

    def poll(self) -> None:
        self._do(self.menu.poll(self._loop.time()))

    def _play(self, prompt: str, on_done: Callable[[], None] | None = None) -> None:
        participant = self.call.participant
        if participant is None:
            return
        pcm, rate = load_prompt(prompt)
        participant.player.clear()
        participant.player.play(pcm, rate, on_done=on_done)

    def _do(self, actions: list[MenuAction]) -> None:
        for action in actions:
            if isinstance(action, Play):
                self._play(action.prompt)
            elif isinstance(action, LookUpCode):
                self.call.manager.spawn(self._look_up(action.code))
            elif isinstance(action, CheckPin):
                self.call.manager.spawn(self._check_pin(action.room_id, action.pin))
            elif isinstance(action, Join):
                self.call.move_to_room(action.room_id)
            elif isinstance(action, HangUpAfter):
                end = CallEnd(CallResult.CLIENT_ERROR, action.reason)
                self._play(action.prompt, on_done=functools.partial(self.call.hang_up, end))

    async def _look_up(self, code: str) -> None:
        call = self.call
        room = await call.manager.directory.room_by_dialin_code(code)
        # Only the caller's own API key's active rooms can be entered.
        usable = room is not None and room.api_key_id == call.api_key_id and room.active
        if call.ended is not None:
            return
        call.log.info("dial-in code %s", "matched a room" if usable else "matched no room")
        self._do(
            self.menu.code_result(
                room.room_id if usable and room is not None else None,
                bool(room and room.has_pin),
                self._loop.time(),
            )
        )

    async def _check_pin(self, room_id: str, pin: str) -> None:
        expected = await self.call.manager.directory.room_pin(room_id)
        ok = expected is not None and hmac.compare_digest(expected.encode(), pin.encode())
        if self.call.ended is None:
            self._do(self.menu.pin_result(ok, self._loop.time()))
