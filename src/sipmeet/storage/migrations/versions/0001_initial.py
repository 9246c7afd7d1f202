"""Initial schema: API keys, SIP credentials, rooms, call records.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sipmeet_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_sipmeet_meta"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_table(
        "sip_credentials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("realm", sa.String(255), nullable=False),
        sa.Column("ha1_md5", sa.String(32), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("ha1_sha512_256", sa.String(64), nullable=False),
        sa.Column("password_encrypted", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("rotated_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name="fk_sip_credentials_api_key_id_api_keys",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sip_credentials"),
        sa.UniqueConstraint("api_key_id", name="uq_sip_credentials_api_key_id"),
        sa.UniqueConstraint("username", name="uq_sip_credentials_username"),
    )
    op.create_table(
        "rooms",
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("deactivated_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name="fk_rooms_api_key_id_api_keys", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", name="pk_rooms"),
    )
    op.create_index("ix_rooms_api_key_id", "rooms", ["api_key_id"])
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=True),
        sa.Column("sip_call_id", sa.String(255), nullable=False),
        sa.Column("caller_name", sa.String(255), nullable=True),
        sa.Column("caller_number", sa.String(64), nullable=True),
        sa.Column("provider_metadata", sa.JSON(), nullable=True),
        sa.Column("codec", sa.String(32), nullable=True),
        sa.Column("transport", sa.String(8), nullable=False),
        _when("started_at"),
        _when("answered_at", nullable=True),
        _when("ended_at", nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name="fk_calls_api_key_id_api_keys", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_room_id", "calls", ["room_id"])
    op.create_index("ix_calls_api_key_id", "calls", ["api_key_id"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])


def downgrade() -> None:
    op.drop_table("calls")
    op.drop_table("rooms")
    op.drop_table("sip_credentials")
    op.drop_table("api_keys")
    op.drop_table("sipmeet_meta")
