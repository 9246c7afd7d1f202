"""The store: API keys, SIP credentials, rooms and call records.

Methods are synchronous and thread-safe (one session per call over a pooled engine); the server
calls them from worker threads. Each method is one transaction, so a change that touches several
rows is all there or not at all. Secrets (API secrets, SIP passwords) are encrypted at rest; SIP
digest verification uses HA1 hashes stored beside the password and recomputed when the realm
(the SIP domain) changes.
"""

from __future__ import annotations

import logging
import re
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import CursorResult, Engine, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from sipmeet.config import Settings
from sipmeet.sip.digest import ha1

from . import ids
from .crypto import SecretBox, decode_master_key, read_master_key
from .engine import WRITE, create_store_engine, current_revision, migrate
from .errors import Conflict, Invalid, MasterKeyError, NotFound, StorageError
from .models import (
    AdminUserRow,
    ApiKeyRow,
    CallRow,
    MetaRow,
    PhoneNumberRow,
    RoomRow,
    SipCredentialRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from .records import (
    CALL_RESULTS,
    PROVIDERS,
    ApiKey,
    CallRecord,
    CallStart,
    PhoneNumber,
    Provider,
    RoomRecord,
    SipAccount,
    SipCredentials,
    SipStatus,
    Webhook,
    WebhookDelivery,
    WebhookDue,
)

__all__ = ["HA1_ALGORITHMS", "Store", "normalize_e164"]

log = logging.getLogger(__name__)

HA1_ALGORITHMS = ("MD5", "SHA-256", "SHA-512-256")
_KEY_CHECK = "master_key_check"
_MAX_ATTEMPTS = 20  # fresh random ids tried before giving up (collisions are astronomically rare)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_key(key_id: str) -> NotFound:
    return NotFound(f"no such API key: {key_id}")


class Store:
    """Durable state. Open with `Store.open(settings)`; close when done (or use ``with``)."""

    def __init__(self, engine: Engine, box: SecretBox, realm: str, clock: Clock = _utcnow) -> None:
        self._engine = engine
        self._box = box
        self._realm = realm
        self._clock = clock
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(bind=engine.execution_options(**WRITE), expire_on_commit=False)

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

    # --- API keys ----------------------------------------------------------------------------

    def create_api_key(self, name: str, *, enable_sip: bool = False) -> ApiKey:
        """A new key with a fresh secret; with ``enable_sip`` its SIP credentials too, atomically."""
        name = name.strip()
        if not name or len(name) > 200:
            raise Invalid("API key name must be 1-200 characters")
        secret = ids.new_api_secret()
        now = self._clock()
        with self._session(write=True) as s:
            key_id = _fresh(ids.new_api_key_id, lambda k: s.get(ApiKeyRow, k) is not None)
            s.add(
                ApiKeyRow(
                    id=key_id,
                    name=name,
                    secret_encrypted=self._box.encrypt(secret, _secret_ctx(key_id)),
                    created_at=now,
                )
            )
            sip = None
            if enable_sip:
                s.flush()  # the key row first: the credentials reference it
                sip = self._new_credentials(s, key_id, now)
        log.info("created API key %s%s", key_id, " with SIP" if enable_sip else "")
        return ApiKey(key_id, name, secret, now, sip)

    def list_api_keys(self) -> list[ApiKey]:
        with self._session() as s:
            rows = s.execute(
                select(ApiKeyRow, SipCredentialRow)
                .outerjoin(SipCredentialRow, SipCredentialRow.api_key_id == ApiKeyRow.id)
                .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
            ).all()
            return [self._api_key(key, cred) for key, cred in rows]

    def get_api_key(self, key_id: str) -> ApiKey | None:
        with self._session() as s:
            key = s.get(ApiKeyRow, key_id)
            if key is None:
                return None
            return self._api_key(key, self._cred_row(s, key_id))

    def delete_api_key(self, key_id: str) -> bool:
        """Delete the key with its SIP credentials, rooms and call records; False if unknown."""
        with self._session(write=True) as s:
            result = s.execute(delete(ApiKeyRow).where(ApiKeyRow.id == key_id))
            deleted = typing.cast(CursorResult[Any], result).rowcount
        if deleted:
            log.info("deleted API key %s", key_id)
        return bool(deleted)

    # --- SIP credentials ---------------------------------------------------------------------

    def enable_sip(self, key_id: str) -> SipCredentials:
        """Enable SIP for a key. Idempotent: an enabled key keeps (and returns) its credentials;
        re-enabling a disabled key keeps the username and issues a new password."""
        now = self._clock()
        with self._session(write=True) as s:
            if s.get(ApiKeyRow, key_id) is None:
                raise _no_key(key_id)
            row = self._cred_row(s, key_id)
            if row is None:
                creds = self._new_credentials(s, key_id, now)
            elif row.enabled:
                return self._credentials(row)
            else:
                creds = self._set_password(row, ids.new_sip_password(), now)
                row.enabled = True
        log.info("enabled SIP for API key %s", key_id)
        return creds

    def rotate_sip(self, key_id: str, *, grace_s: int = 0) -> SipCredentials:
        """A new password for an enabled key; the username stays. The old one stops working at
        once, or after ``grace_s`` seconds (`sip_account` then offers both sets of HA1s)."""
        if grace_s < 0:
            raise Invalid(f"grace period must not be negative, got {grace_s}")
        now = self._clock()
        with self._session(write=True) as s:
            row = self._enabled_cred_row(s, key_id)
            old = (row.realm, row.ha1_md5, row.ha1_sha256, row.ha1_sha512_256)
            creds = self._set_password(row, ids.new_sip_password(), now)
            if grace_s > 0 and old[0] == row.realm:
                until = now + timedelta(seconds=grace_s)
                _, row.previous_ha1_md5, row.previous_ha1_sha256, row.previous_ha1_sha512_256 = old
                row.previous_valid_until = until
                creds = SipCredentials(creds.username, creds.password, creds.created_at, now, until)
        log.info(
            "rotated SIP password of API key %s%s",
            key_id,
            f" (old one valid {grace_s} s more)" if grace_s > 0 else "",
        )
        return creds

    def sip_status(self, key_id: str) -> SipStatus:
        """Whether SIP is enabled for the key, its username, and the rotation state."""
        now = self._clock()
        with self._session() as s:
            if s.get(ApiKeyRow, key_id) is None:
                raise _no_key(key_id)
            row = self._cred_row(s, key_id)
            if row is None:
                return SipStatus(None, False)
            return SipStatus(
                row.username,
                row.enabled,
                row.created_at,
                row.rotated_at,
                _previous_until(row, now) if row.enabled else None,
            )

    def disable_sip(self, key_id: str) -> None:
        with self._session(write=True) as s:
            if s.get(ApiKeyRow, key_id) is None:
                raise _no_key(key_id)
            row = self._cred_row(s, key_id)
            if row is not None and row.enabled:
                row.enabled = False
                _clear_previous(row)
                log.info("disabled SIP for API key %s", key_id)

    def sip_credentials(self, key_id: str) -> SipCredentials | None:
        """The key's SIP username and password, or None when SIP is not enabled."""
        with self._session() as s:
            row = self._cred_row(s, key_id)
            return self._credentials(row) if row is not None and row.enabled else None

    def sip_account(self, username: str) -> SipAccount | None:
        """HA1s for digest verification in the current realm; None unless enabled."""
        with self._session() as s:
            row = s.scalars(
                select(SipCredentialRow).where(SipCredentialRow.username == username)
            ).one_or_none()
            if row is None or not row.enabled:
                return None
            if row.realm == self._realm:
                return _account(row, self._clock())
        # The SIP domain changed since the hashes were computed: redo them from the password.
        with self._session(write=True) as s:
            row = s.scalars(
                select(SipCredentialRow).where(SipCredentialRow.username == username)
            ).one_or_none()
            if row is None or not row.enabled:
                return None
            if row.realm != self._realm:
                password = self._box.decrypt(row.password_encrypted, _password_ctx(row.api_key_id))
                _set_ha1(row, self._realm, password)
                _clear_previous(row)  # the old password is unknown: its hashes cannot be redone
                log.info("recomputed digest hashes of %s for realm %s", username, self._realm)
            return _account(row, self._clock())

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
        """How many recorded calls ended with each ``(result, reason)`` (for metrics)."""
        query = (
            select(CallRow.result, CallRow.reason, func.count())
            .where(CallRow.result.is_not(None))
            .group_by(CallRow.result, CallRow.reason)
        )
        with self._session() as s:
            return {(str(r), str(why or "")): int(n) for r, why, n in s.execute(query).all()}

    def ping(self) -> None:
        """One round trip to the database (health checks); raises `StorageError` when it fails."""
        with self._session() as s:
            s.execute(select(1)).scalar_one()

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

    # --- webhooks ----------------------------------------------------------------------------

    def create_webhook(
        self,
        api_key_id: str,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        room_id: str | None = None,
    ) -> Webhook:
        """A new active webhook of the key; ``secret`` (which signs deliveries) is kept
        encrypted. ``events`` empty: every event."""
        if not url or len(url) > 2000:
            raise Invalid("webhook URL must be 1-2000 characters")
        if not secret:
            raise Invalid("webhook secret must not be empty")
        now = self._clock()
        names = list(dict.fromkeys(events))
        with self._session(write=True) as s:
            if s.get(ApiKeyRow, api_key_id) is None:
                raise _no_key(api_key_id)
            if room_id is not None:
                room = s.get(RoomRow, room_id)
                if room is None or room.api_key_id != api_key_id:
                    raise NotFound(f"no such room: {room_id}")
            row = WebhookRow(
                api_key_id=api_key_id,
                room_id=room_id,
                url=url,
                secret_encrypted="",
                events=names,
                active=True,
                created_at=now,
            )
            s.add(row)
            s.flush()
            row.secret_encrypted = self._box.encrypt(secret, _webhook_ctx(row.id))
            webhook = self._webhook(row, secret)
        log.info("created webhook %d of API key %s", webhook.id, api_key_id)
        return webhook

    def list_webhooks(self, api_key_id: str) -> list[Webhook]:
        query = select(WebhookRow).where(WebhookRow.api_key_id == api_key_id)
        with self._session() as s:
            return [self._webhook(row) for row in s.scalars(query.order_by(WebhookRow.id))]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        with self._session() as s:
            row = s.get(WebhookRow, webhook_id)
            return self._webhook(row) if row is not None else None

    def delete_webhook(self, api_key_id: str, webhook_id: int) -> bool:
        """Delete a webhook of the key with its deliveries; False when the key has no such one."""
        with self._session(write=True) as s:
            row = s.get(WebhookRow, webhook_id)
            if row is None or row.api_key_id != api_key_id:
                return False
            s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == row.id))
            s.delete(row)
        log.info("deleted webhook %d of API key %s", webhook_id, api_key_id)
        return True

    def enqueue_webhook_event(
        self,
        api_key_id: str,
        event: str,
        payload_for: Callable[[Webhook], Mapping[str, object]],
        *,
        max_pending: int = 1000,
        room_id: str | None = None,
    ) -> list[int]:
        """One pending delivery of ``event`` for each active webhook of the key that wants it
        (payload from ``payload_for``); returns their ids. A webhook that already has
        ``max_pending`` undelivered deliveries (a dead receiver) gets this one as failed."""
        now = self._clock()
        created: list[int] = []
        with self._session(write=True) as s:
            rows = s.scalars(
                select(WebhookRow)
                .where(WebhookRow.api_key_id == api_key_id, WebhookRow.active.is_(True))
                .order_by(WebhookRow.id)
            ).all()
            for row in rows:
                if row.events and event not in row.events:
                    continue
                if row.room_id is not None and row.room_id != room_id:
                    continue  # a room's own webhook hears only that room
                backlog = s.scalar(
                    select(func.count())
                    .select_from(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.webhook_id == row.id,
                        WebhookDeliveryRow.status == "pending",
                    )
                )
                full = int(backlog or 0) >= max_pending
                delivery = WebhookDeliveryRow(
                    webhook_id=row.id,
                    event=event,
                    payload=dict(payload_for(self._webhook(row))),
                    status="failed" if full else "pending",
                    attempts=0,
                    last_status_code=None,
                    last_error="delivery queue full" if full else None,
                    next_attempt_at=None if full else now,
                    created_at=now,
                    delivered_at=None,
                )
                s.add(delivery)
                s.flush()
                if full:
                    log.warning("webhook %d: delivery queue full, %s dropped", row.id, event)
                else:
                    created.append(delivery.id)
        return created

    def claim_webhook_deliveries(self, limit: int, *, lease_s: float) -> list[WebhookDue]:
        """Up to ``limit`` pending deliveries that are due, oldest first; each is leased (its
        next attempt moved ``lease_s`` ahead) so that no other sender takes it meanwhile."""
        if limit <= 0:
            return []
        now = self._clock()
        with self._session(write=True) as s:
            rows = s.execute(
                select(WebhookDeliveryRow, WebhookRow)
                .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
                .where(
                    WebhookDeliveryRow.status == "pending",
                    WebhookDeliveryRow.next_attempt_at <= now,
                )
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(limit)
            ).all()
            due = []
            for delivery, hook in rows:
                delivery.next_attempt_at = now + timedelta(seconds=lease_s)
                due.append(
                    WebhookDue(
                        id=delivery.id,
                        webhook_id=hook.id,
                        url=hook.url,
                        secret=self._box.decrypt(hook.secret_encrypted, _webhook_ctx(hook.id)),
                        event=delivery.event,
                        payload=dict(delivery.payload),
                        attempts=delivery.attempts,
                    )
                )
            return due

    def next_webhook_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        query = select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
            WebhookDeliveryRow.status == "pending"
        )
        with self._session() as s:
            value = s.scalar(query)
        if value is not None and value.tzinfo is None:  # min() bypasses the column type
            value = value.replace(tzinfo=UTC)
        return value

    def record_webhook_attempt(
        self,
        delivery_id: int,
        *,
        status_code: int | None,
        error: str | None,
        delivered: bool,
        retry_in_s: float | None,
    ) -> str:
        """Record one attempt: delivered, or to be retried in ``retry_in_s`` seconds, or (None)
        failed for good. Returns the delivery's new status ("gone" if it was deleted)."""
        now = self._clock()
        with self._session(write=True) as s:
            row = s.get(WebhookDeliveryRow, delivery_id)
            if row is None:
                return "gone"
            row.attempts += 1
            row.last_status_code = status_code
            row.last_error = error[:500] if error else None
            if delivered:
                row.status = "delivered"
                row.delivered_at = now
                row.next_attempt_at = None
            elif retry_in_s is not None:
                row.status = "pending"
                row.next_attempt_at = now + timedelta(seconds=retry_in_s)
            else:
                row.status = "failed"
                row.next_attempt_at = None
            return row.status

    def list_webhook_deliveries(self, webhook_id: int, limit: int = 50) -> list[WebhookDelivery]:
        """Newest first."""
        query = (
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.webhook_id == webhook_id)
            .order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id.desc())
            .limit(limit)
        )
        with self._session() as s:
            return [_delivery(row) for row in s.scalars(query)]

    def count_webhook_deliveries(self) -> dict[str, int]:
        """How many deliveries are pending, delivered and failed (for metrics)."""
        query = select(WebhookDeliveryRow.status, func.count()).group_by(WebhookDeliveryRow.status)
        with self._session() as s:
            counts = {str(status): int(n) for status, n in s.execute(query).all()}
        return {status: counts.get(status, 0) for status in ("pending", "delivered", "failed")}

    def _webhook(self, row: WebhookRow, secret: str | None = None) -> Webhook:
        if secret is None:
            secret = self._box.decrypt(row.secret_encrypted, _webhook_ctx(row.id))
        return Webhook(
            row.id,
            row.api_key_id,
            row.url,
            tuple(row.events or ()),
            row.active,
            row.created_at,
            secret,
            room_id=row.room_id,
        )

    # --- dashboard administrators ------------------------------------------------------------

    def admin_password_hash(self, username: str) -> str | None:
        """The administrator's password hash (the dashboard makes it; argon2); None if unknown."""
        with self._session() as s:
            return s.scalars(
                select(AdminUserRow.password_hash).where(AdminUserRow.username == username)
            ).one_or_none()

    def create_admin_user(self, username: str, password_hash: str) -> None:
        """A new administrator; `Conflict` when the username is taken."""
        if not username or len(username) > 64:
            raise Invalid("administrator username must be 1-64 characters")
        if not password_hash:
            raise Invalid("administrator password hash must not be empty")
        with self._session(write=True) as s:
            s.add(
                AdminUserRow(
                    username=username, password_hash=password_hash, created_at=self._clock()
                )
            )
        log.info("created dashboard administrator %s", username)

    def set_admin_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace the administrator's password hash; False if there is no such administrator."""
        if not password_hash:
            raise Invalid("administrator password hash must not be empty")
        with self._session(write=True) as s:
            row = s.scalars(
                select(AdminUserRow).where(AdminUserRow.username == username)
            ).one_or_none()
            if row is None:
                return False
            row.password_hash = password_hash
        return True

    def record_admin_login(self, username: str) -> datetime | None:
        """Stamp a successful login; returns the one before (None: the first, or no such user)."""
        with self._session(write=True) as s:
            row = s.scalars(
                select(AdminUserRow).where(AdminUserRow.username == username)
            ).one_or_none()
            if row is None:
                return None
            previous = row.last_login_at
            row.last_login_at = self._clock()
        return previous

    # --- helpers -----------------------------------------------------------------------------

    def _cred_row(self, s: Session, key_id: str) -> SipCredentialRow | None:
        return s.scalars(
            select(SipCredentialRow).where(SipCredentialRow.api_key_id == key_id)
        ).one_or_none()

    def _enabled_cred_row(self, s: Session, key_id: str) -> SipCredentialRow:
        if s.get(ApiKeyRow, key_id) is None:
            raise _no_key(key_id)
        row = self._cred_row(s, key_id)
        if row is None or not row.enabled:
            raise NotFound(f"SIP is not enabled for API key {key_id}")
        return row

    def _new_credentials(self, s: Session, key_id: str, now: datetime) -> SipCredentials:
        username = _fresh(
            ids.new_sip_username,
            lambda u: (
                s.scalars(select(SipCredentialRow.id).where(SipCredentialRow.username == u)).first()
                is not None
            ),
        )
        password = ids.new_sip_password()
        row = SipCredentialRow(
            api_key_id=key_id,
            username=username,
            enabled=True,
            created_at=now,
            rotated_at=None,
        )
        row.password_encrypted = self._box.encrypt(password, _password_ctx(key_id))
        _set_ha1(row, self._realm, password)
        s.add(row)
        return SipCredentials(username, password, now, None)

    def _set_password(self, row: SipCredentialRow, password: str, now: datetime) -> SipCredentials:
        row.password_encrypted = self._box.encrypt(password, _password_ctx(row.api_key_id))
        _set_ha1(row, self._realm, password)
        _clear_previous(row)
        row.rotated_at = now
        return SipCredentials(row.username, password, row.created_at, now)

    def _credentials(self, row: SipCredentialRow) -> SipCredentials:
        password = self._box.decrypt(row.password_encrypted, _password_ctx(row.api_key_id))
        until = _previous_until(row, self._clock())
        return SipCredentials(row.username, password, row.created_at, row.rotated_at, until)

    def _api_key(self, key: ApiKeyRow, cred: SipCredentialRow | None) -> ApiKey:
        secret = self._box.decrypt(key.secret_encrypted, _secret_ctx(key.id))
        sip = self._credentials(cred) if cred is not None and cred.enabled else None
        return ApiKey(key.id, key.name, secret, key.created_at, sip)


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


