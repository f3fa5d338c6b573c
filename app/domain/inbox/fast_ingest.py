"""The PostgreSQL fast path of ``do_ingest``: a known customer writing into a live thread.

Most inbound traffic is a customer we already know adding to a conversation that is open (or with
the bot). For that case one statement finds identity, contact and thread, inserts the message
(deduplicated by the unique key, ``ON CONFLICT DO NOTHING``) and moves the thread's summary
forward; the writer then appends the event under the event-log lock and commits. That is two
statements where the general ORM path needs eight, and it is what keeps ingest near the speed of
a bare INSERT.

Everything else — a new sender, email/phone claims to resolve, attachments, a thread that must
reopen, a duplicate to report — returns ``None`` here and takes the general path in
``actions.do_ingest``, which owns the rules. The statement's conditions spell out exactly when
the two paths would do the same thing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from app.domain.inbox.schemas import Author, ContactBrief, MessageOut, ThreadOut, to_builtins
from app.domain.inbox.threads import preview_of
from app.domain.realtime.writer import DirectTransaction, Writer
from integrations.types import InboundMessage

if TYPE_CHECKING:
    import asyncpg

    from app.domain.inbox.actions import IngestResult

# $1 channel  $2 identity external id  $3 account  $4 message external id  $5 sender name
# $6 text  $7 html  $8 subject  $9 meta (json)  $10 created_at  $11 received_at  $12 preview
_KNOWN_SENDER_INTO_LIVE_THREAD = """
WITH target AS (
    SELECT i.id AS identity_id, c.id AS contact_id, c.name, c.email, c.phone, t.id AS thread_id
    FROM identities i
    JOIN contacts c ON c.id = i.contact_id AND c.merged_into_id IS NULL
    JOIN threads t ON t.contact_id = c.id
    WHERE i.channel = $1 AND i.external_id = $2
      AND t.status IN ('open', 'bot')
      AND (c.name IS NOT NULL OR $5::text IS NULL)
),
inserted AS (
    INSERT INTO messages (thread_id, channel_account_id, identity_id, external_id, direction, kind,
                          channel, author_type, author_name, text, html, subject, meta,
                          delivery_attempts, created_at, received_at, updated_at)
    SELECT thread_id, $3, identity_id, $4, 'in', 'text', $1, 'customer', COALESCE($5, name),
           $6, $7, $8, $9::jsonb, 0, $10, $11, $11
    FROM target
    ON CONFLICT (channel_account_id, external_id) DO NOTHING
    RETURNING id, thread_id, author_name
),
thread AS (
    UPDATE threads t
    SET last_message_preview = CASE WHEN $10 >= t.last_message_at OR t.last_message_preview = ''
                                    THEN $12 ELSE t.last_message_preview END,
        last_message_at = GREATEST(t.last_message_at, $10),
        last_inbound_channel = $1,
        last_inbound_at = $11,
        updated_at = $11
    FROM inserted
    WHERE t.id = inserted.thread_id
    RETURNING t.id, t.status, t.assignee_id, t.episode, t.last_inbound_channel, t.last_inbound_at,
              t.last_message_at, t.last_message_preview, t.snoozed_until
)
SELECT inserted.id AS message_id, inserted.author_name, thread.*, target.contact_id,
       target.name, target.email, target.phone
FROM inserted JOIN thread ON thread.id = inserted.thread_id CROSS JOIN target
"""


def eligible(inbound: InboundMessage) -> bool:
    """Whether the message can take the fast path at all (the statement decides the rest)."""
    return not inbound.sender.claims and not inbound.attachments


async def try_fast_ingest(
    writer: Writer,
    inbound: InboundMessage,
    account_id: uuid.UUID,
    created_at: datetime,
    received_at: datetime,
) -> IngestResult | None:
    """Ingest on the fast path, or ``None`` when this message needs the general one."""
    from app.domain.inbox.actions import IngestResult

    meta = msgspec.json.encode(dict(inbound.metadata)).decode()

    async def work(connection: asyncpg.Connection, tx: DirectTransaction) -> IngestResult | None:
        row = await connection.fetchrow(
            _KNOWN_SENDER_INTO_LIVE_THREAD,
            inbound.sender.channel,
            inbound.sender.external_id,
            account_id,
            inbound.external_id,
            inbound.sender.name,
            inbound.text,
            inbound.html,
            inbound.subject,
            meta,
            created_at,
            received_at,
            preview_of(inbound.text),
        )
        if row is None:
            return None
        message = MessageOut(
            id=row["message_id"],
            thread_id=row["id"],
            direction="in",
            kind="text",
            channel=inbound.channel,
            author=Author(type="customer", id=None, name=row["author_name"]),
            text=inbound.text,
            created_at=created_at,
            delivery_status=None,
            attachments=[],
            delivery_error=None,
            subject=inbound.subject,
            html=inbound.html,
            meta=dict(inbound.metadata),
        )
        thread = ThreadOut(
            id=row["id"],
            status=row["status"],
            contact=ContactBrief(
                id=row["contact_id"], name=row["name"], email=row["email"], phone=row["phone"]
            ),
            assignee_id=row["assignee_id"],
            episode=row["episode"],
            last_inbound_channel=row["last_inbound_channel"],
            last_inbound_at=row["last_inbound_at"],
            last_message_at=row["last_message_at"],
            last_message_preview=row["last_message_preview"],
            snoozed_until=row["snoozed_until"],
        )
        tx.emit(
            "message.created",
            {"message": to_builtins(message), "thread": to_builtins(thread)},
            thread_id=row["id"],
            contact_id=row["contact_id"],
        )
        return IngestResult(row["message_id"], row["id"], row["contact_id"])

    return await writer.run_direct(work)
