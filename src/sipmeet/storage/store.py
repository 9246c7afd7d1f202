"""The store: API keys, SIP credentials, rooms and call records.

Methods are synchronous and thread-safe (one session per call over a pooled engine); the server
calls them from worker threads. Each method is one transaction, so a change that touches several
rows is all there or not at all. Secrets (API secrets, SIP passwords) are encrypted at rest; SIP
digest verification uses HA1 hashes stored beside the password and recomputed when the realm
(the SIP domain) changes.

`Store` combines one mixin per aggregate, each in its own module over the small protocol of
`base.StoreBase` (sessions, clock, master key, realm):

- `keys`: API keys and their SIP credentials (HA1 sets, rotation with a grace period);
- `rooms`: rooms, their dial-in codes and PINs;
- `calls`: call records;
- `numbers`: provider phone numbers routed to rooms or to the dial-in menu;
- `webhooks`: webhooks and their delivery queue;
- `admins`: dashboard administrators.

This module opens the store: the data directory, the schema migration and the master key.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sipmeet.config import Settings

from .admins import AdminsMixin
from .base import Clock, _reason, _utcnow
from .calls import CallsMixin
from .crypto import SecretBox, decode_master_key, read_master_key
from .engine import WRITE, create_store_engine, current_revision, migrate
from .errors import MasterKeyError, StorageError
from .keys import HA1_ALGORITHMS, ApiKeysMixin
from .models import MetaRow
from .numbers import NumbersMixin, normalize_e164
from .rooms import RoomsMixin
from .webhooks import WebhooksMixin

__all__ = ["HA1_ALGORITHMS", "Store", "normalize_e164"]

_KEY_CHECK = "master_key_check"


class Store(ApiKeysMixin, RoomsMixin, CallsMixin, NumbersMixin, WebhooksMixin, AdminsMixin):
    """Durable state. Open with `Store.open(settings)`; close when done (or use ``with``).

    The constructor (from `StoreBase`), ``Store(engine, box, realm, clock)``, wraps an engine
    whose schema is migrated already.
    """

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = _utcnow) -> Store:
        """Create the data directory, migrate the schema to head and load the master key."""
        data_dir = settings.data_dir.expanduser()
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
        try:
            engine = create_store_engine(settings.database_url)
        except (SQLAlchemyError, ValueError, OSError, ImportError) as exc:
            raise StorageError(f"cannot use database {settings.database_url}: {exc}") from None
        try:
            migrate(engine)
            box = _load_master_key(engine, settings, data_dir)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StorageError(f"cannot open the database: {_reason(exc)}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, box, settings.sip.domain, clock)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def realm(self) -> str:
        """The digest realm HA1s are computed for (the SIP domain)."""
        return self._realm

    def master_key_bytes(self) -> bytes:
        """The raw master key, for deriving server-side keys (digest nonce signing). Never log it."""
        return self._box.key

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose, derived from the master key (HMAC-SHA256)."""
        return self._box.derive(purpose)

    def schema_revision(self) -> str | None:
        return current_revision(self._engine)

    def ping(self) -> None:
        """One round trip to the database (health checks); raises `StorageError` when it fails."""
        with self._session() as s:
            s.execute(select(1)).scalar_one()


def _load_master_key(engine: Engine, settings: Settings, data_dir: Path) -> SecretBox:
    """The database remembers a check value of its key, so a wrong key fails at open."""
    with Session(engine.execution_options(**WRITE)) as s, s.begin():
        check = s.get(MetaRow, _KEY_CHECK)
        if settings.master_key:
            source = "SIPMEET_MASTER_KEY"
            key = decode_master_key(settings.master_key, source)
        else:
            source = str(data_dir / "master.key")
            found = read_master_key(data_dir, create=check is None)
            if found is None:
                raise MasterKeyError(
                    f"no master key: this database's secrets are encrypted, but {source} is "
                    "missing and SIPMEET_MASTER_KEY is not set (use the server's key)"
                )
            key = found
        box = SecretBox(key)
        if check is None:
            s.add(MetaRow(key=_KEY_CHECK, value=box.key_check))
        elif check.value != box.key_check:
            raise MasterKeyError(
                f"the master key from {source} is not the one this database was written with "
                "(use the server's SIPMEET_MASTER_KEY or master.key)"
            )
    return box
