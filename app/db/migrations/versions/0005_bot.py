"""bot: rules, settings, decisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

The FAQ bot's rules and settings live in the database (edited in the console, imported and
exported as YAML); every decision it takes is recorded for the timeline and the admins' stats.
"""

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC, JsonB
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'bot_rules',
        sa.Column('id', sa.String(length=80), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('data', JsonB, nullable=False),
        sa.Column('updated_at', DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'bot_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('data', JsonB, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'bot_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('message_id', _BIGINT, nullable=True),
        sa.Column('reply_message_id', _BIGINT, nullable=True),
        sa.Column('episode', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=40), nullable=True),
        sa.Column('language', sa.String(length=10), nullable=True),
        sa.Column('question', sa.String(), nullable=False),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.Column('rule_id', sa.String(length=80), nullable=True),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('candidates', JsonB, nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=True),
        sa.Column('feedback', sa.String(length=12), nullable=True),
        sa.Column('created_at', DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['thread_id'], ['threads.id']),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['reply_message_id'], ['messages.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('bot_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_bot_decisions_created', ['created_at'], unique=False)
        batch_op.create_index('ix_bot_decisions_thread', ['thread_id', 'id'], unique=False)
        batch_op.create_index('ix_bot_decisions_rule', ['rule_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bot_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_bot_decisions_rule')
        batch_op.drop_index('ix_bot_decisions_thread')
        batch_op.drop_index('ix_bot_decisions_created')
    op.drop_table('bot_decisions')
    op.drop_table('bot_settings')
    op.drop_table('bot_rules')
