"""Call records: one per call, from its start through the answer to its end result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from .base import StoreBase
from .errors import Invalid, NotFound
from .models import CallRow
from .records import CALL_RESULTS, WEBRTC_TRANSPORT, CallRecord, CallStart

__all__ = ["CallsMixin"]


class CallsMixin(StoreBase):
    """Record the steps of calls and list or count them."""

    # --- call records ------------------------------------------------------------------------

    def record_call_start(self, call: CallStart) -> int:
        row = CallRow(
            room_id=call.room_id,
            api_key_id=call.api_key_id,
            sip_call_id=call.sip_call_id,
            caller_name=call.caller_name,
            caller_number=call.caller_number,
            provider_metadata=dict(call.provider_metadata) if call.provider_metadata else None,
            transport=call.transport.lower(),
            started_at=call.started_at or self._clock(),
        )
        with self._session(write=True) as s:
            s.add(row)
            s.flush()
            return row.id

    def record_call_room(self, record_id: int, room_id: str) -> None:
        """A call that came in through the dial-in menu has joined ``room_id``."""
        with self._session(write=True) as s:
            _call_row(s, record_id).room_id = room_id

    def record_call_answered(self, record_id: int, codec: str) -> None:
        with self._session(write=True) as s:
            row = _call_row(s, record_id)
            if row.answered_at is None:
                row.answered_at = self._clock()
            row.codec = codec

    def record_call_end(
        self, record_id: int, result: str, reason: str, stats: Mapping[str, object]
    ) -> None:
        if result not in CALL_RESULTS:
            raise Invalid(f"call result must be one of {', '.join(sorted(CALL_RESULTS))}")
        with self._session(write=True) as s:
            row = _call_row(s, record_id)
            row.ended_at = self._clock()
            row.result = result
            row.reason = reason
            row.stats = dict(stats)

    def list_calls(
        self,
        room_id: str | None = None,
        limit: int = 100,
        *,
        api_key_id: str | None = None,
        result: str | None = None,
        ongoing: bool = False,
        started_from: datetime | None = None,
        started_before: datetime | None = None,
        older_than: int | None = None,
    ) -> list[CallRecord]:
        """Call records, newest first, filtered in the database.

        ``result`` keeps calls that ended with it, ``ongoing`` those not ended yet;
        ``started_from``/``started_before`` bound the start time (aware datetimes);
        ``older_than`` (a record id) pages on: only calls that sort after that one.
        """
        query = select(CallRow).order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(limit)
        if room_id is not None:
            query = query.where(CallRow.room_id == room_id)
        if api_key_id is not None:
            query = query.where(CallRow.api_key_id == api_key_id)
        if result is not None:
            query = query.where(CallRow.result == result)
        if ongoing:
            query = query.where(CallRow.ended_at.is_(None))
        if started_from is not None:
            query = query.where(CallRow.started_at >= started_from)
        if started_before is not None:
            query = query.where(CallRow.started_at < started_before)
        with self._session() as s:
            if older_than is not None:
                anchor = s.get(CallRow, older_than)
                if anchor is None:
                    return []
                query = query.where(
                    or_(
                        CallRow.started_at < anchor.started_at,
                        and_(CallRow.started_at == anchor.started_at, CallRow.id < anchor.id),
                    )
                )
            return [_call(row) for row in s.scalars(query)]

    def count_calls_by_end(self) -> dict[tuple[str, str], int]:
        """How many recorded phone calls ended with each ``(result, reason)`` (for metrics;
        browsers' records are not calls)."""
        query = (
            select(CallRow.result, CallRow.reason, func.count())
            .where(CallRow.result.is_not(None), CallRow.transport != WEBRTC_TRANSPORT)
            .group_by(CallRow.result, CallRow.reason)
        )
        with self._session() as s:
            return {(str(r), str(why or "")): int(n) for r, why, n in s.execute(query).all()}


def _call_row(s: Session, record_id: int) -> CallRow:
    row = s.get(CallRow, record_id)
    if row is None:
        raise NotFound(f"no such call record: {record_id}")
    return row


def _call(row: CallRow) -> CallRecord:
    return CallRecord(
        id=row.id,
        room_id=row.room_id,
        api_key_id=row.api_key_id,
        sip_call_id=row.sip_call_id,
        caller_name=row.caller_name,
        caller_number=row.caller_number,
        provider_metadata=row.provider_metadata,
        codec=row.codec,
        transport=row.transport,
        started_at=row.started_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        result=row.result,
        reason=row.reason,
        stats=row.stats,
    )
