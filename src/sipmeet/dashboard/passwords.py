"""Administrator passwords: argon2id hashes (``argon2-cffi``), and the first-start account."""

from __future__ import annotations

import logging
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sipmeet.storage import Conflict, Store

__all__ = ["ADMIN_USERNAME", "PASSWORD_ENV", "Passwords", "ensure_admin"]

log = logging.getLogger(__name__)

ADMIN_USERNAME = "admin"
PASSWORD_ENV = "SIPMEET_ADMIN_PASSWORD"  # the ``admin.password`` setting's variable
PASSWORD_SETTING = f"admin.password ({PASSWORD_ENV})"
_MIN_LENGTH = 8


class Passwords:
    """Hash and verify passwords; the default parameters are argon2-cffi's (RFC 9106 low-memory
    profile). Tests pass a cheaper ``PasswordHasher``."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash (unknown user) the same work is done,
        so the answer takes as long either way."""
        try:
            if password_hash is None:
                self._hasher.verify(self._dummy, password)
                return False
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """The hash was made with other parameters than today's (rehash after a login)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def ensure_admin(store: Store, passwords: Passwords, wanted: str | None) -> str | None:
    """Create the ``admin`` account on first start, with ``wanted`` (``admin.password``)
    or a random password, which is then logged once at WARNING. When the account exists and
    ``wanted`` is set but differs, the password is reset to it (recovery). Returns the password
    when this call set one, else None."""
    if wanted is not None and len(wanted) < _MIN_LENGTH:
        log.warning("%s is shorter than %d characters", PASSWORD_SETTING, _MIN_LENGTH)
    current = store.admin_password_hash(ADMIN_USERNAME)
    if current is None:
        password = wanted or secrets.token_urlsafe(15)
        try:
            store.create_admin_user(ADMIN_USERNAME, passwords.hash(password))
        except Conflict:  # another node created it at the same moment (and logged it)
            return None
        if wanted:
            log.info("dashboard admin account created with the password from %s", PASSWORD_SETTING)
        else:
            log.warning("dashboard admin password: %s", password)
        return password
    if wanted and not passwords.verify(current, wanted):
        store.set_admin_password_hash(ADMIN_USERNAME, passwords.hash(wanted))
        log.warning("dashboard admin password reset from %s", PASSWORD_SETTING)
        return wanted
    return None
