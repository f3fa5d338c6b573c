"""Reads for contacts and merge suggestions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Contact, Identity, Merge, MergeSuggestion, Message, Thread
from app.domain.contacts.schemas import ContactOut, SuggestionOut, contact_out
from app.domain.inbox.queries import identities_by_contact, like_pattern
from app.i18n import N_
from app.lib.errors import NotFoundError, Reason


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
        raise NotFoundError(
            Reason(N_("contact %(id)s does not exist"), {"id": str(contact_id)}),
            type_slug="contact-not-found",
        )
    identities = (await identities_by_contact(session, [contact_id])).get(contact_id, [])
    threads = await _thread_ids(session, [contact_id])
    return contact_out(contact, identities, threads.get(contact_id))


async def open_suggestions(session: AsyncSession, limit: int = 100) -> list[SuggestionOut]:
    """The newest open suggestions (the console's review list)."""
    return (await suggestions_page(session, before_id=None, limit=limit))[0]


async def suggestions_page(
    session: AsyncSession, *, before_id: int | None, limit: int
) -> tuple[list[SuggestionOut], str | None]:
    """Open suggestions, newest first, below ``before_id``; the cursor of the next page, if any.

    Suggestions whose contacts were merged meanwhile are left out (there is nothing to decide), so a
    page may hold fewer than ``limit`` items and still have a next one.
    """
    query = select(MergeSuggestion).where(col(MergeSuggestion.status) == "open")
    if before_id is not None:
        query = query.where(col(MergeSuggestion.id) < before_id)
    rows = await session.execute(query.order_by(col(MergeSuggestion.id).desc()).limit(limit + 1))
    suggestions = list(rows.scalars())
    more = len(suggestions) > limit
    suggestions = suggestions[:limit]
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
    next_cursor = str(suggestions[-1].id) if more and suggestions else None
    return out, next_cursor


@dataclass(frozen=True, slots=True)
class ContactSuggestion:
    """An open suggestion seen from one contact: the other contact and why they may be the same."""

    id: int
    reason: str
    other: ContactOut


async def suggestions_for_contact(session: AsyncSession, contact_id: int) -> list[ContactSuggestion]:
    """Open merge suggestions that involve ``contact_id``, newest first; pairs whose other side is
    merged away meanwhile are left out (accepting them would be refused)."""
    rows = list(
        (
            await session.execute(
                select(MergeSuggestion)
                .where(
                    col(MergeSuggestion.status) == "open",
                    or_(
                        col(MergeSuggestion.contact_id) == contact_id,
                        col(MergeSuggestion.other_contact_id) == contact_id,
                    ),
                )
                .order_by(col(MergeSuggestion.id).desc())
                .limit(20)
            )
        ).scalars()
    )
    other_ids = [s.other_contact_id if s.contact_id == contact_id else s.contact_id for s in rows]
    if not other_ids:
        return []
    contacts = {
        c.id: c
        for c in (await session.execute(select(Contact).where(col(Contact.id).in_(other_ids)))).scalars()
    }
    identities = await identities_by_contact(session, other_ids)
    threads = await _thread_ids(session, other_ids)
    out = []
    for suggestion, other_id in zip(rows, other_ids, strict=True):
        other = contacts.get(other_id)
        if other is None or other.merged_into_id is not None:
            continue
        out.append(
            ContactSuggestion(
                id=suggestion.id or 0,
                reason=suggestion.reason,
                other=contact_out(other, identities.get(other_id, []), threads.get(other_id)),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class MergePreview:
    """What merging ``other`` into ``contact`` would do, shown before the agent confirms."""

    contact: ContactOut
    other: ContactOut
    other_message_count: int
    surviving_thread_id: int | None
    filled_fields: dict[str, str]
    added_attributes: list[str]
    refusal: str | None


_PREVIEW_FIELDS = ("name", "email", "phone")


async def merge_preview(session: AsyncSession, contact_id: int, other_id: int) -> MergePreview:
    """The other contact's identities and message count, the thread that stays (this contact's),
    and the fields the merge would fill in. ``refusal`` says why ``do_merge`` would refuse, if it would."""
    contact = await get_contact(session, contact_id)
    other = await get_contact(session, other_id)
    count = 0
    if other.thread_id is not None:
        count = (
            await session.execute(
                select(func.count())
                .select_from(Message)
                .where(col(Message.thread_id) == other.thread_id, col(Message.kind) != "system")
            )
        ).scalar_one()
    filled: dict[str, Any] = {
        field: getattr(other, field)
        for field in _PREVIEW_FIELDS
        if not getattr(contact, field) and getattr(other, field)
    }
    added = sorted(k for k in other.attributes if k not in contact.attributes)
    refusal = None
    if contact_id == other_id:
        refusal = "a contact cannot be merged with itself"
    elif other.merged_into_id is not None:
        refusal = f"contact {other_id} is already merged into contact {other.merged_into_id}"
    elif contact.merged_into_id is not None:
        refusal = "this contact was merged into another; merge from that one"
    return MergePreview(
        contact=contact,
        other=other,
        other_message_count=int(count),
        surviving_thread_id=contact.thread_id,
        filled_fields=filled,
        added_attributes=added,
        refusal=refusal,
    )


async def merge_by_id(session: AsyncSession, merge_id: int) -> Merge:
    merge = await session.get(Merge, merge_id)
    if merge is None:
        raise NotFoundError(
            Reason(N_("merge %(id)s does not exist"), {"id": str(merge_id)}), type_slug="merge-not-found"
        )
    return merge


async def latest_merge_into(session: AsyncSession, contact_id: int, *, after_id: int) -> Merge | None:
    """The newest live merge into ``contact_id`` with an id above ``after_id``: how the console
    tells that an edit (a verified email or phone another contact had) merged someone in."""
    return (
        await session.execute(
            select(Merge)
            .where(
                col(Merge.primary_contact_id) == contact_id,
                col(Merge.id) > after_id,
                col(Merge.undone_at).is_(None),
            )
            .order_by(col(Merge.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def last_merge_id(session: AsyncSession) -> int:
    """The newest merge id so far (0 for none): taken before an edit, compared after it."""
    newest: int | None = (await session.execute(select(func.max(col(Merge.id))))).scalar_one()
    return newest or 0
