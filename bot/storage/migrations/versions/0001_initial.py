"""The schema as `create_all` made it before migrations: every table of December 2026.

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-01 19:19:01.000756
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

def upgrade() -> None:
    """Apply this revision."""
    op.create_table('audit_events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index(op.f('ix_audit_events_request_id'), 'audit_events', ['request_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('graph', sa.String(length=100), nullable=False),
    sa.Column('thread_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('input', sa.JSON(), nullable=True),
    sa.Column('requester', sa.String(), nullable=True),
    sa.Column('approvers', sa.JSON(), nullable=False),
    sa.Column('channel', sa.String(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('thread_id')
    )
    op.create_index(op.f('ix_runs_status'), 'runs', ['status'], unique=False)

    op.create_table('requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.String(), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=True),
    sa.Column('urgency', sa.String(length=10), nullable=False),
    sa.Column('requester', sa.String(), nullable=True),
    sa.Column('requester_id', sa.String(), nullable=True),
    sa.Column('approvers', sa.JSON(), nullable=False),
    sa.Column('eligible', sa.JSON(), nullable=False),
    sa.Column('channel', sa.String(), nullable=True),
    sa.Column('dm', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('decided_by', sa.String(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(), nullable=True),
    sa.Column('edited_args', sa.JSON(), nullable=True),
    sa.Column('callback_url', sa.String(length=2000), nullable=True),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('item_decisions', sa.JSON(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=True),
    sa.Column('interrupt_id', sa.String(length=200), nullable=True),
    sa.Column('resume_state', sa.String(length=20), nullable=True),
    sa.Column('rule', sa.String(length=200), nullable=True),
    sa.Column('route', sa.JSON(), nullable=True),
    sa.Column('approvals', sa.JSON(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('cards_version', sa.Integer(), nullable=False),
    sa.Column('notified_level', sa.Integer(), nullable=False),
    sa.Column('next_deadline_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('created_by', 'idempotency_key'),
    sa.UniqueConstraint('run_id', 'interrupt_id')
    )
    op.create_index(op.f('ix_requests_next_deadline_at'), 'requests', ['next_deadline_at'], unique=False)
    op.create_index(op.f('ix_requests_resume_state'), 'requests', ['resume_state'], unique=False)
    op.create_index(op.f('ix_requests_run_id'), 'requests', ['run_id'], unique=False)
    op.create_index(op.f('ix_requests_status'), 'requests', ['status'], unique=False)

    op.create_table('callback_deliveries',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    op.create_index(op.f('ix_callback_deliveries_next_attempt_at'), 'callback_deliveries',
                    ['next_attempt_at'],
                    unique=False)
    op.create_index(op.f('ix_callback_deliveries_state'), 'callback_deliveries', ['state'], unique=False)

    op.create_table('slack_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('ts', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'channel')
    )
    op.create_index(op.f('ix_slack_messages_request_id'), 'slack_messages', ['request_id'], unique=False)

def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f('ix_slack_messages_request_id'), table_name='slack_messages')

    op.drop_table('slack_messages')
    op.drop_index(op.f('ix_callback_deliveries_state'), table_name='callback_deliveries')
    op.drop_index(op.f('ix_callback_deliveries_next_attempt_at'), table_name='callback_deliveries')

    op.drop_table('callback_deliveries')
    op.drop_index(op.f('ix_requests_status'), table_name='requests')
    op.drop_index(op.f('ix_requests_run_id'), table_name='requests')
    op.drop_index(op.f('ix_requests_resume_state'), table_name='requests')
    op.drop_index(op.f('ix_requests_next_deadline_at'), table_name='requests')

    op.drop_table('requests')
    op.drop_index(op.f('ix_runs_status'), table_name='runs')

    op.drop_table('runs')
    op.drop_table('audit_head')
    op.drop_index(op.f('ix_audit_events_request_id'), table_name='audit_events')

    op.drop_table('audit_events')
