"""What a visitor may see: their thread, in the widget's own (smaller, safer) shape.

A visitor's token names a webchat identity; the identity's contact has one thread. Which of its
messages the visitor sees depends on whether the site vouched for them:

- a **verified** visitor (the site's server signed their user id) is that customer and sees the
  whole conversation: what they wrote and were answered on every channel, each labelled with it;
- an **anonymous** visitor sees only the messages of their own widget identity (what they wrote
  here and what we answered here), even if an agent merged them with another contact: a browser
  nobody vouched for must never open a customer's history.

Internal notes, phone notes, system lines and replies that failed are never shown. Everything is
read from the database on request; nothing from the agents' event frames reaches a visitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Attachment, Identity, Message, Thread, ThreadRead, pk
from app.domain.contacts.resolution import find_identity, live_contact
from app.domain.widget.tokens import VisitorToken, signed_attachment_query
from integrations.buttons import buttons_of

ATTACHMENTS_PATH = "/widget/v1/attachments"
WIDGET_CHANNEL = "webchat"


class WidgetAuthor(msgspec.Struct):
    type: str
    """``customer`` (the visitor), ``agent`` or ``bot``."""
    name: str | None = None


class WidgetAttachment(msgspec.Struct):
    id: int
    filename: str
    content_type: str
    size: int
    status: str
    """``stored`` (``url`` downloads it), ``pending`` (still coming), ``too_large`` or ``failed``."""
    url: str | None = None


class WidgetMessage(msgspec.Struct):
    """One message as the visitor's widget shows it (API.md "Widget")."""

    id: int
    direction: Literal["in", "out"]
    """``in``: the customer wrote it; ``out``: we answered."""
    channel: str
    text: str
    created_at: datetime
    author: WidgetAuthor
    attachments: list[WidgetAttachment]
    status: str
    """The visitor's own messages: ``sent``, or ``seen`` once an agent has read the thread after
    it. Our answers: ``sent`` or ``read`` (the visitor's widget showed it)."""
    client_id: str | None = None
    edited: bool = False
    buttons: list[dict[str, Any]] = msgspec.field(default_factory=list)
    """Our answer's reply buttons, ``[{"label", "payload"}]``: the widget draws the newest
    message's under it; pressing one sends the label with ``button_payload``."""


@dataclass(frozen=True, slots=True)
class VisitorThread:
    """The visitor behind a token and where their conversation is (``None`` until they write)."""

    token: VisitorToken
    identity_id: int | None = None
    contact_id: int | None = None
    thread_id: int | None = None

    @property
    def started(self) -> bool:
        return self.thread_id is not None


async def find_visitor(session: AsyncSession, token: VisitorToken) -> VisitorThread:
    """The visitor's identity, contact and thread as they are now (merges followed)."""
    identity = await find_identity(session, WIDGET_CHANNEL, token.external_id)
    if identity is None:
        return VisitorThread(token)
    contact = await live_contact(session, identity.contact_id)
    thread_id = (
        await session.execute(select(col(Thread.id)).where(col(Thread.contact_id) == contact.id))
    ).scalar_one_or_none()
    return VisitorThread(token, identity_id=identity.id, contact_id=contact.id, thread_id=thread_id)


def visible(visitor: VisitorThread) -> ColumnElement[bool]:
    """The messages of the visitor's thread they may see (see the module's docstring)."""
    shown = and_(
        col(Message.thread_id) == visitor.thread_id,
        col(Message.kind) == "text",
        col(Message.author_type) != "system",
        or_(
            col(Message.direction) == "in",
            col(Message.delivery_status).is_(None),
            col(Message.delivery_status) != "failed",
        ),
    )
    if visitor.token.verified:
        return shown
    return and_(shown, col(Message.identity_id) == visitor.identity_id)


async def seen_until(session: AsyncSession, thread_id: int) -> datetime | None:
    """When an agent last had the thread open: the visitor's messages up to then are ``seen``."""
    value = (
        await session.execute(
            select(func.max(ThreadRead.read_at)).where(col(ThreadRead.thread_id) == thread_id)
        )
    ).scalar()
    return _aware(value)


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is not None and value.tzinfo is None:  # SQLite reads back naive UTC
        return value.replace(tzinfo=UTC)
    return value


def widget_message(
    message: Message, attachments: list[Attachment], *, secret_key: str, seen: datetime | None
) -> WidgetMessage:
    inbound = message.direction == "in"
    if inbound:
        received = _aware(message.received_at)
        status = "seen" if seen is not None and received is not None and received <= seen else "sent"
    else:
        status = "read" if message.delivery_status == "read" else "sent"
    meta = message.meta or {}
    webchat = meta.get("webchat")
    client_id = webchat.get("client_id") if inbound and isinstance(webchat, dict) else None
    # Only our answers carry buttons, and only their label and payload reach the visitor.
    buttons = [] if inbound else [{"label": b.label, "payload": b.payload} for b in buttons_of(meta)]
    return WidgetMessage(
        id=pk(message.id),
        direction="in" if inbound else "out",
        channel=message.channel,
        text=message.text,
        created_at=_aware(message.created_at) or message.created_at,
        author=WidgetAuthor(
            type="customer" if inbound else ("bot" if message.author_type == "bot" else "agent"),
            name=None if inbound else message.author_name,
        ),
        attachments=[_attachment(a, secret_key) for a in attachments],
        status=status,
        client_id=client_id,
        edited=bool(meta.get("edit_history")),
        buttons=buttons,
    )


