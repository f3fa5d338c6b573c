"""Keeps the reports' rollup (``report_hours``, ``report_conversations``, ``report_switches``).

A year of figures read straight from ``messages`` cost ~2.4 s of CPU on PostgreSQL; the rollup
answers the same figures (the same definitions, queries.py's docstring) from a few small tables.

**How it stays exact.** Every rollup row belongs to one thread, and a thread's rows are always
recomputed whole from its messages (:func:`refresh_threads`), never patched: a message stored late
or out of time order, a merge moving messages between threads, an erase deleting them — refreshing
the threads involved makes their rows what a query over ``messages`` would say. The catch-up
(:func:`catch_up`) refreshes the threads of every message past the stored watermark (message ids
are the order of arrival), in chunks of :data:`THREAD_CHUNK` threads, then moves the watermark. It
also re-reads the last :data:`OVERLAP` ids below the watermark: a transaction that took an id before
the previous catch-up but committed after it would otherwise be passed over.

**Who calls it.** The worker's sweep every minute, the report page before it answers (so figures
are always current; a page after a quiet minute refreshes a handful of threads), ``onethread
reports rebuild`` (:func:`do_rebuild`: everything from scratch), and the paths that rewrite
history: merging and un-merging contacts (``contacts.merging``) and erasing a contact, which call
:func:`refresh_threads` with the threads they changed inside their own transaction.

**Concurrency.** On PostgreSQL every writer of the rollup (a catch-up, a merge's or an erasure's
refresh) holds a transaction-level advisory lock, so two (worker and page, say) run one after the
other, the second finding little to do; SQLite has a single writer.

The rollup keeps counts and times only — no text, no names — so erasing a contact leaves nothing
personal in it even before its threads are refreshed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import case, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import (
    Message,
    ReportConversation,
    ReportHour,
    ReportRun,
    ReportSwitch,
    ReportVolume,
    ReportWatermark,
    utcnow,
)
from app.domain.realtime.writer import Transaction, Writer
from app.domain.reports.queries import ROLLUP_KINDS, VOLUME_KINDS, thread_conversations

THREAD_CHUNK = 500
"""Threads refreshed per statement (a year of 10,000 threads: 20 rounds)."""
OVERLAP = 200
"""Message ids below the watermark read again by each catch-up (see the module's docstring)."""
LOCK_KEY = 0x6F6E6574_68726570  # "onethrep": one key for every process on the database


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name


def _hour(column: Any, dialect: str) -> Any:
    """The UTC hour a timestamp falls in, in the column's own storage form."""
    if dialect == "postgresql":
        return func.timezone("UTC", func.date_trunc("hour", func.timezone("UTC", column)))
    return func.strftime("%Y-%m-%d %H:00:00.000000", column)


async def refresh_threads(session: AsyncSession, thread_ids: Iterable[int | None]) -> int:
    """Recompute every rollup row of these threads from their messages (in the caller's
    transaction); threads without messages (or deleted) are left without rows. Returns how many."""
    ids = sorted({i for i in thread_ids if i is not None})
    dialect = _dialect(session)
    await _lock(session)
    touched: set[Any] = set()
    """The hours whose ``report_volume`` rows must be added up again."""
    for start in range(0, len(ids), THREAD_CHUNK):
        chunk = ids[start : start + THREAD_CHUNK]
        hours_of_chunk = select(col(ReportHour.hour)).where(col(ReportHour.thread_id).in_(chunk)).distinct()
        touched.update((await session.execute(hours_of_chunk)).scalars())
        for table in (ReportHour, ReportConversation, ReportSwitch, ReportRun):
            await session.execute(delete(table).where(col(table.thread_id).in_(chunk)))

        hour = _hour(col(Message.created_at), dialect)
        author = case(
            (col(Message.author_type) == "agent", func.coalesce(col(Message.author_id), 0)), else_=0
        )
        counted = (
            select(
                col(Message.thread_id),
                hour,
                col(Message.channel),
                col(Message.direction),
                col(Message.kind),
                col(Message.author_type),
                author,
                func.count(),
            )
            .where(col(Message.thread_id).in_(chunk), col(Message.kind).in_(ROLLUP_KINDS))
            .group_by(
                col(Message.thread_id),
                hour,
                col(Message.channel),
                col(Message.direction),
                col(Message.kind),
                col(Message.author_type),
                author,
            )
        )
        await session.execute(
            insert(ReportHour).from_select(
                ["thread_id", "hour", "channel", "direction", "kind", "author_type", "author_id", "messages"],
                counted,
            )
        )

        touched.update((await session.execute(hours_of_chunk)).scalars())

        times = thread_conversations(chunk)
        await session.execute(
            insert(ReportConversation).from_select(
                ["thread_id", "start_at", "channel", "bot_at", "agent_at", "resolved_at"],
                select(
                    times.c.thread_id,
                    times.c.start_at,
                    times.c.channel,
                    times.c.bot_at,
                    times.c.agent_at,
                    times.c.resolved_at,
                ),
            )
        )

        order = (col(Message.created_at), col(Message.id))
        steps = (
            select(
                col(Message.thread_id).label("thread_id"),
                col(Message.id).label("id"),
                col(Message.created_at).label("at"),
                col(Message.channel).label("channel"),
                func.lag(col(Message.channel))
                .over(partition_by=col(Message.thread_id), order_by=order)
                .label("previous"),
                func.lag(col(Message.created_at))
                .over(partition_by=col(Message.thread_id), order_by=order)
                .label("previous_at"),
            )
            .where(
                col(Message.thread_id).in_(chunk),
                col(Message.direction) == "in",
                col(Message.kind).in_(VOLUME_KINDS),
            )
            .subquery("steps")
        )
        await session.execute(
            insert(ReportSwitch).from_select(
                ["thread_id", "at", "previous_at", "from_channel", "to_channel"],
                select(
                    steps.c.thread_id, steps.c.at, steps.c.previous_at, steps.c.previous, steps.c.channel
                ).where(steps.c.previous.is_not(None), steps.c.previous != steps.c.channel),
            )
        )
        # Runs: a new one starts where the channel changes; counting the starts so far names each run.
        starts = select(
            steps.c.thread_id,
            steps.c.at,
            steps.c.channel,
            func.sum(case((steps.c.previous.is_(None) | (steps.c.previous != steps.c.channel), 1), else_=0))
            .over(partition_by=steps.c.thread_id, order_by=(steps.c.at, steps.c.id), rows=(None, 0))
            .label("run"),
        ).subquery("numbered")
        await session.execute(
            insert(ReportRun).from_select(
                ["thread_id", "channel", "first_at", "last_at"],
                select(
                    starts.c.thread_id,
                    func.min(starts.c.channel),
                    func.min(starts.c.at),
                    func.max(starts.c.at),
                ).group_by(starts.c.thread_id, starts.c.run),
            )
        )
    await _add_up(session, touched)
    return len(ids)


async def _add_up(session: AsyncSession, hours: set[Any]) -> None:
    """``report_volume`` for these hours: ``report_hours`` summed over threads."""
    ordered = sorted(hours)
    columns = ("hour", "channel", "direction", "kind", "author_type", "author_id")
    keys = [col(getattr(ReportHour, name)) for name in columns]
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        await session.execute(delete(ReportVolume).where(col(ReportVolume.hour).in_(chunk)))
        await session.execute(
            insert(ReportVolume).from_select(
                [*columns, "messages"],
                select(*keys, func.sum(ReportHour.messages))
                .where(col(ReportHour.hour).in_(chunk))
                .group_by(*keys),
            )
        )


async def _lock(session: AsyncSession) -> None:
    """One writer of the rollup at a time on PostgreSQL (a catch-up, a merge's or an erasure's
    refresh), until the transaction ends; taking it again in the same transaction is free. They
    write the same hours' sums, which two at once would race on."""
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


async def _watermark(session: AsyncSession) -> ReportWatermark:
    await _lock(session)
    mark = await session.get(ReportWatermark, 1, with_for_update=_dialect(session) == "postgresql")
    if mark is None:
        mark = ReportWatermark(id=1, message_id=0)
        session.add(mark)
    return mark


async def catch_up(session: AsyncSession) -> int:
    """Take in every message past the watermark (see the module's docstring); returns how many
    threads were refreshed (0: the rollup was current)."""
    mark = await _watermark(session)
    high = (await session.execute(select(func.max(col(Message.id))))).scalar()
    if high is None or high <= mark.message_id:
        return 0
    since = max(mark.message_id - OVERLAP, 0) if mark.message_id else 0
    threads: Sequence[int] = (
        (
            await session.execute(
                select(col(Message.thread_id))
                .where(col(Message.id) > since, col(Message.id) <= high)
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    refreshed = await refresh_threads(session, threads)
    mark.message_id = high
    mark.updated_at = utcnow()
    if refreshed > THREAD_CHUNK:
        await _analyze(session)
    return refreshed


async def _analyze(session: AsyncSession) -> None:
    """After filling the rollup in bulk (the first catch-up, a rebuild), its statistics, which
    autovacuum would gather only later: without them PostgreSQL plans the report's reads for a
    few hundred rows and sorts a year of them on disk."""
    if _dialect(session) == "postgresql":
        await session.execute(
            text("ANALYZE report_hours, report_volume, report_conversations, report_switches, report_runs")
        )


async def rebuild(session: AsyncSession) -> int:
    """Every rollup row from scratch; returns how many threads have rows now."""
    mark = await _watermark(session)
    for table in (ReportHour, ReportVolume, ReportConversation, ReportSwitch, ReportRun):
        await session.execute(delete(table))
    high = (await session.execute(select(func.max(col(Message.id))))).scalar()
    threads = (await session.execute(select(col(Message.thread_id)).distinct())).scalars().all()
    refreshed = await refresh_threads(session, threads)
    mark.message_id = high or 0
    mark.updated_at = utcnow()
    await _analyze(session)
    return refreshed


async def do_catch_up(writer: Writer) -> int:
    async def work(tx: Transaction) -> int:
        return await catch_up(tx.session)

    return await writer.run(work)


async def do_rebuild(writer: Writer) -> int:
    async def work(tx: Transaction) -> int:
        return await rebuild(tx.session)

    return await writer.run(work)
