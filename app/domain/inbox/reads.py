"""Read marks: when each agent last had a thread in front of them, for the inbox's unread mark.

A thread is unread for an agent when a customer wrote after that agent last looked at it
(``threads.last_inbound_at > thread_reads.read_at``), or when it has an inbound message and the
agent never opened it. Marks are per agent: one agent reading a thread does not clear it for the
others. A mark is bookkeeping about one agent's screen, not a change anyone else needs to hear
of, so ``do_mark_read`` emits no event.

A mark is the time of the newest customer message the agent was shown (never the time of the
write): a message committed while a page was being rendered, or while the socket was sending,
stays unread. And a mark only ever moves forward: two tabs (or a page and its socket) marking
at once keep the later of the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Message, ThreadRead
from app.domain.inbox.schemas import ThreadOut
from app.domain.realtime.publisher import widget_channel
from app.domain.realtime.writer import Transaction, Writer


async def do_mark_read(writer: Writer, *, agent_id: int, thread_id: int, read_at: datetime) -> None:
    """Record that ``agent_id`` has seen ``thread_id``'s inbound messages up to ``read_at``.

    ``read_at`` is the ``received_at`` of the newest inbound message the agent was shown (the
    thread's ``last_inbound_at`` as the page rendered it). An upsert that never moves a mark back:
    safe to repeat, and safe when a slower writer arrives with an older time.
    """
    if read_at.tzinfo is None:  # SQLite reads back naive UTC
        read_at = read_at.replace(tzinfo=UTC)

    async def work(tx: Transaction) -> None:
        dialect = tx.session.bind.dialect.name if tx.session.bind else "sqlite"
        insert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(ThreadRead).values(agent_id=agent_id, thread_id=thread_id, read_at=read_at)
        # SQLite's two-argument max() is its GREATEST; both store the same UTC text/timestamp form.
        later = func.greatest if dialect == "postgresql" else func.max
        statement = statement.on_conflict_do_update(
            index_elements=["agent_id", "thread_id"],
            set_={"read_at": later(col(ThreadRead.read_at), statement.excluded.read_at)},
        )
        await tx.session.execute(statement)

        async def ring_widget() -> None:
            # The customer's widget marks their messages "seen".
            await writer.publish_ephemeral(
                {"type": "seen", "thread_id": thread_id},
                [widget_channel(writer.channel_namespace)],
            )

        tx.on_commit(ring_widget)

    await writer.run(work)


async def newest_inbound_at(session: AsyncSession, thread_id: int, *, up_to_message: int) -> datetime | None:
    """When the newest customer message of the thread, among those up to ``up_to_message``, came in.

    A live page has every message up to the last one it shows (or was sent): this is the read mark
    that page stands for. Later messages are not counted, even if already committed.
    """
    return (
        await session.execute(
            select(func.max(col(Message.received_at))).where(
                col(Message.thread_id) == thread_id,
                col(Message.direction) == "in",
                col(Message.id) <= up_to_message,
            )
        )
    ).scalar_one_or_none()


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if value is not None and value.tzinfo is not None else value


async def unread_thread_ids(session: AsyncSession, agent_id: int, threads: Iterable[ThreadOut]) -> set[int]:
    """Which of ``threads`` (rows already read for a page) are unread for this agent, in one query."""
    inbound = {t.id: t.last_inbound_at for t in threads if t.last_inbound_at is not None}
    if not inbound:
        return set()
    rows = await session.execute(
        select(col(ThreadRead.thread_id), col(ThreadRead.read_at)).where(
            col(ThreadRead.agent_id) == agent_id, col(ThreadRead.thread_id).in_(list(inbound))
        )
    )
    read_at = dict(rows.tuples().all())
    # SQLite hands back naive datetimes, PostgreSQL aware ones; both are UTC, so compare naive.
    return {
        thread_id
        for thread_id, last_inbound in inbound.items()
        if thread_id not in read_at or _naive(last_inbound) > _naive(read_at[thread_id])
    }


async def is_unread(
    session: AsyncSession, agent_id: int, thread_id: int, last_inbound_at: datetime | None
) -> bool:
    """Whether the customer wrote after this agent last had the thread open (one primary-key read).

    Opening a thread writes a mark only when this is true: re-opening a thread nobody wrote to
    since changes nothing the inbox shows, so it should not cost a commit.
    """
    if last_inbound_at is None:
        return False
    read_at = (
        await session.execute(
            select(col(ThreadRead.read_at)).where(
                col(ThreadRead.agent_id) == agent_id, col(ThreadRead.thread_id) == thread_id
            )
        )
    ).scalar_one_or_none()
    return read_at is None or _naive(last_inbound_at) > _naive(read_at)