def _attachment(attachment: Attachment, secret_key: str) -> WidgetAttachment:
    url = None
    if attachment.status == "stored" and attachment.storage_key:
        attachment_id = pk(attachment.id)
        url = f"{ATTACHMENTS_PATH}/{attachment_id}?{signed_attachment_query(secret_key, attachment_id)}"
    return WidgetAttachment(
        id=pk(attachment.id),
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        status=attachment.status,
        url=url,
    )


async def render_messages(
    session: AsyncSession, messages: list[Message], *, thread_id: int, secret_key: str
) -> list[WidgetMessage]:
    if not messages:
        return []
    ids = [pk(m.id) for m in messages]
    rows = await session.execute(
        select(Attachment).where(col(Attachment.message_id).in_(ids)).order_by(col(Attachment.id))
    )
    by_message: dict[int, list[Attachment]] = {}
    for attachment in rows.scalars():
        by_message.setdefault(attachment.message_id, []).append(attachment)
    seen = await seen_until(session, thread_id)
    return [
        widget_message(m, by_message.get(pk(m.id), []), secret_key=secret_key, seen=seen) for m in messages
    ]


async def message_page(
    session: AsyncSession,
    visitor: VisitorThread,
    *,
    secret_key: str,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[WidgetMessage], bool]:
    """A page of the visitor's messages, oldest first, and whether there are more.

    ``after``: messages stored after that message id (what polling asks for, new ones only);
    ``before``: the ones before that message in the timeline (scrolling back); neither: the newest.
    """
    if visitor.thread_id is None:
        return [], False
    query = select(Message).where(visible(visitor))
    if after is not None:
        query = query.where(col(Message.id) > after).order_by(col(Message.id)).limit(limit + 1)
        rows = list((await session.execute(query)).scalars())
        more = len(rows) > limit
        rows = sorted(rows[:limit], key=lambda m: (_aware(m.created_at), m.id))
    else:
        if before is not None:
            anchor = await session.get(Message, before)
            if anchor is None or anchor.thread_id != visitor.thread_id:
                return [], False
            query = query.where(
                or_(
                    col(Message.created_at) < anchor.created_at,
                    and_(col(Message.created_at) == anchor.created_at, col(Message.id) < before),
                )
            )
        query = query.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit + 1)
        rows = list((await session.execute(query)).scalars())
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
    return await render_messages(session, rows, thread_id=pk(visitor.thread_id), secret_key=secret_key), more


async def visible_messages_by_id(
    session: AsyncSession, visitor: VisitorThread, ids: list[int], *, secret_key: str
) -> dict[int, WidgetMessage]:
    """The messages among ``ids`` the visitor may see, in their widget shape."""
    if visitor.thread_id is None or not ids:
        return {}
    rows = list(
        (await session.execute(select(Message).where(visible(visitor), col(Message.id).in_(ids)))).scalars()
    )
    rendered = await render_messages(session, rows, thread_id=pk(visitor.thread_id), secret_key=secret_key)
    return {m.id: m for m in rendered}


def own_new_message(
    message_id: int, created_at: datetime, *, text: str, channel: str, client_id: str
) -> WidgetMessage:
    """A message the visitor has just sent (not a duplicate, no files), in their widget shape.

    Built from what was stored, without reading anything back (``find_visitor`` +
    ``visible_messages_by_id`` were six statements and about 40 % of the send route's CPU under
    load, one primary-key read still a tenth): the message went into the visitor's own thread from
    their own identity, so it is theirs to see; it has no attachments, no buttons and no edits; and
    no agent can have read the thread after it yet, so its status is ``sent``. The fields are those
    ``widget_message`` gives the stored row (``do_ingest`` stores ``text`` as it came).
    """
    return WidgetMessage(
        id=message_id,
        direction="in",
        channel=channel,
        text=text,
        created_at=created_at,
        author=WidgetAuthor(type="customer", name=None),
        attachments=[],
        status="sent",
        client_id=client_id,
    )


async def visitor_may_download(session: AsyncSession, attachment_id: int) -> Attachment | None:
    """The attachment, if it belongs to a message some visitor could see (signed links are the key)."""
    attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        return None
    message = await session.get(Message, attachment.message_id)
    if message is None or message.kind != "text":
        return None
    return attachment


async def identity_for(session: AsyncSession, visitor: VisitorThread) -> Identity | None:
    return await session.get(Identity, visitor.identity_id) if visitor.identity_id else None
