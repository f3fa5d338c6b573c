"""reports: a rollup kept in message-id order, so a year of figures answers in a fraction of a second

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01

``report_hours`` (messages per thread, UTC hour, channel, direction, kind and author) and its sum
over threads ``report_volume``, ``report_runs`` (a thread's consecutive customer messages on one
channel),
``report_conversations`` (one row per conversation), ``report_switches`` (consecutive customer
messages on different channels) and ``report_watermark`` (the last message id taken in). Counts and
times only: nothing a customer wrote. Kept by app/domain/reports/actions.py; filled by its first
catch-up (the worker's, the report page's, or ``onethread reports rebuild``).
"""

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'report_hours',
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('hour', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('author_type', sa.String(length=10), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('thread_id', 'hour', 'channel', 'direction', 'kind', 'author_type', 'author_id'),
    )
    op.create_index('ix_report_hours_hour', 'report_hours', ['hour'], unique=False)
    op.create_table(
        'report_volume',
        sa.Column('hour', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('author_type', sa.String(length=10), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'channel', 'direction', 'kind', 'author_type', 'author_id'),
    )
    op.create_table(
        'report_runs',
        sa.Column('id', BIG_ID, sa.Identity(), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=False),
        sa.Column('first_at', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('last_at', DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_report_runs_thread_id', 'report_runs', ['thread_id'], unique=False)
    op.create_table(
        'report_conversations',
        sa.Column('id', BIG_ID, sa.Identity(), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('start_at', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=True),
        sa.Column('bot_at', DateTimeUTC(timezone=True), nullable=True),
        sa.Column('agent_at', DateTimeUTC(timezone=True), nullable=True),
        sa.Column('resolved_at', DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_report_conversations_thread_id', 'report_conversations', ['thread_id'], unique=False)
    op.create_index('ix_report_conversations_start_at', 'report_conversations', ['start_at'], unique=False)
    op.create_table(
        'report_switches',
        sa.Column('id', BIG_ID, sa.Identity(), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('at', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('previous_at', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('from_channel', sa.String(length=40), nullable=False),
        sa.Column('to_channel', sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_report_switches_thread_id', 'report_switches', ['thread_id'], unique=False)
    op.create_index('ix_report_switches_at', 'report_switches', ['at'], unique=False)
    op.create_table(
        'report_watermark',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('report_watermark')
    op.drop_index('ix_report_switches_at', table_name='report_switches')
    op.drop_index('ix_report_switches_thread_id', table_name='report_switches')
    op.drop_table('report_switches')
    op.drop_index('ix_report_conversations_start_at', table_name='report_conversations')
    op.drop_index('ix_report_conversations_thread_id', table_name='report_conversations')
    op.drop_table('report_conversations')
    op.drop_index('ix_report_hours_hour', table_name='report_hours')
    op.drop_table('report_hours')
    op.drop_index('ix_report_runs_thread_id', table_name='report_runs')
    op.drop_table('report_runs')
    op.drop_table('report_volume')
