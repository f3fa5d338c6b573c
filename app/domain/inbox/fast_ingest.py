"""The PostgreSQL fast path of ``do_ingest``: a known customer writing into a live thread.

Most inbound traffic is a customer we already know adding to a conversation that is open (or with
the bot). For that case a single statement — one round trip, atomic by itself — finds identity,
contact and thread, inserts the message (deduplicated by the unique key, ``ON CONFLICT DO
NOTHING``), moves the thread's summary forward and appends the ``message.created`` event under the
event-log lock (see ``Writer.run_statement``). The general ORM path needs eight statements and
four times the CPU; this is what keeps ingest near the speed of a bare INSERT.

Everything else returns ``None`` here, having written nothing, and takes the general path in
``actions.do_ingest``, which owns the rules: a new sender, email/phone claims to resolve,
attachments, a thread that must reopen, a message older than the thread's last one, a contact
without a name to fill in, and a duplicate to report. The statement's conditions spell out exactly
when both paths would do the same thing.

The event's payload is built here from the same schema structs as the general path's; the few
values only the database knows (ids, the thread's status/assignee/episode, the contact's details,
the author's name) are returned by the statement and patched into the payload both in the stored
row (``jsonb_set``) and in the published frame.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from asyncpg.exceptions import DeadlockDetectedError, SerializationError

from app.domain.inbox.schemas import Author, ContactBrief, MessageOut, ThreadOut, to_builtins
from app.domain.inbox.threads import preview_of
from app.domain.realtime.writer import EVENT_LOG_LOCK, Writer
from integrations.types import InboundMessage

if TYPE_CHECKING:
    import asyncpg

    from app.domain.inbox.actions import IngestResult

# $1 channel  $2 identity external id  $3 account  $4 message external id  $5 sender name
# $6 text  $7 html  $8 subject  $9 meta (json)  $10 created_at  $11 received_at  $12 preview
# $13 event payload template (json)  $14 event-log lock key  $15 message channel
_KNOWN_SENDER_INTO_LIVE_THREAD = """
WITH target AS (
    SELECT i.id AS identity_id, c.id AS contact_id, c.name, c.email, c.phone, t.id AS thread_id
    FROM identities i
    JOIN contacts c ON c.id = i.contact_id AND c.merged_into_id IS NULL
    JOIN threads t ON t.contact_id = c.id
    WHERE i.channel = $1 AND i.external_id = $2
      AND t.status IN ('open', 'bot')
      AND t.snoozed_until IS NULL
      AND t.last_message_at <= $10
      -- a nameless contact only when no name comes to fill in (Messenger senders bring none)
      AND (NULLIF(c.name, '') IS NOT NULL OR NULLIF($5::text, '') IS NULL)
    -- Waits for anyone changing the thread or the identity (an agent resolving it, a merge or an
    -- undo moving them) and then re-checks these conditions on the new rows; a message that no
    -- longer qualifies drops out and takes the general path.
    FOR UPDATE OF i, t
),
inserted AS (
    INSERT INTO messages (thread_id, channel_account_id, identity_id, external_id, direction, kind,
                          channel, author_type, author_name, text, html, subject, meta,
                          delivery_attempts, created_at, received_at, updated_at)
    SELECT thread_id, $3, identity_id, $4, 'in', 'text', $15, 'customer', COALESCE(NULLIF($5, ''), name),
           $6, $7, $8, $9::jsonb, 0, $10, $11, $11
    FROM target
    ON CONFLICT (channel_account_id, external_id) DO NOTHING
    RETURNING id, thread_id, author_name
),
thread AS (
    UPDATE threads t
    SET last_message_preview = $12, last_message_at = $10, last_inbound_channel = $15,
        last_inbound_at = $11, updated_at = $11
    FROM inserted
    WHERE t.id = inserted.thread_id
    RETURNING t.id, t.status, t.assignee_id, t.episode
),
event_log AS (
    SELECT pg_advisory_xact_lock($14) FROM thread
),
event AS (
    INSERT INTO events (type, thread_id, contact_id, audience, data, created_at)
    SELECT 'message.created', thread.id, target.contact_id, 'agents',
           jsonb_set(jsonb_set(jsonb_set($13::jsonb,
               '{message,id}', to_jsonb(inserted.id)),
               '{message,thread_id}', to_jsonb(thread.id)),
               '{message,author,name}', COALESCE(to_jsonb(inserted.author_name), 'null'::jsonb))
           || jsonb_build_object('thread', ($13::jsonb -> 'thread')
               || jsonb_build_object('id', thread.id, 'status', thread.status,
                                     'assignee_id', thread.assignee_id, 'episode', thread.episode,
                                     'contact', jsonb_build_object('id', target.contact_id,
                                         'name', target.name, 'email', target.email,
                                         'phone', target.phone))),
           $11
    FROM event_log, inserted, thread, target
    RETURNING id
)
SELECT event.id AS event_id, inserted.id AS message_id, inserted.author_name, thread.id AS thread_id,
       thread.status, thread.assignee_id, thread.episode, target.contact_id, target.name,
       target.email, target.phone
