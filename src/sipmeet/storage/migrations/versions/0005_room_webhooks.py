"""Webhooks scoped to one room (the ``webhook`` given when a room is created).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("room_id", sa.String(64), nullable=True))
        batch.create_foreign_key(
            "fk_webhooks_room_id_rooms", "rooms", ["room_id"], ["room_id"], ondelete="CASCADE"
        )
        batch.create_index("ix_webhooks_room_id", ["room_id"])


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_index("ix_webhooks_room_id")
        batch.drop_constraint("fk_webhooks_room_id_rooms", type_="foreignkey")
        batch.drop_column("room_id")
