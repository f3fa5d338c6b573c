"""attachments: fetch state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

Platforms hand us references to files (a Telegram ``file_id``, a Meta URL that expires); the bytes
are fetched into our own store after the message is stored, so an attachment row records where it
stands (``status``), how to fetch it (``source``) and why a fetch gave up (``error``).
"""

import sqlalchemy as sa
import sqlmodel
from advanced_alchemy.types import JsonB
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default='stored')
        )
        batch_op.add_column(sa.Column('source', JsonB, nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('source')
        batch_op.drop_column('status')
