"""What the console's timeline needs beyond a page of messages: channel switches and the newest entry.

A channel switch ("the customer continued on Telegram") is not stored: it is read off the
timeline when rendering, comparing each inbound message's channel with the previous inbound one.
A page starts from the last inbound channel before it, so a switch at a page boundary shows too.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Attachment, Message
from app.domain.inbox.schemas import MessageOut, message_out
from app.lib.errors import NotFoundError


def _is_customer_message(message: MessageOut) -> bool:
    # Phone notes are logged by agents and never become the reply channel; only what the
    # customer wrote counts as continuing somewhere else.
    return message.direction == "in" and message.kind == "text"


async def inbound_channel_before(session: AsyncSession, thread_id: int, message: MessageOut) -> str | None:
    """The channel of the last customer message before ``message`` in the timeline's order."""
    row = (
        await session.execute(
            select(col(Message.channel))
            .where(
                col(Message.thread_id) == thread_id,
                col(Message.direction) == "in",
                col(Message.kind) == "text",
                or_(
                    col(Message.created_at) < message.created_at,
                    and_(col(Message.created_at) == message.created_at, col(Message.id) < message.id),
                ),
            )
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(1)
        )
    ).first()
    return row[0] if row else None


def channel_switches(messages: Iterable[MessageOut], previous: str | None) -> dict[int, str]:
    """Message id → the channel the customer moved to with that message (oldest-first input)."""
    switches: dict[int, str] = {}
    for message in messages:
        if not _is_customer_message(message):
            continue
        if previous is not None and message.channel != previous:
            switches[message.id] = message.channel
        previous = message.channel
    return switches


async def newest_message_id(session: AsyncSession, thread_id: int) -> int | None:
    """The id of the timeline's last entry (what an HTMX response continues from)."""
    return (
        await session.execute(
            select(col(Message.id))
            .where(col(Message.thread_id) == thread_id)
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def timeline_message(session: AsyncSession, thread_id: int, message_id: int) -> MessageOut:
    """One entry of a thread's timeline, with its attachments."""
    message = await session.get(Message, message_id)
    if message is None or message.thread_id != thread_id:
        raise NotFoundError(f"message {message_id} is not in thread {thread_id}", type_slug="not-found")
    attachments = (
        await session.execute(
            select(Attachment).where(col(Attachment.message_id) == message_id).order_by(col(Attachment.id))
        )
    ).scalars()
    return message_out(message, list(attachments))