FROM event, inserted, thread, target
"""


def eligible(inbound: InboundMessage) -> bool:
    """Whether the message can take the fast path at all (the statement decides the rest).

    Email never does: whether a mail starts a new episode depends on its subject and headers
    (``email_threading``), and an automatic reply must not reopen a thread."""
    return not inbound.sender.claims and not inbound.attachments and inbound.channel != "email"


def _payload(
    inbound: InboundMessage, created_at: datetime, received_at: datetime, preview: str
) -> dict[str, Any]:
    """The ``message.created`` payload with placeholders (0, "") where only the database knows."""
    message = MessageOut(
        id=0,
        thread_id=0,
        direction="in",
        kind="text",
        channel=inbound.channel,
        author=Author(type="customer", id=None, name=None),
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
        id=0,
        status="",
        contact=ContactBrief(id=0, name=None, email=None, phone=None),
        assignee_id=None,
        episode=0,
        last_inbound_channel=inbound.channel,
        last_inbound_at=received_at,
        last_message_at=created_at,
        last_message_preview=preview,
        snoozed_until=None,
    )
    return {"message": to_builtins(message), "thread": to_builtins(thread)}


async def try_fast_ingest(
    writer: Writer,
    inbound: InboundMessage,
    account_id: uuid.UUID,
    created_at: datetime,
    received_at: datetime,
) -> IngestResult | None:
    """Ingest on the fast path, or ``None`` (nothing written) when the message needs the general one."""
    from app.domain.inbox.actions import IngestResult

    preview = preview_of(inbound.text)
    payload = _payload(inbound, created_at, received_at, preview)

    async def work(connection: asyncpg.Connection) -> tuple[IngestResult, list[dict[str, Any]]] | None:
        try:
            row = await _fetch(connection)
        except (DeadlockDetectedError, SerializationError):
            return None  # the statement rolled back; the general path retries as a unit of work
        if row is None:
            return None
        return _outcome(row)

    async def _fetch(connection: asyncpg.Connection) -> asyncpg.Record | None:
        return await connection.fetchrow(
            _KNOWN_SENDER_INTO_LIVE_THREAD,
            inbound.sender.channel,
            inbound.sender.external_id,
            account_id,
            inbound.external_id,
            inbound.sender.name,
            inbound.text,
            inbound.html,
            inbound.subject,
            msgspec.json.encode(dict(inbound.metadata)).decode(),
            created_at,
            received_at,
            preview,
            msgspec.json.encode(payload).decode(),
            EVENT_LOG_LOCK,
            inbound.channel,
        )

    def _outcome(row: asyncpg.Record) -> tuple[IngestResult, list[dict[str, Any]]]:
        message, thread = payload["message"], payload["thread"]
        message["id"], message["thread_id"] = row["message_id"], row["thread_id"]
        message["author"]["name"] = row["author_name"]
        thread.update(
            id=row["thread_id"],
            status=row["status"],
            assignee_id=row["assignee_id"],
            episode=row["episode"],
            contact={
                "id": row["contact_id"],
                "name": row["name"],
                "email": row["email"],
                "phone": row["phone"],
            },
        )
        frame = {
            "id": row["event_id"],
            "type": "message.created",
            "thread_id": row["thread_id"],
            "data": payload,
            "audience": "agents",
        }
        result = IngestResult(
            row["message_id"],
            row["thread_id"],
            row["contact_id"],
            thread_status=None if inbound.metadata.get("automatic") else row["status"],
            created_at=created_at,
        )
        return result, [frame]

    return await writer.run_statement(work)
