"""Reads for contacts and merge suggestions."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Contact, Identity, MergeSuggestion, Thread
from app.domain.contacts.schemas import ContactOut, SuggestionOut, contact_out
from app.domain.inbox.queries import identities_by_contact, like_pattern
from app.lib.errors import NotFoundError


async def search_contacts(
    session: AsyncSession, q: str | None, *, after_id: int | None = None, limit: int = 50
) -> tuple[list[ContactOut], str | None]:
    """Live contacts matching ``q`` in name, email, phone or any identity; newest first."""
    limit = max(1, min(limit, 200))
    query = select(Contact).where(col(Contact.merged_into_id).is_(None))
    if q and q.strip():
        pattern = like_pattern(q)
        digits = "".join(ch for ch in q if ch.isdigit())
        by_identity = select(col(Identity.contact_id)).where(
            func.lower(col(Identity.external_id)).like(pattern, escape="\\")
        )
        conditions = [
            func.lower(col(Contact.name)).like(pattern, escape="\\"),
            func.lower(col(Contact.email)).like(pattern, escape="\\"),
            col(Contact.id).in_(by_identity),
        ]
        if len(digits) >= 4:
            conditions.append(col(Contact.phone).like(f"%{digits}%"))
        query = query.where(or_(*conditions))
    if after_id is not None:
        query = query.where(col(Contact.id) < after_id)
    rows = list((await session.execute(query.order_by(col(Contact.id).desc()).limit(limit + 1))).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    identities = await identities_by_contact(session, [c.id for c in rows if c.id is not None])
    threads = await _thread_ids(session, [c.id for c in rows if c.id is not None])
    items = [contact_out(c, identities.get(c.id or 0, []), threads.get(c.id or 0)) for c in rows]
    return items, (str(rows[-1].id) if more and rows else None)


async def _thread_ids(session: AsyncSession, contact_ids: list[int]) -> dict[int, int]:
    if not contact_ids:
        return {}
    rows = await session.execute(
        select(col(Thread.contact_id), col(Thread.id)).where(col(Thread.contact_id).in_(contact_ids))
    )
    return {contact_id: thread_id for contact_id, thread_id in rows.all()}


async def get_contact(session: AsyncSession, contact_id: int) -> ContactOut:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFoundError(f"contact {contact_id} does not exist", type_slug="contact-not-found")
    identities = (await identities_by_contact(session, [contact_id])).get(contact_id, [])
    threads = await _thread_ids(session, [contact_id])
    return contact_out(contact, identities, threads.get(contact_id))


async def open_suggestions(session: AsyncSession, limit: int = 100) -> list[SuggestionOut]:
    rows = await session.execute(
        select(MergeSuggestion)
        .where(col(MergeSuggestion.status) == "open")
        .order_by(col(MergeSuggestion.id).desc())
        .limit(limit)
    )
    suggestions = list(rows.scalars())
    ids = sorted({s.contact_id for s in suggestions} | {s.other_contact_id for s in suggestions})
    contacts = {
        c.id: c for c in (await session.execute(select(Contact).where(col(Contact.id).in_(ids)))).scalars()
    }
    identities = await identities_by_contact(session, ids)
    out = []
    for s in suggestions:
        a, b = contacts.get(s.contact_id), contacts.get(s.other_contact_id)
        if a is None or b is None or a.merged_into_id or b.merged_into_id:
            continue
        out.append(
            SuggestionOut(
                id=s.id or 0,
                reason=s.reason,
                contact=contact_out(a, identities.get(a.id or 0, [])),
                other_contact=contact_out(b, identities.get(b.id or 0, [])),
                created_at=s.created_at,
            )
        )
    return out
