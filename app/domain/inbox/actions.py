"""The writers of the inbox: ingest, replies, notes, phone notes, status and assignment.

Each ``do_*`` runs one unit of work through the ``Writer`` (one transaction, events appended,
published after commit). Adapters call ``do_ingest`` with framework-free ``InboundMessage`` structs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent, Attachment, Contact, Identity, Message, Thread, pk, utcnow
from app.domain.bot.store import takes_new_conversations
from app.domain.contacts.resolution import add_claim, live_contact, resolve_sender
from app.domain.inbox import fast_ingest
from app.domain.inbox.email_threading import (
    email_facts,
    not_before_its_parent,
    set_outgoing_headers,
    start_episode_if_new_subject,
)
from app.domain.inbox.routing import (
    CHANNEL_LABELS as CHANNEL_LABELS,  # re-exported: pages label channels with it
)
from app.domain.inbox.routing import route_reply
from app.domain.inbox.schemas import THREAD_STATUSES, message_out, thread_out, to_builtins
from app.domain.inbox.threads import (
    NO_MESSAGE_YET,
    is_newest_inbound,
    note_message_on_thread,
    preview_of,
    system_message,
    thread_of_contact,
)
from app.domain.inbox.uploads import ReplyFile
from app.domain.realtime.writer import RetryTransaction, Transaction, Writer
from app.i18n import N_
from app.lib import metrics
from app.lib.errors import InvalidInputError, NotFoundError, Reason
from app.lib.storage import FileStorage
from integrations.registry import AdapterRegistry
from integrations.types import ContactClaim, InboundAttachment, InboundMessage

EnqueueDelivery = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IngestResult:
    message_id: int
    thread_id: int
    contact_id: int
    duplicate: bool = False
    pending_attachments: tuple[int, ...] = ()
    """Attachments stored as ``pending``: the caller enqueues their fetch once this returns."""
    thread_status: str | None = None
    """The thread's status once the message is stored: ``bot`` means the bot's turn comes next
    (``Jobs.after_ingest``). ``None`` for a duplicate or an automatic message (nobody answers)."""
    created_at: datetime | None = None
    """The stored message's place in the timeline (``None`` for a duplicate): lets a caller answer
    with the message it has just stored without reading it back."""


def _message_time(sent_at: datetime | None, now: datetime) -> datetime:
    """The platform's timestamp, but never in the future (a skewed clock must not pin a thread on top)."""
    if sent_at is None:
        return now
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    return min(sent_at, now)


def emit_message_created(
    tx: Transaction,
    message: Message,
    thread: Thread,
    contact: Contact,
    attachments: list[Attachment] | None = None,
) -> None:
    tx.emit(
        "message.created",
        {
            "message": to_builtins(message_out(message, attachments)),
            "thread": to_builtins(thread_out(thread, contact)),
        },
        thread_id=pk(thread.id),
        contact_id=contact.id,
    )


def emit_thread_updated(tx: Transaction, thread: Thread, contact: Contact, **extra: object) -> None:
    tx.emit(
        "thread.updated",
        {"thread": to_builtins(thread_out(thread, contact)), **extra},
        thread_id=pk(thread.id),
        contact_id=contact.id,
    )


async def _reopen_for_customer(tx: Transaction, thread: Thread, channel: str, now: datetime) -> bool:
    """A customer's message brings a thread back to the agents; after ``resolved`` a new episode
    starts, with the bot first when it takes new conversations."""
    if thread.status == "resolved":
        thread.status = "bot" if await takes_new_conversations(tx.session) else "open"
        thread.episode += 1
        thread.snoozed_until = None
        label = CHANNEL_LABELS.get(channel, channel)
        tx.session.add(
            system_message(
                thread,
                f"Conversation reopened: the customer wrote on {label}",
                at=now,
                event="reopened",
                episode=thread.episode,
                channel=channel,
            )
        )
        return True
    if thread.status in ("pending", "snoozed"):
        thread.status = "open"
        thread.snoozed_until = None
        return True
    return False


