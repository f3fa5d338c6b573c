"""The writers of an attachment's fetch outcome: stored, too large, or failed.

The fetch job (``app/domain/channels/attachment_fetch.py``) downloads outside any transaction and
records what happened here. Only a ``pending`` attachment changes, so a job run twice (a redelivered
job, a sweep after a crash) never overwrites a stored file or a recorded outcome; every change
emits ``message.updated`` with the message's attachments, and open consoles redraw the message.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Attachment, Message
from app.domain.inbox.schemas import message_out, to_builtins
from app.domain.realtime.writer import Transaction, Writer

FetchOutcome = Literal["stored", "too_large", "failed"]
MAX_ERROR_CHARS = 500


async def do_record_fetch(
    writer: Writer,
    attachment_id: int,
    *,
    status: FetchOutcome,
    storage_key: str | None = None,
    size: int | None = None,
    content_type: str | None = None,
    error: str | None = None,
) -> bool:
    """Record how fetching a pending attachment ended; ``False`` when it was no longer pending."""
    if status == "stored" and not storage_key:
        raise ValueError("a stored attachment needs its storage key")

    async def work(tx: Transaction) -> bool:
        session = tx.session
        attachment = await session.get(
            Attachment, attachment_id, with_for_update=True, populate_existing=True
        )
        if attachment is None or attachment.status != "pending":
            return False
        attachment.status = status
        attachment.error = error[:MAX_ERROR_CHARS] if error else None
        if status == "stored":
            attachment.storage_key = storage_key
            attachment.source = {}  # nothing left to fetch
            if size is not None:
                attachment.size = size
            if content_type and attachment.content_type == "application/octet-stream":
                attachment.content_type = content_type[:255]
        message = await session.get(Message, attachment.message_id)
        if message is None:
            return True
        await session.flush()
        attachments = list(
            (
                await session.execute(
                    select(Attachment)
                    .where(col(Attachment.message_id) == attachment.message_id)
                    .order_by(col(Attachment.id))
                )
            )
            .scalars()
            .all()
        )
        tx.emit(
            "message.updated",
            {"message": to_builtins(message_out(message, attachments))},
            thread_id=message.thread_id,
        )
        return True

    return await writer.run(work)