def _fresh(make: Callable[[], str], taken: Callable[[str], bool]) -> str:
    for _ in range(_MAX_ATTEMPTS):
        candidate = make()
        if not taken(candidate):
            return candidate
    raise Conflict("could not find a free identifier")  # our invariant: practically unreachable


def _secret_ctx(key_id: str) -> str:
    return f"api_keys.secret:{key_id}"


def _webhook_ctx(webhook_id: int) -> str:
    return f"webhooks.secret:{webhook_id}"


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


def _password_ctx(key_id: str) -> str:
    return f"sip_credentials.password:{key_id}"


def _set_ha1(row: SipCredentialRow, realm: str, password: str) -> None:
    row.realm = realm
    row.ha1_md5 = ha1("MD5", row.username, realm, password)
    row.ha1_sha256 = ha1("SHA-256", row.username, realm, password)
    row.ha1_sha512_256 = ha1("SHA-512-256", row.username, realm, password)


def _clear_previous(row: SipCredentialRow) -> None:
    row.previous_ha1_md5 = row.previous_ha1_sha256 = row.previous_ha1_sha512_256 = None
    row.previous_valid_until = None


def _previous_until(row: SipCredentialRow, now: datetime) -> datetime | None:
    """End of the rotation grace window, if the old password still works at ``now``."""
    until = row.previous_valid_until
    if until is None or until <= now or row.previous_ha1_md5 is None:
        return None
    return until


def _account(row: SipCredentialRow, now: datetime) -> SipAccount:
    hashes = {"MD5": row.ha1_md5, "SHA-256": row.ha1_sha256, "SHA-512-256": row.ha1_sha512_256}
    until = _previous_until(row, now)
    previous = None
    if until is not None:
        previous = {
            "MD5": row.previous_ha1_md5 or "",
            "SHA-256": row.previous_ha1_sha256 or "",
            "SHA-512-256": row.previous_ha1_sha512_256 or "",
        }
    return SipAccount(row.api_key_id, row.username, row.realm, hashes, previous, until)


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


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else str(exc).splitlines()[0]


def _delivery(row: WebhookDeliveryRow) -> WebhookDelivery:
    status = row.status if row.status in ("pending", "delivered", "failed") else "failed"
    return WebhookDelivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event=row.event,
        payload=row.payload,
        status=typing.cast(typing.Literal["pending", "delivered", "failed"], status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )
