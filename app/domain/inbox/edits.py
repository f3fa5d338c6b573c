"""A customer edits a message they sent earlier: the stored message takes the new text.

The earlier texts stay in the message's metadata (``edit_history``, oldest first, each with the
time it was current), with ``edited`` and ``edited_at`` for the console's "edited" marker; a
``message.updated`` event redraws it on open pages. Platforms redeliver webhooks, so every edit
carries a key (``edit_keys`` remembers the recent ones): a retried edit changes nothing, and an
edit older than the text shown (a late retry) is only remembered, not applied.

The edited message is looked up among the messages the sender's identity sent on the account,
which ``ix_messages_identity`` narrows to one customer's timeline before the metadata is compared:
no scan of the whole table. An edit of a message we never stored (written before the account was
connected) is stored as a message of its own, marked edited.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, select
from sqlmodel import col

from app.db.models import Attachment, Contact, Message, Thread, pk, utcnow
from app.domain.contacts.resolution import find_identity
from app.domain.inbox.actions import do_ingest
from app.domain.inbox.schemas import message_out, thread_out, to_builtins
from app.domain.inbox.threads import recompute_thread_summary
from app.domain.realtime.writer import RetryTransaction, Transaction, Writer
from app.lib.errors import InvalidInputError
from integrations.types import InboundEdit

MAX_HISTORY = 20
"""Earlier texts kept per message; a customer rewriting one message all day keeps the latest ones."""
MAX_EDIT_KEYS = 50


@dataclass(frozen=True, slots=True)
class EditResult:
    """What an edit did: ``applied`` when the stored text changed; ``duplicate`` for a retry."""

    message_id: int
    thread_id: int
    applied: bool
    duplicate: bool = False
    stored_as_new: bool = False
    pending_attachments: tuple[int, ...] = ()
    """Files of an edit stored as a new message, to fetch (as ``IngestResult``'s)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _matches(path: tuple[str, str], value: int | str) -> ColumnElement[bool]:
    element = col(Message.meta)[path]
    if isinstance(value, int):
        # Telegram ids outgrow 32 bits: compare as BIGINT on both databases.
        matched: ColumnElement[bool] = cast(element.as_string(), BigInteger) == value
        return matched
    same: ColumnElement[bool] = element.as_string() == value
    return same


async def _original(tx: Transaction, edit: InboundEdit, account_uuid: uuid.UUID) -> Message | None:
    session = tx.session
    identity = await find_identity(session, edit.sender.channel, edit.sender.external_id)
    if identity is None:
        return None
    # Only the sender's own messages: nobody edits another customer's words.
    query = select(Message).where(
        col(Message.identity_id) == identity.id,
        col(Message.channel_account_id) == account_uuid,
        col(Message.direction) == "in",
    )
    if edit.original_external_id is not None:
        query = query.where(col(Message.external_id) == edit.original_external_id)
    elif edit.original_meta:
        query = query.where(
            *(
                _matches((namespace, key), value)
                for namespace, values in edit.original_meta.items()
                for key, value in values.items()
            )
        )
    else:
        return None
    found = (await session.execute(query.order_by(col(Message.id)).limit(1))).scalar_one_or_none()
    if found is None:
        return None
    # Thread first, then the message: the order ingest and merges lock in, so none deadlocks on an
    # edit; read afresh under the lock, two deliveries of one edit cannot both append to the history.
    await session.get(Thread, found.thread_id, with_for_update=True, populate_existing=True)
    message = await session.get(Message, pk(found.id), with_for_update=True, populate_existing=True)
    if message is None or message.thread_id != found.thread_id:
        raise RetryTransaction("the edited message moved to another thread meanwhile (a merge)")
    return message


def _stored_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _remember(meta: dict[str, Any], key: str) -> None:
    keys = [str(k) for k in meta.get("edit_keys", []) if k != key]
    meta["edit_keys"] = [*keys, key][-MAX_EDIT_KEYS:]


async def do_edit_inbound(
    writer: Writer, edit: InboundEdit, *, max_attachment_bytes: int | None = None
) -> EditResult:
    """Apply a customer's edit to the message it edits, once; store it as new when that is unknown."""
    try:
        account_uuid = uuid.UUID(edit.account_id)
    except ValueError:
        raise InvalidInputError("account id is not a UUID") from None

    async def work(tx: Transaction) -> EditResult | None:
        session = tx.session
        message = await _original(tx, edit, account_uuid)
        if message is None:
            return None
        meta: dict[str, Any] = dict(message.meta or {})
        result = EditResult(pk(message.id), message.thread_id, applied=False)
        if edit.edit_key in meta.get("edit_keys", []):
            return dataclasses.replace(result, duplicate=True)
        now = utcnow()
        edited_at = min(_aware(edit.edited_at), now) if edit.edited_at is not None else now
        shown_since = meta.get("edited_at")
        last_edit = _stored_time(shown_since)
        late = last_edit is not None and edited_at < last_edit
        _remember(meta, edit.edit_key)
        if late or edit.text == message.text:
            message.meta = meta  # nothing the agent would see changes
            return result
        history = [
            *meta.get("edit_history", []),
            {"text": message.text, "at": shown_since or message.created_at.isoformat()},
        ]
        meta.update(edited=True, edited_at=edited_at.isoformat(), edit_history=history[-MAX_HISTORY:])
        message.meta = meta
        message.text = edit.text
        message.updated_at = now

        thread = await session.get(Thread, message.thread_id)  # locked by _original
        assert thread is not None
        preview = thread.last_message_preview
        await session.flush()
        await recompute_thread_summary(session, thread)
        attachments = list(
            (
                await session.execute(
                    select(Attachment)
                    .where(col(Attachment.message_id) == message.id)
                    .order_by(col(Attachment.id))
                )
            ).scalars()
        )
        tx.emit(
            "message.updated",
            {"message": to_builtins(message_out(message, attachments)), "reason": "edited"},
            thread_id=message.thread_id,
        )
        if thread.last_message_preview != preview:  # the inbox row shows the new text
            contact = await session.get(Contact, thread.contact_id)
            assert contact is not None
            tx.emit(
                "thread.updated",
                {"thread": to_builtins(thread_out(thread, contact)), "reason": "message edited"},
                thread_id=pk(thread.id),
                contact_id=contact.id,
            )
        return dataclasses.replace(result, applied=True)

    applied = await writer.run(work)
    if applied is not None:
        return applied
    inbound = edit.as_message
    meta = dict(inbound.metadata)
    meta.update(edited=True, edit_keys=[edit.edit_key])
    if edit.edited_at is not None:
        meta["edited_at"] = _aware(edit.edited_at).isoformat()
    stored = await do_ingest(
        writer, dataclasses.replace(inbound, metadata=meta), max_attachment_bytes=max_attachment_bytes
    )
    return EditResult(
        stored.message_id,
        stored.thread_id,
        applied=True,
        duplicate=stored.duplicate,
        stored_as_new=True,
        pending_attachments=stored.pending_attachments,
    )