async def _attachment_row(
    message_id: int, item: InboundAttachment, max_bytes: int | None, files: FileStorage | None
) -> Attachment:
    """An attachment as it arrives: a file the platform holds is ``pending`` (a job fetches it),
    or ``too_large`` at once when its announced size is over the cap; bytes that came with the
    message (email) are stored now; a plain link is ``stored`` as it is."""
    status = "stored"
    storage_key: str | None = None
    over_cap = max_bytes is not None and item.size > max_bytes
    if item.data is not None and files is not None and not over_cap:
        # Content-addressed: a unit of work run again leaves the same key, never a wrong file.
        storage_key = await files.put(item.data)
    elif item.source:
        status = "too_large" if over_cap else "pending"
    elif item.url is None:
        # Bytes we could not keep: over the cap (the parser dropped them) or no store to put them.
        status = "too_large" if over_cap else "failed"
    return Attachment(
        message_id=message_id,
        filename=item.filename[:255],
        content_type=item.content_type,
        size=item.size,
        url=item.url,
        storage_key=storage_key,
        status=status,
        source=dict(item.source),
        error=None if status != "failed" else "the file could not be kept",
    )


async def do_ingest(
    writer: Writer,
    inbound: InboundMessage,
    *,
    max_attachment_bytes: int | None = None,
    files: FileStorage | None = None,
) -> IngestResult:
    """Store one inbound message in its customer's thread, exactly once.

    dedupe on (account, external_id) → resolve identity → thread (reopened if resolved) → message
    → events, in one transaction; published after commit. Files to fetch are stored as pending
    (see ``IngestResult.pending_attachments``); one announced over ``max_attachment_bytes`` is
    ``too_large`` and never fetched. Files that came with their bytes (email) go into ``files``.

    A message marked ``metadata["automatic"]`` (an auto-reply, a bounce) is kept in the timeline
    but changes no status: it never reopens a thread or brings it back to the agents. A mail that
    is not a reply and changes the subject starts a new episode (``email_threading``).
    """
    try:
        account_uuid = uuid.UUID(inbound.account_id)
    except ValueError:
        raise InvalidInputError("account id is not a UUID") from None
    if writer.supports_direct and fast_ingest.eligible(inbound):
        received = utcnow()
        fast = await fast_ingest.try_fast_ingest(
            writer, inbound, account_uuid, _message_time(inbound.sent_at, received), received
        )
        if fast is not None:
            return metrics.ingested(inbound.channel, fast)

    async def work(tx: Transaction) -> IngestResult:
        session = tx.session
        existing = (
            await session.execute(
                select(col(Message.id), col(Message.thread_id)).where(
                    col(Message.channel_account_id) == account_uuid,
                    col(Message.external_id) == inbound.external_id,
                )
            )
        ).first()
        if existing is not None:
            thread = await session.get(Thread, existing.thread_id)
            assert thread is not None
            return IngestResult(existing.id, existing.thread_id, thread.contact_id, duplicate=True)

        now = utcnow()
        resolved = await resolve_sender(tx, inbound.sender)
        contact = resolved.contact
        thread = await thread_of_contact(session, contact)
        # The thread lock waited out any merge or undo; if one moved this identity meanwhile,
        # what we resolved is stale: run the unit again.
        await session.refresh(resolved.identity)
        if resolved.identity.contact_id != contact.id:
            raise RetryTransaction("the sender's identity moved to another contact meanwhile")
        automatic = bool(inbound.metadata.get("automatic"))
        created_at = _message_time(inbound.sent_at, now)
        status_changed = False
        new_thread = thread.last_message_at == NO_MESSAGE_YET and thread.status == "open"
        if new_thread and not automatic and await takes_new_conversations(session):
            thread.status = "bot"  # a conversation's first message: the bot answers first when it is on
        if not automatic:
            status_changed = await _reopen_for_customer(tx, thread, inbound.channel, now)
            if inbound.channel == "email":
                facts = email_facts(inbound.metadata)
                created_at = await not_before_its_parent(tx, thread, facts, created_at, now)
                if not status_changed:
                    await start_episode_if_new_subject(
                        tx, thread, subject=inbound.subject, facts=facts, at=created_at
                    )
        message = Message(
            thread_id=pk(thread.id),
            channel_account_id=account_uuid,
            identity_id=resolved.identity.id,
            external_id=inbound.external_id,
            direction="in",
            kind="text",
            channel=inbound.channel,
            author_type="customer",
            author_name=inbound.sender.name or contact.name,
            text=inbound.text,
            html=inbound.html,
            subject=inbound.subject,
            meta=dict(inbound.metadata),
            created_at=created_at,
            received_at=now,
        )
        session.add(message)
        await session.flush()
        attachments = [
            await _attachment_row(pk(message.id), item, max_attachment_bytes, files)
            for item in inbound.attachments
        ]
        session.add_all(attachments)
        note_message_on_thread(
            thread, message, newest_inbound=await is_newest_inbound(session, thread, message)
        )
        await session.flush()
        emit_message_created(tx, message, thread, contact, attachments)
        if status_changed:
            emit_thread_updated(tx, thread, contact, reason="customer wrote")
        assert message.id is not None and thread.id is not None and contact.id is not None
        pending = tuple(pk(a.id) for a in attachments if a.status == "pending")
        return IngestResult(
            message.id,
            thread.id,
            contact.id,
            pending_attachments=pending,
            thread_status=None if automatic else thread.status,
            created_at=created_at,
        )

    return metrics.ingested(inbound.channel, await writer.run(work))


