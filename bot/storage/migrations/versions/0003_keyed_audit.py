"""The audit chain is keyed (HMAC-SHA256 under SIGNOFF_AUDIT_KEY) from the next event on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

`audit_head.keyed_from` marks the first keyed event: the events already stored stay a plain
SHA-256 chain and keep verifying as one; every event after them is MACed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add audit_head.keyed_from, just past the current head."""
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("keyed_from", sa.Integer(), nullable=True))
    op.execute("UPDATE audit_head SET keyed_from = seq + 1")


def downgrade() -> None:
    """Drop it again (the keyed events then no longer verify as plain SHA-256)."""
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("keyed_from")
