"""What the JSON API and the event frames say about threads and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import msgspec

from app.db.models import Attachment, Contact, Message, Thread

ThreadStatus = Literal["bot", "open", "pending", "snoozed", "resolved"]
THREAD_STATUSES: tuple[str, ...] = get_args(ThreadStatus)


class Author(msgspec.Struct):
    type: str
    id: int | None = None
    name: str | None = None


AttachmentStatus = Literal["pending", "stored", "too_large", "failed"]
ATTACHMENTS_PATH = "/api/v1/attachments"


class AttachmentOut(msgspec.Struct):
    id: int
    filename: str
    content_type: str
    size: int
    url: str | None = None
    """Where the platform offered the file, or the link a customer shared (may expire)."""
    status: AttachmentStatus = "stored"
    """``pending`` (being fetched from the platform), ``stored``, ``too_large`` (over the size cap:
    only ``url``, if any), ``failed`` (``error`` says why)."""
    download_url: str | None = None
    """Our copy of the bytes (``GET``, agent token or console cookie); set once stored."""
    error: str | None = None


class MessageOut(msgspec.Struct):
    id: int
    thread_id: int
    direction: str
    kind: str
    channel: str
    author: Author
    text: str
    created_at: datetime
    delivery_status: str | None
    attachments: list[AttachmentOut]
    delivery_error: str | None = None
    subject: str | None = None
    html: str | None = None
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class ContactBrief(msgspec.Struct):
    id: int
    name: str | None
    email: str | None
    phone: str | None


class ThreadOut(msgspec.Struct):
    id: int
    status: str
    contact: ContactBrief
    assignee_id: int | None
    episode: int
    last_inbound_channel: str | None
    last_inbound_at: datetime | None
    last_message_at: datetime
    last_message_preview: str
    snoozed_until: datetime | None
    channels: list[str] = msgspec.field(default_factory=list)


class Page(msgspec.Struct):
    """A cursor-paginated list (API.md): pass ``next_cursor`` back to get the next page."""

    items: list[Any]
    next_cursor: str | None


def attachment_out(attachment: Attachment) -> AttachmentOut:
    assert attachment.id is not None
    stored = attachment.status == "stored" and bool(attachment.storage_key)
    status = attachment.status if attachment.status in get_args(AttachmentStatus) else "failed"
    return AttachmentOut(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        url=attachment.url,
        status=status,  # type: ignore[arg-type]
        download_url=f"{ATTACHMENTS_PATH}/{attachment.id}" if stored else None,
        error=attachment.error,
    )


def message_out(message: Message, attachments: list[Attachment] | None = None) -> MessageOut:
    assert message.id is not None
    return MessageOut(
        id=message.id,
        thread_id=message.thread_id,
        direction=message.direction,
        kind=message.kind,
        channel=message.channel,
        author=Author(type=message.author_type, id=message.author_id, name=message.author_name),
        text=message.text,
        created_at=message.created_at,
        delivery_status=message.delivery_status,
        delivery_error=message.delivery_error,
        attachments=[attachment_out(a) for a in attachments or []],
        subject=message.subject,
        html=message.html,
        meta=dict(message.meta or {}),
    )


def contact_brief(contact: Contact) -> ContactBrief:
    assert contact.id is not None
    return ContactBrief(id=contact.id, name=contact.name, email=contact.email, phone=contact.phone)


def thread_out(thread: Thread, contact: Contact, channels: list[str] | None = None) -> ThreadOut:
    assert thread.id is not None
    return ThreadOut(
        id=thread.id,
        status=thread.status,
        contact=contact_brief(contact),
        assignee_id=thread.assignee_id,
        episode=thread.episode,
        last_inbound_channel=thread.last_inbound_channel,
        last_inbound_at=thread.last_inbound_at,
        last_message_at=thread.last_message_at,
        last_message_preview=thread.last_message_preview,
        snoozed_until=thread.snoozed_until,
        channels=sorted(channels or []),
    )


def to_builtins(value: Any) -> Any:
    """Plain JSON-ready data for event payloads (datetimes as ISO strings)."""
    return msgspec.to_builtins(value)
