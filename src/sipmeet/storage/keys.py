"""API keys and their SIP credentials.

An API key's secret and its SIP password are encrypted at rest. SIP digest verification uses HA1
hashes (MD5, SHA-256, SHA-512-256) stored beside the password and recomputed when the realm (the
SIP domain) changes. A rotation may keep the previous set of HA1s valid for a grace period.
"""

from __future__ import annotations

import logging
import typing
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from sipmeet.sip.digest import ha1

from . import ids
from .base import StoreBase, _fresh, _no_key
from .errors import Invalid, NotFound
from .models import ApiKeyRow, SipCredentialRow
from .records import ApiKey, SipAccount, SipCredentials, SipStatus

__all__ = ["HA1_ALGORITHMS", "ApiKeysMixin"]

log = logging.getLogger(__name__)

HA1_ALGORITHMS = ("MD5", "SHA-256", "SHA-512-256")


class ApiKeysMixin(StoreBase):
    """API keys, each with an encrypted secret and optionally SIP digest credentials."""

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


def _secret_ctx(key_id: str) -> str:
    return f"api_keys.secret:{key_id}"


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
