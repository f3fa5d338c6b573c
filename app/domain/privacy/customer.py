"""Which rows make up one customer: the contact, every contact merged into it, their threads.

Export and erase both work on this group, so an erased customer leaves nothing behind in a
tombstone from an old merge, and an export holds every message whichever contact it came in under.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Contact, Thread
from app.i18n import N_
from app.lib.errors import ConflictError, NotFoundError, Reason


@dataclass(frozen=True, slots=True)
class Customer:
    contact: Contact
    """The live contact (the one asked about)."""
    contact_ids: list[int]
    """It and every contact merged into it, however indirectly."""
    thread_ids: list[int]


async def customer_group(session: AsyncSession, contact_id: int, *, follow_merges: bool) -> Customer:
    """The customer ``contact_id`` stands for. A merged-away id is followed to the contact it was
    merged into with ``follow_merges`` (an export), refused otherwise (an erase names the live one)."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFoundError(
            Reason(N_("contact %(id)s does not exist"), {"id": str(contact_id)}),
            type_slug="contact-not-found",
        )
    seen = {contact_id}
    while contact.merged_into_id is not None:
        if not follow_merges:
            raise ConflictError(
                Reason(
                    N_("contact %(id)s was merged into contact %(into)s; use that one"),
                    {"id": str(contact_id), "into": str(contact.merged_into_id)},
                ),
                type_slug="contact-merged",
                merged_into_id=contact.merged_into_id,
            )
        parent = await session.get(Contact, contact.merged_into_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id or 0)
        contact = parent
    ids = [contact.id or 0]
    frontier = list(ids)
    while frontier:
        found = list(
            (
                await session.execute(
                    select(col(Contact.id)).where(col(Contact.merged_into_id).in_(frontier))
                )
            ).scalars()
        )
        frontier = [int(i) for i in found if i is not None and i not in ids]
        ids.extend(frontier)
    threads = list(
        (
            await session.execute(
                select(col(Thread.id)).where(col(Thread.contact_id).in_(ids)).order_by(col(Thread.id))
            )
        ).scalars()
    )
    return Customer(contact=contact, contact_ids=sorted(ids), thread_ids=[int(t) for t in threads if t])
