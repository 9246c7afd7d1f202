"""What every part of the store shares: the engine, one transaction per call, the clock and
the master key's `SecretBox`.

Each aggregate of the store (`keys`, `rooms`, `calls`, `numbers`, `webhooks`, `admins`) is a
mixin on `StoreBase`, and `store.Store` combines them. A mixin uses only this protocol:

- ``self._session(write=False)``: a context manager giving a `Session` in one transaction;
  database errors come out of it as `Conflict`, `Invalid` or `StorageError`;
- ``self._clock()``: the current time (an aware datetime; injectable for tests);
- ``self._box``: the `SecretBox` that encrypts secrets at rest, each under its own context;
- ``self._realm``: the digest realm (the SIP domain) HA1s are computed for;

and the helpers `_fresh` (an unused random identifier) and `_no_key` (the `NotFound` of an
unknown API key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from .crypto import SecretBox
from .engine import WRITE
from .errors import Conflict, Invalid, NotFound, StorageError

__all__ = ["Clock", "StoreBase"]

_MAX_ATTEMPTS = 20  # fresh random ids tried before giving up (collisions are astronomically rare)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_key(key_id: str) -> NotFound:
    return NotFound(f"no such API key: {key_id}")


class StoreBase:
    """The engine, the master key, the realm and the clock, and transactions over them."""

    def __init__(self, engine: Engine, box: SecretBox, realm: str, clock: Clock = _utcnow) -> None:
        self._engine = engine
        self._box = box
        self._realm = realm
        self._clock = clock
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(bind=engine.execution_options(**WRITE), expire_on_commit=False)

    # --- sessions ----------------------------------------------------------------------------

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        """One transaction; database errors become `StorageError`s with a readable reason."""
        factory = self._write if write else self._read
        try:
            with factory() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise Conflict(f"conflicting change: {_reason(exc)}") from None
        except StatementError as exc:
            if isinstance(exc.orig, TypeError | ValueError):
                raise Invalid(f"invalid value: {exc.orig}") from None
            raise StorageError(f"database error: {_reason(exc)}") from None
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {_reason(exc)}") from None


def _fresh(make: Callable[[], str], taken: Callable[[str], bool]) -> str:
    for _ in range(_MAX_ATTEMPTS):
        candidate = make()
        if not taken(candidate):
            return candidate
    raise Conflict("could not find a free identifier")  # our invariant: practically unreachable


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else str(exc).splitlines()[0]
