"""Phone numbers: a provider's number (E.164) routed to a room of an API key or to the dial-in
menu, with the provider's auth token when given (encrypted at rest)."""

from __future__ import annotations

import logging
import re
import typing
from typing import Any

from sqlalchemy import CursorResult, delete, select

from . import ids
from .base import StoreBase, _no_key
from .errors import Conflict, Invalid, NotFound
from .models import ApiKeyRow, PhoneNumberRow, RoomRow
from .records import PROVIDERS, PhoneNumber, Provider

__all__ = ["NumbersMixin", "normalize_e164"]

log = logging.getLogger(__name__)


class NumbersMixin(StoreBase):
    """Route phone numbers and look up where a called number goes."""

    # --- phone numbers -----------------------------------------------------------------------

    def add_number(
        self,
        number: str,
        *,
        api_key_id: str,
        provider: str,
        room_id: str | None = None,
        ivr: bool = False,
        auth_token: str | None = None,
    ) -> PhoneNumber:
        """Route a provider's phone number to a room of the key, or (``ivr``) to the dial-in
        menu. The number is normalised to E.164; it is unique per provider."""
        e164 = normalize_e164(number)
        if e164 is None:
            raise Invalid(f"invalid phone number {number!r}: use E.164, like +14155550100")
        kind = _provider(provider)
        if (room_id is None) == (not ivr):
            raise Invalid("a number goes to exactly one of: a room, or the dial-in menu (ivr)")
        if auth_token is not None:
            auth_token = auth_token.strip()
            if not auth_token:
                raise Invalid("the provider auth token must not be empty")
        now = self._clock()
        with self._session(write=True) as s:
            if s.get(ApiKeyRow, api_key_id) is None:
                raise _no_key(api_key_id)
            wanted = None
            if room_id is not None:
                wanted = ids.normalize_room_id(room_id)
                room = s.get(RoomRow, wanted) if wanted is not None else None
                if room is None:
                    raise NotFound(f"no such room: {room_id}")
                if room.api_key_id != api_key_id:
                    raise Invalid(f"room {wanted} belongs to another API key")
            taken = s.scalars(
                select(PhoneNumberRow.id).where(
                    PhoneNumberRow.provider == kind, PhoneNumberRow.number == e164
                )
            ).first()
            if taken is not None:
                raise Conflict(f"{e164} is already set up for {kind}")
            row = PhoneNumberRow(
                provider=kind,
                number=e164,
                api_key_id=api_key_id,
                room_id=wanted,
                ivr=ivr,
                auth_token_encrypted=(
                    None
                    if auth_token is None
                    else self._box.encrypt(auth_token, _auth_token_ctx(kind, e164))
                ),
                created_at=now,
            )
            s.add(row)
        log.info("routed %s number %s to %s", kind, e164, wanted or "the dial-in menu")
        return PhoneNumber(e164, kind, api_key_id, wanted, ivr, now, auth_token)

    def list_numbers(self, key_id: str | None = None) -> list[PhoneNumber]:
        query = select(PhoneNumberRow).order_by(PhoneNumberRow.number, PhoneNumberRow.provider)
        if key_id is not None:
            query = query.where(PhoneNumberRow.api_key_id == key_id)
        with self._session() as s:
            return [self._number(row) for row in s.scalars(query)]

    def remove_number(self, number: str, provider: str | None = None) -> int:
        """Remove the number (at one provider, or at all of them); returns how many went."""
        e164 = normalize_e164(number)
        if e164 is None:
            return 0
        query = delete(PhoneNumberRow).where(PhoneNumberRow.number == e164)
        if provider is not None:
            query = query.where(PhoneNumberRow.provider == _provider(provider))
        with self._session(write=True) as s:
            removed = typing.cast(CursorResult[Any], s.execute(query)).rowcount
        if removed:
            log.info("removed number %s (%d route%s)", e164, removed, "" if removed == 1 else "s")
        return int(removed)

    def number_for(self, provider: str, number: str) -> PhoneNumber | None:
        """The route of a called number at a provider; None when unknown or not a number."""
        e164 = normalize_e164(number)
        if e164 is None or provider not in PROVIDERS:
            return None
        with self._session() as s:
            row = s.scalars(
                select(PhoneNumberRow).where(
                    PhoneNumberRow.provider == provider, PhoneNumberRow.number == e164
                )
            ).one_or_none()
            return self._number(row) if row is not None else None

    def _number(self, row: PhoneNumberRow) -> PhoneNumber:
        token = None
        if row.auth_token_encrypted is not None:
            token = self._box.decrypt(
                row.auth_token_encrypted, _auth_token_ctx(row.provider, row.number)
            )
        return PhoneNumber(
            row.number,
            _provider(row.provider),
            row.api_key_id,
            row.room_id,
            row.ivr,
            row.created_at,
            token,
        )


def _auth_token_ctx(provider: str, number: str) -> str:
    return f"phone_numbers.auth_token:{provider}:{number}"


# E.164: "+", a country code that does not start with 0, at most 15 digits in all (and, in
# practice, at least 7: the shortest national numbers have 4 digits after a 3-digit code).
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
_NUMBER_SEPARATORS = str.maketrans("", "", " -.()/\t")


def normalize_e164(number: str) -> str | None:
    """``"+14155550100"`` from common spellings (``"+1 (415) 555-0100"``, ``"14155550100"``,
    ``"0014155550100"``); None when it is not an E.164 number. Providers differ: Plivo sends
    the digits without the plus."""
    candidate = number.strip().translate(_NUMBER_SEPARATORS)
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    elif not candidate.startswith("+"):
        candidate = "+" + candidate
    return candidate if _E164_RE.fullmatch(candidate) else None


def _provider(name: str) -> Provider:
    for known in PROVIDERS:
        if name == known:
            return known
    raise Invalid(f"unknown provider {name!r}: use one of {', '.join(PROVIDERS)}")
