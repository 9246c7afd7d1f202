"""The ORM schema (SQLAlchemy 2 typed mappings); the same tables on SQLite and PostgreSQL.

Alembic migrations in ``migrations/versions`` create exactly this schema; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AdminUserRow",
    "ApiKeyRow",
    "Base",
    "CallRow",
    "MetaRow",
    "PhoneNumberRow",
    "RoomRow",
    "SipCredentialRow",
    "UtcDateTime",
    "WebhookDeliveryRow",
    "WebhookRow",
]

# Stable constraint names, so migrations can refer to them on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime()}


class MetaRow(Base):
    """Facts about the database itself (the master key check)."""

    __tablename__ = "sipmeet_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class SipCredentialRow(Base):
    __tablename__ = "sip_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), unique=True
    )
    username: Mapped[str] = mapped_column(String(64), unique=True)
    realm: Mapped[str] = mapped_column(String(255))
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    ha1_sha512_256: Mapped[str] = mapped_column(String(64))
    password_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    # After a rotation with a grace window: the old password's HA1s, valid until then.
    previous_ha1_md5: Mapped[str | None] = mapped_column(String(32))
    previous_ha1_sha256: Mapped[str | None] = mapped_column(String(64))
    previous_ha1_sha512_256: Mapped[str | None] = mapped_column(String(64))
    previous_valid_until: Mapped[datetime | None]


class RoomRow(Base):
    __tablename__ = "rooms"

    room_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    deactivated_at: Mapped[datetime | None]
    # Dial-in by meeting code: digits a caller keys in at the menu; an optional PIN,
    # encrypted like passwords (the dashboard shows it).
    dialin_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    pin_encrypted: Mapped[str | None] = mapped_column(Text)


class CallRow(Base):
    """A call record. ``room_id`` is what was dialled (no foreign key: unknown rooms are
    recorded too); ``api_key_id`` is set once the caller authenticated."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(String(64), index=True)
    api_key_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    sip_call_id: Mapped[str] = mapped_column(String(255))
    caller_name: Mapped[str | None] = mapped_column(String(255))
    caller_number: Mapped[str | None] = mapped_column(String(64))
    provider_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    codec: Mapped[str | None] = mapped_column(String(32))
    transport: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PhoneNumberRow(Base):
    """A published phone number (E.164) at a trunk provider, mapped to a room of an API key or,
    with ``ivr``, to the dial-in menu. ``auth_token_encrypted`` holds what checks the provider's
    webhook signatures (Twilio/Plivo auth token, Telnyx public key), encrypted like passwords."""

    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("provider", "number", name="uq_phone_numbers_provider_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(16), index=True)
    api_key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    room_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("rooms.room_id", ondelete="CASCADE"), index=True
    )
    ivr: Mapped[bool] = mapped_column(Boolean)
    auth_token_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookRow(Base):
    """An API key's webhook: where events are POSTed, HMAC-signed with ``secret``."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    # Set for a webhook given when a room was created: only that room's events.
    room_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("rooms.room_id", ondelete="CASCADE"), index=True
    )
    secret_encrypted: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)  # event names; empty: every event
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class WebhookDeliveryRow(Base):
    """One event for one webhook, and how its delivery went (attempts, last answer)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]


class AdminUserRow(Base):
    """A dashboard administrator; ``password_hash`` is argon2."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
