"""Dashboard administrators: usernames and password hashes (the dashboard makes and checks
the hashes; the store only keeps them)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from .base import StoreBase
from .errors import Invalid
from .models import AdminUserRow

__all__ = ["AdminsMixin"]

log = logging.getLogger(__name__)


class AdminsMixin(StoreBase):
    """Create dashboard administrators, change their password hashes, stamp their logins."""

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
