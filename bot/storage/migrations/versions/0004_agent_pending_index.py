"""Index requests by (created_by, status): the pending cap counts an agent's pending requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ix_requests_created_by_status."""
    op.create_index("ix_requests_created_by_status", "requests", ["created_by", "status"], unique=False)


def downgrade() -> None:
    """Drop it again."""
    op.drop_index("ix_requests_created_by_status", table_name="requests")
