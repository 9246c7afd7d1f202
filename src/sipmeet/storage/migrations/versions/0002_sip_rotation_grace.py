"""SIP password rotation with a grace window: the previous HA1s and until when they count.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sip_credentials") as batch:
        batch.add_column(sa.Column("previous_ha1_md5", sa.String(32), nullable=True))
        batch.add_column(sa.Column("previous_ha1_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("previous_ha1_sha512_256", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("sip_credentials") as batch:
        batch.drop_column("previous_valid_until")
        batch.drop_column("previous_ha1_sha512_256")
        batch.drop_column("previous_ha1_sha256")
        batch.drop_column("previous_ha1_md5")
