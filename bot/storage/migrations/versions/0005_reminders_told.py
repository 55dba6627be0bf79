"""Record which reminder the approvers were sent, so a reminder Redis lost is sent again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

`reminders_sent` counts the reminders the sweeper fired; `reminders_told`, the last of them
whose DMs and thread notes went out. Requests stored before count every fired reminder as told:
a reminder owed from before the upgrade is stale by now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add requests.reminders_told, equal to reminders_sent on every stored request."""
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("reminders_told", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE requests SET reminders_told = reminders_sent WHERE reminders_sent > 0")


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("reminders_told")
