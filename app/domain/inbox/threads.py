"""Thread bookkeeping shared by the writers: finding a contact's thread and its summary fields.

Only called from inside a ``Writer`` transaction; the names say which rows they touch.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Contact, Identity, Message, Thread, utcnow
from app.domain.realtime.writer import RetryTransaction

PREVIEW_CHARS = 140


def preview_of(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


NO_MESSAGE_YET = datetime(1970, 1, 1, tzinfo=UTC)


async def thread_of_contact(session: AsyncSession, contact: Contact) -> Thread:
    """The contact's one thread, locked for this transaction, created on first need.

    The row lock (``FOR UPDATE``; SQLite has one writer anyway) serialises everything that changes
    a thread — messages reopening it, agents resolving it, merges moving it — so a status read here
    stays true until commit. A thread found ``merged`` means a merge committed while we waited: the
    unit of work runs again and finds the surviving contact. The unique key on ``contact_id``
    holds concurrent creations off.
    """
    thread = (
        await session.execute(
            select(Thread)
            .where(col(Thread.contact_id) == contact.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if thread is None:
        assert contact.id is not None
        thread = Thread(contact_id=contact.id, status="open", last_message_at=NO_MESSAGE_YET)
        session.add(thread)
        await session.flush()
    elif thread.status == "merged":
        raise RetryTransaction(f"thread {thread.id} was merged away meanwhile")
    return thread


async def channels_of_contact(session: AsyncSession, contact_id: int) -> list[str]:
    """Channels the customer has an identity on, as the inbox shows them."""
    rows = await session.execute(
        select(col(Identity.channel)).where(col(Identity.contact_id) == contact_id).distinct()
    )
    return sorted({row[0] for row in rows})


def note_message_on_thread(thread: Thread, message: Message, *, newest_inbound: bool = True) -> None:
    """Move the thread's summary forward for a new timeline entry.

    ``newest_inbound=False`` (see :func:`is_newest_inbound`) keeps the customer's last channel: a
    late delivery of an older message is news to the agents (``last_inbound_at``, the unread mark)
    but not where the customer is now.
    """
    if message.kind != "system":
        if message.created_at >= thread.last_message_at or not thread.last_message_preview:
            thread.last_message_preview = preview_of(message.text)
        thread.last_message_at = max(thread.last_message_at, message.created_at)
    if message.direction == "in" and message.kind == "text":
        if newest_inbound:
            thread.last_inbound_channel = message.channel
        thread.last_inbound_at = message.received_at
    thread.updated_at = utcnow()


async def is_newest_inbound(session: AsyncSession, thread: Thread, message: Message) -> bool:
    """Whether no customer message of the thread was written after ``message`` (platform time).

    Only a late delivery (a platform's retry, a backlog after an outage) can be older than the
    thread's last message, so the common case needs no query.
    """
    if message.created_at >= thread.last_message_at:
        return True
    newer = await session.execute(
        select(col(Message.id))
        .where(
            col(Message.thread_id) == thread.id,
            col(Message.direction) == "in",
            col(Message.kind) == "text",
            col(Message.created_at) > message.created_at,
        )
        .limit(1)
    )
    return newer.first() is None


async def recompute_thread_summary(session: AsyncSession, thread: Thread) -> None:
    """Rebuild the summary fields from the timeline (after messages moved between threads)."""
    latest = (
        await session.execute(
            select(Message)
            .where(col(Message.thread_id) == thread.id, col(Message.kind) != "system")
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    inbound = select(Message).where(
        col(Message.thread_id) == thread.id, col(Message.direction) == "in", col(Message.kind) == "text"
    )
    # Where the customer wrote last goes by when they wrote it; what is new to the agents (the
    # unread mark) by when it reached us.
    written_last = (
        await session.execute(
            inbound.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(1)
        )
    ).scalar_one_or_none()
    received_last = (
        await session.execute(
            inbound.order_by(col(Message.received_at).desc(), col(Message.id).desc()).limit(1)
        )
    ).scalar_one_or_none()
    thread.last_message_at = latest.created_at if latest else thread.created_at
    thread.last_message_preview = preview_of(latest.text) if latest else ""
    thread.last_inbound_channel = written_last.channel if written_last else None
    thread.last_inbound_at = received_last.received_at if received_last else None
    thread.updated_at = utcnow()


def system_message(thread: Thread, text: str, *, at: datetime | None = None, **meta: object) -> Message:
    """A timeline line for activity (reopen, merge, status change); never sent to the customer."""
    assert thread.id is not None
    now = at or utcnow()
    return Message(
        thread_id=thread.id,
        direction="out",
        kind="system",
        channel="system",
        author_type="system",
        text=text,
        meta=dict(meta),
        created_at=now,
        received_at=now,
    )
