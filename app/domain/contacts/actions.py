"""Writers for contacts: edits, merges and their undo, suggestion decisions."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from app.db.models import Agent, Contact, Merge, MergeSuggestion, Message, Thread, utcnow
from app.domain.contacts.merging import merge_contacts, undo_merge
from app.domain.contacts.resolution import add_claim, find_identity, live_contact, suggest_by_name
from app.domain.realtime.writer import Transaction, Writer
from app.i18n import N_
from app.lib.errors import ConflictError, InvalidInputError, NotFoundError, Reason
from integrations.identifiers import InvalidIdentifierError, normalize_email, normalize_phone
from integrations.types import ContactClaim


async def _contact(tx: Transaction, contact_id: int) -> Contact:
    contact = await tx.session.get(Contact, contact_id)
    if contact is None:
        raise NotFoundError(
            Reason(N_("contact %(id)s does not exist"), {"id": str(contact_id)}),
            type_slug="contact-not-found",
        )
    return contact


async def do_update_contact(
    writer: Writer,
    *,
    agent: Agent,
    contact_id: int,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    attributes: dict[str, Any] | None = None,
    drop_attributes: Collection[str] = (),
    default_region: str = "NL",
) -> int:
    """Edit a contact. A new email or phone becomes an identity the agent vouches for; when another
    contact already has it verified the two are merged (logged, undoable). ``attributes`` are set
    (others kept), ``drop_attributes`` removed. Returns the contact id that stands for the customer
    afterwards."""
    claims: list[ContactClaim] = []
    try:
        if email:
            claims.append(ContactClaim("email", normalize_email(email), verified=True))
        if phone:
            claims.append(ContactClaim("phone", normalize_phone(phone, default_region), verified=True))
    except InvalidIdentifierError as exc:
        raise InvalidInputError(
            Reason(exc.template, {"value": exc.value}), type_slug="invalid-identifier"
        ) from None
    if attributes is not None and len(str(attributes)) > 10_000:
        raise InvalidInputError(N_("attributes are larger than 10 kB"), type_slug="invalid-attributes")

    async def work(tx: Transaction) -> int:
        contact = await _contact(tx, contact_id)
        if contact.merged_into_id is not None:
            raise ConflictError(
                N_("this contact was merged into another; edit that one"),
                type_slug="contact-merged",
                merged_into_id=contact.merged_into_id,
            )
        if name is not None:
            contact.name = name.strip() or None
        if attributes is not None or drop_attributes:
            kept = {k: v for k, v in (contact.attributes or {}).items() if k not in set(drop_attributes)}
            contact.attributes = {**kept, **(attributes or {})}
        for claim in claims:
            if claim.kind == "email":
                contact.email = claim.value
            else:
                contact.phone = claim.value
            contact = await add_claim(tx, contact, claim)
        contact.updated_at = utcnow()
        await tx.session.flush()
        tx.emit("contact.updated", {"contact_id": contact.id, "by_agent_id": agent.id}, contact_id=contact.id)
        assert contact.id is not None
        return contact.id

    return await writer.run(work)


async def do_apply_identity_profile(
    writer: Writer,
    *,
    channel: str,
    external_id: str,
    record_key: str,
    record: dict[str, Any],
    name: str | None = None,
) -> bool:
    """What a platform's profile lookup said about an identity: ``record`` is kept in the identity's
    attributes under ``record_key`` (so the lookup is not repeated), and a ``name`` becomes the
    identity's display name, its unnamed messages' author, and the contact's name when the contact
    has none yet (an agent's edit is never overwritten). Returns whether the contact changed.
    """

    async def work(tx: Transaction) -> bool:
        session = tx.session
        identity = await find_identity(session, channel, external_id)
        if identity is None:
            return False
        identity.attributes = {**(identity.attributes or {}), record_key: record}
        if not name or identity.display_name:
            return False
        identity.display_name = name
        await session.execute(
            update(Message)
            .where(
                col(Message.identity_id) == identity.id,
                col(Message.direction) == "in",
                col(Message.author_name).is_(None),
            )
            .values(author_name=name)
        )
        contact = await live_contact(session, identity.contact_id)
        if not contact.name:
            contact.name = name
            contact.updated_at = utcnow()
            await session.flush()
            await suggest_by_name(session, contact, name)
        thread_id = (
            await session.execute(select(col(Thread.id)).where(col(Thread.contact_id) == contact.id))
        ).scalar_one_or_none()
        tx.emit(
            "contact.updated",
            {"contact_id": contact.id, "reason": f"{channel} profile"},
            thread_id=thread_id,
            contact_id=contact.id,
        )
        return True

    return await writer.run(work)


async def do_merge(writer: Writer, *, agent: Agent, contact_id: int, other_id: int) -> Merge:
    """Merge ``other_id`` into ``contact_id`` (the one the agent is looking at stays)."""
    if contact_id == other_id:
        raise ConflictError("a contact cannot be merged with itself", type_slug="merge-self")

    async def work(tx: Transaction) -> Merge:
        primary = await _contact(tx, contact_id)
        other = await _contact(tx, other_id)
        if primary.merged_into_id is not None:
            primary = await live_contact(tx.session, contact_id)
        if other.merged_into_id is not None:
            raise ConflictError(
                Reason(
                    N_("contact %(other)s is already merged into contact %(into)s"),
                    {"other": str(other_id), "into": str(other.merged_into_id)},
                ),
                type_slug="merge-merged",
            )
        return await merge_contacts(tx, primary, other, reason=f"merged by {agent.name}", agent_id=agent.id)

    return await writer.run(work)


async def do_undo_merge(writer: Writer, *, agent: Agent, merge_id: int) -> Merge:
    async def work(tx: Transaction) -> Merge:
        merge = await tx.session.get(Merge, merge_id)
        if merge is None:
            raise NotFoundError(
                Reason(N_("merge %(id)s does not exist"), {"id": str(merge_id)}), type_slug="merge-not-found"
            )
        await undo_merge(tx, merge, agent_id=agent.id)
        return merge

    return await writer.run(work)


async def do_dismiss_suggestion(writer: Writer, *, agent: Agent, suggestion_id: int) -> None:
    async def work(tx: Transaction) -> None:
        suggestion = await tx.session.get(MergeSuggestion, suggestion_id)
        if suggestion is None:
            raise NotFoundError(
                Reason(N_("suggestion %(id)s does not exist"), {"id": str(suggestion_id)}),
                type_slug="suggestion-not-found",
            )
        if suggestion.status != "open":
            raise ConflictError(
                f"this suggestion was already {suggestion.status}", type_slug="suggestion-decided"
            )
        suggestion.status = "dismissed"
        suggestion.decided_at = utcnow()
        tx.emit("merge_suggestion.dismissed", {"suggestion_id": suggestion_id, "by_agent_id": agent.id})

    await writer.run(work)
