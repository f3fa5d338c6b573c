"""identities: attributes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

A platform tells us things about an identity that belong to it rather than to the contact (which
may hold several identities, and is what agents edit): Messenger's User Profile lookup is recorded
here once per PSID, so a refusal is not asked again on every message.
"""

import sqlalchemy as sa
from advanced_alchemy.types import JsonB
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes', JsonB, nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_column('attributes')
