"""bot: unanswered questions an admin dismissed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

The console's unanswered-questions list lets an admin set a question aside; what was dismissed (and
when) is kept here, so the list stays short without touching the decisions themselves.
"""

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bot_dismissals',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('dismissed_at', DateTimeUTC(timezone=True), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id']),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('bot_dismissals')
