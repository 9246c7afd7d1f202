"""Rooms of the API keys: reachable by id (the user part of the SIP URI) or by a numeric
dial-in code, and optionally guarded by a PIN (encrypted at rest)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from . import ids
from .base import StoreBase, _fresh, _no_key
from .errors import Conflict, Invalid
from .models import ApiKeyRow, RoomRow
from .records import RoomRecord

__all__ = ["RoomsMixin"]

log = logging.getLogger(__name__)


class RoomsMixin(StoreBase):
    """Create, find and deactivate rooms."""

    # --- rooms -------------------------------------------------------------------------------

    def create_room(
        self, key_id: str, room_id: str | None = None, *, pin: str | None = None
    ) -> RoomRecord:
        """A new active room of the key: ``room_id`` if given (lowercased), else a fresh one.

        Every room gets a numeric dial-in code (the dial-in menu asks for it); ``pin``
        (digits) is asked for after the code when set.
        """
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 12 and pin.isascii()):
            raise Invalid("invalid PIN: use 4-12 digits")
        wanted = None
        if room_id is not None:
            wanted = ids.normalize_room_id(room_id)
            if wanted is None:
                raise Invalid(
                    f"invalid room id {room_id!r}: use 3-64 lowercase letters, digits and hyphens"
                )
        now = self._clock()
        with self._session(write=True) as s:
            if s.get(ApiKeyRow, key_id) is None:
                raise _no_key(key_id)
            if wanted is None:
                wanted = _fresh(ids.new_room_id, lambda r: s.get(RoomRow, r) is not None)
            elif s.get(RoomRow, wanted) is not None:
                raise Conflict(f"room {wanted} already exists")
            code = _fresh(
                ids.new_dialin_code,
                lambda c: (
                    s.scalars(select(RoomRow).where(RoomRow.dialin_code == c)).first() is not None
                ),
            )
            row = RoomRow(
                room_id=wanted, api_key_id=key_id, active=True, created_at=now, dialin_code=code
            )
            if pin is not None:
                row.pin_encrypted = self._box.encrypt(pin, _pin_ctx(wanted))
            s.add(row)
        log.info("created room %s for API key %s", wanted, key_id)
        return _room(row)

    def room_by_dialin_code(self, code: str) -> RoomRecord | None:
        """The room a caller means by the digits keyed in at the dial-in menu."""
        if not (code.isdigit() and code.isascii()):
            return None
        with self._session() as s:
            row = s.scalars(select(RoomRow).where(RoomRow.dialin_code == code)).first()
            return _room(row) if row is not None else None

    def room_pin(self, room_id: str) -> str | None:
        """The room's PIN (decrypted), or None when it has none."""
        with self._session() as s:
            row = s.get(RoomRow, room_id)
            if row is None or row.pin_encrypted is None:
                return None
            return self._box.decrypt(row.pin_encrypted, _pin_ctx(row.room_id))

    def get_room(self, room_id: str) -> RoomRecord | None:
        wanted = ids.normalize_room_id(room_id)
        if wanted is None:
            return None
        with self._session() as s:
            row = s.get(RoomRow, wanted)
            return _room(row) if row is not None else None

    def list_rooms(self, key_id: str | None = None) -> list[RoomRecord]:
        query = select(RoomRow).order_by(RoomRow.created_at, RoomRow.room_id)
        if key_id is not None:
            query = query.where(RoomRow.api_key_id == key_id)
        with self._session() as s:
            return [_room(row) for row in s.scalars(query)]

    def deactivate_room(self, room_id: str) -> bool:
        """Make the room unreachable (480 to callers); False if there is no such room."""
        wanted = ids.normalize_room_id(room_id)
        if wanted is None:
            return False
        with self._session(write=True) as s:
            row = s.get(RoomRow, wanted)
            if row is None:
                return False
            if row.active:
                row.active = False
                row.deactivated_at = self._clock()
                log.info("deactivated room %s", wanted)
        return True


def _room(row: RoomRow) -> RoomRecord:
    return RoomRecord(
        row.room_id,
        row.api_key_id,
        row.active,
        row.created_at,
        row.deactivated_at,
        dialin_code=row.dialin_code,
        has_pin=row.pin_encrypted is not None,
    )


def _pin_ctx(room_id: str) -> str:
    return f"rooms.pin:{room_id}"
