"""Each item of a request carries its own route and votes (the policy holds item by item).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Both columns are NULL on requests stored before: the code then reads the request-level
`eligible`, `route` and `approvals` for every item, as it always did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add requests.item_routes and requests.item_approvals."""
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("item_routes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("item_approvals", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("item_approvals")
        batch.drop_column("item_routes")
