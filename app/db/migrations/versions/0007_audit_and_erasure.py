"""privacy: the audit log, and when a contact was erased

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-01

GDPR exports and erasures and retention prunes are recorded in ``audit_log`` (issue 8). An
anonymized contact keeps its row for statistics; ``erased_at`` marks it, so the retention prune can
find files that still belong to it and the console can say why it has no name.
"""

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision = '0007'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=40), nullable=False),
        sa.Column('action', sa.String(length=60), nullable=False),
        sa.Column('subject_type', sa.String(length=40), nullable=True),
        sa.Column('subject_id', sa.String(length=80), nullable=True),
        sa.Column('details', JsonB, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    with op.batch_alter_table('contacts') as batch:
        batch.add_column(sa.Column('erased_at', DateTimeUTC(timezone=True), nullable=True))
    # An erase finds a contact's thread-less events (contact edits) without scanning the log.
    op.create_index(
        'ix_events_contact_unthreaded',
        'events',
        ['contact_id'],
        postgresql_where=sa.text('thread_id IS NULL'),
        sqlite_where=sa.text('thread_id IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('ix_events_contact_unthreaded', table_name='events')
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('erased_at')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