# ------------------------------------------------------------------------------------------------
# outbound
# ------------------------------------------------------------------------------------------------
async def do_send_reply(
    writer: Writer,
    registry: AdapterRegistry,
    enqueue: EnqueueDelivery,
    *,
    agent: Agent,
    thread_id: int,
    text: str,
    channel: str | None = None,
    author_type: Literal["agent", "bot"] = "agent",
    attachments: Sequence[ReplyFile] = (),
    files: FileStorage | None = None,
) -> Message:
    """Store a reply as ``queued`` and hand it to the delivery job once committed.

    The channel defaults to the one the customer last wrote on. A channel that cannot deliver now
    (or cannot carry the reply's ``attachments``) is refused up front with the reason (409), so
    nothing is stored that would only fail. The files' bytes go into ``files`` only once the route
    is known, and their rows are written with the message, in its transaction; a reply with files
    may have no text.
    """
    # A browser's textarea submits CRLF line ends; every channel (and the timeline) wants LF.
    text = text.replace("\r\n", "\n")
    if not text.strip() and not attachments:
        raise InvalidInputError(N_("a reply needs text"), type_slug="empty-text")
    if attachments and files is None:
        raise ValueError("replies with attachments need the file storage")

    async def work(tx: Transaction) -> Message:
        session = tx.session
        thread = await _thread_for_update(tx, thread_id)
        contact = await live_contact(session, thread.contact_id)
        route = await route_reply(
            session,
            registry,
            thread,
            contact,
            channel,
            sender_is_person=author_type == "agent",
            with_files=bool(attachments),
        )
        chosen = route.channel
        now = utcnow()
        message = Message(
            thread_id=pk(thread.id),
            channel_account_id=route.account_id,
            identity_id=route.identity.id,
            direction="out",
            kind="text",
            channel=chosen,
            author_type=author_type,
            author_id=agent.id if author_type == "agent" else None,
            author_name=agent.name if author_type == "agent" else "Bot",
            text=text,
            delivery_status="queued",
            meta={"recipient": route.identity.external_id},
            created_at=now,
            received_at=now,
        )
        session.add(message)
        if chosen == "email":
            await session.flush()
            await set_outgoing_headers(tx, thread, message, route.account, automatic=author_type == "bot")
        if author_type == "agent" and thread.assignee_id is None:
            thread.assignee_id = agent.id
        if thread.status == "bot" and author_type == "agent":
            thread.status = "open"
        note_message_on_thread(thread, message)
        await session.flush()
        rows: list[Attachment] = []
        for item in attachments:
            assert files is not None
            # Content-addressed: a transaction run again (or a rollback) leaves at most an
            # unreferenced copy of the same bytes, never a wrong one.
            key = await files.put(item.data)
            rows.append(
                Attachment(
                    message_id=pk(message.id),
                    filename=item.filename,
                    content_type=item.content_type,
                    size=item.size,
                    storage_key=key,
                    status="stored",
                )
            )
        if rows:
            session.add_all(rows)
            if not text.strip():
                # A files-only reply: the inbox shows their names (no words to translate) instead
                # of an empty line.
                thread.last_message_preview = preview_of("📎 " + ", ".join(row.filename for row in rows))
            await session.flush()
        emit_message_created(tx, message, thread, contact, rows)
        assert message.id is not None
        message_id = message.id
        tx.on_commit(lambda: enqueue(message_id))
        return message

    return await writer.run(work)


