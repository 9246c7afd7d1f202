"""Phone numbers at trunk providers (Twilio, Telnyx, Plivo), each routed to a room or the menu.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=False),
        sa.Column("room_id", sa.String(64), nullable=True),
        sa.Column("ivr", sa.Boolean(), nullable=False),
        sa.Column("auth_token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name="fk_phone_numbers_api_key_id_api_keys",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.room_id"],
            name="fk_phone_numbers_room_id_rooms",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_phone_numbers"),
        sa.UniqueConstraint("provider", "number", name="uq_phone_numbers_provider_number"),
    )
    op.create_index("ix_phone_numbers_number", "phone_numbers", ["number"])
    op.create_index("ix_phone_numbers_api_key_id", "phone_numbers", ["api_key_id"])
    op.create_index("ix_phone_numbers_room_id", "phone_numbers", ["room_id"])


def downgrade() -> None:
    op.drop_table("phone_numbers")
