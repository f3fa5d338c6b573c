"""reports: indexes that keep a year of figures under a second

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01

The reports (app/domain/reports/queries.py) read the durable tables, not the pruned event log: a
range of days of messages (answered from ``ix_messages_created`` alone on PostgreSQL, whose INCLUDE
columns are all a volume or workload figure needs), each thread's first customer message and
consecutive customer messages (``ix_messages_inbound``), each conversation's first replies
(``ix_messages_replies``), the status lines (``ix_messages_system``, a few percent of the rows) and
the resolutions among them (``ix_messages_resolved``).
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_messages_created', ['created_at'], None, ['channel', 'direction', 'kind', 'author_type', 'author_id']),
    ('ix_messages_inbound', ['thread_id', 'created_at', 'id'], "direction = 'in'", ['channel', 'kind', 'received_at']),
    ('ix_messages_replies', ['thread_id', 'author_type', 'created_at'], "direction = 'out' AND kind = 'text'", None),
    ('ix_messages_system', ['created_at'], "kind = 'system'", None),
    ('ix_messages_resolved', ['thread_id', 'created_at'], "kind = 'system'", None),
)
RESOLVED_LINE = (
    "kind = 'system' AND (meta ->> 'event') = 'thread-change' AND (meta #>> '{changes,0,to}') = 'resolved'"
)
"""PostgreSQL's predicate for ``ix_messages_resolved`` (SQLite, which keeps no such figures at this
size, indexes every system line there)."""


def upgrade() -> None:
    for name, columns, where, include in INDEXES:
        predicate = sa.text(where) if where else None
        op.create_index(
            name,
            'messages',
            columns,
            unique=False,
            postgresql_where=sa.text(RESOLVED_LINE) if name == 'ix_messages_resolved' else predicate,
            sqlite_where=predicate,
            postgresql_include=include or [],
        )


def downgrade() -> None:
    for name, *_ in reversed(INDEXES):
        op.drop_index(name, table_name='messages')