async def _thread_for_update(tx: Transaction, thread_id: int) -> Thread:
    thread = await tx.session.get(Thread, thread_id, with_for_update=True, populate_existing=True)
    if thread is None or thread.status == "merged":
        raise NotFoundError(
            Reason(N_("thread %(id)s does not exist"), {"id": str(thread_id)}), type_slug="thread-not-found"
        )
    return thread


async def do_add_note(writer: Writer, *, agent: Agent, thread_id: int, text: str) -> Message:
    """An internal note: in the timeline for agents, never sent to the customer."""
    if not text.strip():
        raise InvalidInputError(N_("a note needs text"), type_slug="empty-text")

    async def work(tx: Transaction) -> Message:
        thread = await _thread_for_update(tx, thread_id)
        contact = await live_contact(tx.session, thread.contact_id)
        now = utcnow()
        message = Message(
            thread_id=thread_id,
            direction="out",
            kind="note",
            channel="note",
            author_type="agent",
            author_id=agent.id,
            author_name=agent.name,
            text=text,
            created_at=now,
            received_at=now,
        )
        tx.session.add(message)
        await tx.session.flush()
        emit_message_created(tx, message, thread, contact)
        return message

    return await writer.run(work)


async def do_update_thread(
    writer: Writer,
    *,
    agent: Agent,
    thread_id: int,
    status: str | None = None,
    assignee_id: int | None = None,
    unassign: bool = False,
    snoozed_until: datetime | None = None,
) -> Thread:
    """Change status and/or assignee; each change leaves a system line and a ``thread.updated`` event."""
    if status is not None and status not in THREAD_STATUSES:
        raise InvalidInputError(
            f"status must be one of {', '.join(THREAD_STATUSES)}", type_slug="invalid-status"
        )
    if status == "snoozed" and snoozed_until is None:
        raise InvalidInputError("snoozing needs snoozed_until", type_slug="invalid-status")

    async def work(tx: Transaction) -> Thread:
        session = tx.session
        thread = await _thread_for_update(tx, thread_id)
        contact = await live_contact(session, thread.contact_id)
        changes: list[str] = []
        # The same changes as data, so the console can say them in the reader's language.
        params: list[dict[str, object]] = []
        resnooze = status == "snoozed" and snoozed_until != thread.snoozed_until
        if status is not None and (status != thread.status or resnooze):
            thread.status = status
            thread.snoozed_until = snoozed_until if status == "snoozed" else None
            changes.append(f"status → {status}")
            change: dict[str, object] = {"field": "status", "to": status}
            if thread.snoozed_until is not None:
                change["until"] = thread.snoozed_until.isoformat()
            params.append(change)
        if unassign and thread.assignee_id is not None:
            thread.assignee_id = None
            changes.append("unassigned")
            params.append({"field": "assignee", "to": None})
        elif assignee_id is not None and assignee_id != thread.assignee_id:
            assignee = await session.get(Agent, assignee_id)
            if assignee is None or not assignee.is_active:
                raise InvalidInputError(
                    Reason(N_("agent %(id)s does not exist"), {"id": str(assignee_id)}),
                    type_slug="agent-not-found",
                )
            thread.assignee_id = assignee_id
            changes.append(f"assigned to {assignee.name}")
            params.append({"field": "assignee", "to": assignee_id, "name": assignee.name})
        if not changes:
            return thread
        thread.updated_at = utcnow()
        line = system_message(
            thread,
            f"{agent.name}: {', '.join(changes)}",
            event="thread-change",
            agent_id=agent.id,
            agent_name=agent.name,
            changes=params,
        )
        session.add(line)
        await session.flush()
        emit_message_created(tx, line, thread, contact)
        emit_thread_updated(tx, thread, contact, by_agent_id=agent.id)
        return thread

    return await writer.run(work)


