"""Reads for the inbox list, the timeline and full-text search. No writes here."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, and_, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Agent, Attachment, Contact, Identity, Message, Thread
from app.domain.inbox.schemas import THREAD_STATUSES, MessageOut, ThreadOut, message_out, thread_out
from app.i18n import N_
from app.lib.cursors import decode_cursor, encode_cursor
from app.lib.errors import InvalidInputError, NotFoundError, Reason

MAX_PAGE = 200


def like_pattern(q: str) -> str:
    escaped = (
        q.replace("\x00", "").strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    )
    return f"%{escaped}%"


async def identities_by_contact(session: AsyncSession, contact_ids: list[int]) -> dict[int, list[Identity]]:
    result: dict[int, list[Identity]] = defaultdict(list)
    if not contact_ids:
        return result
    rows = await session.execute(
        select(Identity).where(col(Identity.contact_id).in_(contact_ids)).order_by(col(Identity.id))
    )
    for identity in rows.scalars():
        result[identity.contact_id].append(identity)
    return result


def _inbox_query(
    agent: Agent,
    *,
    status: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
    q: str | None = None,
) -> Select[tuple[Thread, Contact]]:
    """The inbox's filters as one query, shared by the list and by a single row's live re-check."""
    query = (
        select(Thread, Contact)
        .join(Contact, col(Contact.id) == col(Thread.contact_id))
        .where(col(Thread.status) != "merged")
    )
    if status:
        statuses = [s for s in status.split(",") if s]
        unknown = sorted(set(statuses) - set(THREAD_STATUSES))
        if unknown:
            raise InvalidInputError(f"unknown status {', '.join(unknown)}", type_slug="invalid-filter")
        query = query.where(col(Thread.status).in_(statuses))
    if assignee == "me":
        query = query.where(col(Thread.assignee_id) == agent.id)
    elif assignee in ("none", "unassigned"):
        query = query.where(col(Thread.assignee_id).is_(None))
    elif assignee and assignee != "all":
        if not (assignee.isascii() and assignee.isdigit()):  # "²".isdigit(), yet int() refuses it
            raise InvalidInputError(
                "assignee must be me, none, all or an agent id", type_slug="invalid-filter"
            )
        query = query.where(col(Thread.assignee_id) == int(assignee))
    if channel:
        query = query.where(
            select(col(Identity.id))
            .where(col(Identity.contact_id) == col(Thread.contact_id), col(Identity.channel) == channel)
            .exists()
        )
    if q and q.strip():
        pattern = like_pattern(q)
        query = query.where(
            or_(
                func.lower(col(Contact.name)).like(pattern, escape="\\"),
                func.lower(col(Contact.email)).like(pattern, escape="\\"),
                col(Contact.phone).like(pattern, escape="\\"),
                func.lower(col(Thread.last_message_preview)).like(pattern, escape="\\"),
            )
        )
    return query


async def inbox_page(
    session: AsyncSession,
    agent: Agent,
    *,
    status: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[ThreadOut], str | None]:
    """Threads, newest activity first, filtered; keyset-paginated on ``(last_message_at, id)``."""
    limit = max(1, min(limit, MAX_PAGE))
    query = _inbox_query(agent, status=status, channel=channel, assignee=assignee, q=q)
    if cursor:
        position = decode_cursor(cursor)
        query = query.where(
            or_(
                col(Thread.last_message_at) < position.at,
                and_(col(Thread.last_message_at) == position.at, col(Thread.id) < position.id),
            )
        )
    query = query.order_by(col(Thread.last_message_at).desc(), col(Thread.id).desc()).limit(limit + 1)
    rows = list((await session.execute(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    identities = await identities_by_contact(session, [contact.id for _, contact in rows])
    items = [
        thread_out(thread, contact, sorted({i.channel for i in identities.get(contact.id or 0, [])}))
        for thread, contact in rows
    ]
    next_cursor = None
    if more and rows:
        last_thread = rows[-1][0]
        next_cursor = encode_cursor(last_thread.last_message_at, last_thread.id or 0)
    return items, next_cursor


async def inbox_thread(
    session: AsyncSession,
    agent: Agent,
    thread_id: int,
    *,
    status: str | None = None,
    channel: str | None = None,
    assignee: str | None = None,
    q: str | None = None,
) -> ThreadOut | None:
    """One thread as an inbox row, or ``None`` when it does not pass these filters (or is gone).

    What a live inbox asks after an event: re-render the row, or remove it from a filtered list.
    """
    query = _inbox_query(agent, status=status, channel=channel, assignee=assignee, q=q)
    row = (await session.execute(query.where(col(Thread.id) == thread_id))).first()
    if row is None:
        return None
    thread, contact = row
    identities = (await identities_by_contact(session, [contact.id]))[contact.id or 0]
    return thread_out(thread, contact, sorted({i.channel for i in identities}))


async def get_thread(session: AsyncSession, thread_id: int) -> tuple[Thread, Contact, list[Identity]]:
    row = (
        await session.execute(
            select(Thread, Contact)
            .join(Contact, col(Contact.id) == col(Thread.contact_id))
            .where(col(Thread.id) == thread_id, col(Thread.status) != "merged")
        )
    ).first()
    if row is None:
        raise NotFoundError(
            Reason(N_("thread %(id)s does not exist"), {"id": str(thread_id)}), type_slug="thread-not-found"
        )
    thread, contact = row
    identities = (await identities_by_contact(session, [contact.id]))[contact.id]
    return thread, contact, identities


async def _attachments_for(session: AsyncSession, message_ids: list[int]) -> dict[int, list[Attachment]]:
    grouped: dict[int, list[Attachment]] = defaultdict(list)
    if message_ids:
        rows = await session.execute(
            select(Attachment).where(col(Attachment.message_id).in_(message_ids)).order_by(col(Attachment.id))
        )
        for attachment in rows.scalars():
            grouped[attachment.message_id].append(attachment)
    return grouped


async def _position(session: AsyncSession, thread_id: int, message_id: int) -> tuple[Any, int]:
    row = (
        await session.execute(
            select(col(Message.created_at), col(Message.id)).where(
                col(Message.id) == message_id, col(Message.thread_id) == thread_id
            )
        )
    ).first()
    if row is None:
        raise InvalidInputError(
            f"message {message_id} is not in thread {thread_id}", type_slug="invalid-cursor"
        )
    return row[0], row[1]


async def timeline_page(
    session: AsyncSession,
    thread_id: int,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
    thread_known: bool = False,
) -> tuple[list[MessageOut], str | None]:
    """One page of the unified timeline, oldest first within the page.

    Without ``after`` the page is the newest ``limit`` messages (before ``before`` when given), and
    ``next_cursor`` is the id to pass as ``before`` for older history. With ``after`` the page is
    the next ``limit`` messages after that one and ``next_cursor`` continues forward.
    ``thread_known`` skips the 404 check for callers that have just read the thread.
    """
    limit = max(1, min(limit, MAX_PAGE))
    if not thread_known:
        await get_thread(session, thread_id)
    order_key = (col(Message.created_at), col(Message.id))
    query = select(Message).where(col(Message.thread_id) == thread_id)
    if after is not None:
        at, id_ = await _position(session, thread_id, after)
        query = (
            query.where(or_(order_key[0] > at, and_(order_key[0] == at, order_key[1] > id_)))
            .order_by(col(Message.created_at), col(Message.id))
            .limit(limit + 1)
        )
        rows = list((await session.execute(query)).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = str(rows[-1].id) if more and rows else None
    else:
        if before is not None:
            at, id_ = await _position(session, thread_id, before)
            query = query.where(or_(order_key[0] < at, and_(order_key[0] == at, order_key[1] < id_)))
        query = query.order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit + 1)
        rows = list((await session.execute(query)).scalars())
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        next_cursor = str(rows[0].id) if more and rows else None
    attachments = await _attachments_for(session, [m.id for m in rows if m.id is not None])
    return [message_out(m, attachments.get(m.id or 0)) for m in rows], next_cursor


async def get_message(session: AsyncSession, message_id: int) -> MessageOut | None:
    """One message with its attachments (a live page re-rendering it after a delivery update)."""
    message = await session.get(Message, message_id)
    if message is None:
        return None
    attachments = await _attachments_for(session, [message_id])
    return message_out(message, attachments.get(message_id))


_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


def _fts5_query(q: str) -> str:
    """User text as an FTS5 query: every word must match, as a prefix, with no operator injection."""
    tokens = _FTS_TOKEN.findall(q)[:12]
    return " ".join(f'"{token}"*' for token in tokens)


async def search_messages(session: AsyncSession, q: str, limit: int = 50) -> list[MessageOut]:
    """Full-text search: PostgreSQL ``websearch_to_tsquery``; SQLite FTS5 (kept by triggers)."""
    q = q.replace("\x00", "").strip()
    if not q:
        return []
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    visible = select(col(Thread.id)).where(col(Thread.status) != "merged")
    if dialect == "postgresql":
        tsquery = func.websearch_to_tsquery(literal_column("'simple'"), q)
        document = func.to_tsvector(literal_column("'simple'"), col(Message.text))
        query = (
            select(Message)
            .where(
                document.op("@@")(tsquery), col(Message.kind) != "system", col(Message.thread_id).in_(visible)
            )
            .order_by(func.ts_rank(document, tsquery).desc(), col(Message.id).desc())
            .limit(limit)
        )
    else:
        match = _fts5_query(q)
        if not match:
            return []
        ids: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(text("messages_fts"))
            .where(text("messages_fts MATCH :match"))
        )
        query = (
            select(Message)
            .where(
                col(Message.id).in_(ids), col(Message.kind) != "system", col(Message.thread_id).in_(visible)
            )
            .order_by(col(Message.id).desc())
            .limit(limit)
            .params(match=match)
        )
    rows = list((await session.execute(query)).scalars())
    return [message_out(m) for m in rows]