async def do_log_phone_note(
    writer: Writer,
    *,
    agent: Agent,
    phone: str,
    text: str,
    direction: Literal["inbound", "outbound"],
    duration_seconds: int | None = None,
    contact_id: int | None = None,
) -> Message:
    """Log a phone call in the caller's thread, found by number (E.164) or given contact.

    An unknown number becomes a new contact with a verified phone identity (the agent spoke to
    whoever answers it). An inbound call is the customer reaching out, so it reopens the thread.
    """
    if duration_seconds is not None and not 0 <= duration_seconds <= 86_400:
        raise InvalidInputError(
            N_("duration_seconds must be between 0 and 86400"), type_slug="invalid-duration"
        )

    async def work(tx: Transaction) -> Message:
        session = tx.session
        now = utcnow()
        claim = ContactClaim("phone", phone, verified=True)
        if contact_id is not None:
            contact_row = await session.get(Contact, contact_id)
            if contact_row is None:
                raise NotFoundError(
                    Reason(N_("contact %(id)s does not exist"), {"id": str(contact_id)}),
                    type_slug="contact-not-found",
                )
            contact = await live_contact(session, contact_id)
            contact = await add_claim(tx, contact, claim)
        else:
            from app.domain.contacts.resolution import find_identity

            identity = await find_identity(session, "phone", phone)
            if identity is not None:
                contact = await live_contact(session, identity.contact_id)
            else:
                contact = Contact(phone=phone)
                session.add(contact)
                await session.flush()
                contact = await add_claim(tx, contact, claim)
        phone_identity = (
            await session.execute(
                select(Identity).where(col(Identity.channel) == "phone", col(Identity.external_id) == phone)
            )
        ).scalar_one_or_none()
        thread = await thread_of_contact(session, contact)
        status_changed = False
        if direction == "inbound":
            status_changed = await _reopen_for_customer(tx, thread, "phone", now)
        message = Message(
            thread_id=pk(thread.id),
            identity_id=phone_identity.id if phone_identity else None,
            direction="in" if direction == "inbound" else "out",
            kind="phone",
            channel="phone",
            author_type="agent",
            author_id=agent.id,
            author_name=agent.name,
            text=text,
            meta={"phone": phone, "call_direction": direction, "duration_seconds": duration_seconds},
            created_at=now,
            received_at=now,
        )
        session.add(message)
        # A call never becomes the default reply channel: nothing can be "sent" on the phone.
        note_message_on_thread(thread, message)
        await session.flush()
        emit_message_created(tx, message, thread, contact)
        if status_changed:
            emit_thread_updated(tx, thread, contact, reason="customer called")
        return message

    return await writer.run(work)
