"""Who is this sender? The continuity rules of DESIGN.md, exact and explainable.

1. The same channel identity is the same contact.
2. A verified email or phone that a contact already has (verified) links the sender to that contact.
   When the sender is already another contact, the two are merged (logged, undoable).
3. Anything weaker (an unverified claim, a mere name match) only files a merge suggestion.

Runs inside a ``Writer`` transaction; callers handle unique-key races by re-running the unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Contact, Identity, MergeSuggestion, pk
from app.domain.realtime.writer import Transaction
from integrations.types import ContactClaim, InboundSender


@dataclass(slots=True)
class Resolved:
    """The contact a sender resolved to, the identity used, and what happened on the way."""

    contact: Contact
    identity: Identity
    created: bool = False
    linked_by: str | None = None
    merges: list[int] = field(default_factory=list)


async def live_contact(session: AsyncSession, contact_id: int) -> Contact:
    """Follow ``merged_into_id`` to the contact that stands for this customer now."""
    contact = await session.get(Contact, contact_id)
    seen: set[int] = set()
    while contact is not None and contact.merged_into_id is not None and contact.id not in seen:
        seen.add(pk(contact.id))
        contact = await session.get(Contact, contact.merged_into_id)
    if contact is None:
        raise LookupError(f"contact {contact_id} does not exist")
    return contact


async def find_identity(session: AsyncSession, channel: str, external_id: str) -> Identity | None:
    return (
        await session.execute(
            select(Identity).where(col(Identity.channel) == channel, col(Identity.external_id) == external_id)
        )
    ).scalar_one_or_none()


async def suggest_merge(session: AsyncSession, a: int, b: int, reason: str) -> None:
    """File a suggestion once per pair (stored with the smaller id first)."""
    first, second = sorted((a, b))
    if first == second:
        return
    exists = (
        await session.execute(
            select(col(MergeSuggestion.id)).where(
                col(MergeSuggestion.contact_id) == first, col(MergeSuggestion.other_contact_id) == second
            )
        )
    ).first()
    if exists is None:
        session.add(MergeSuggestion(contact_id=first, other_contact_id=second, reason=reason))


def _claim_label(claim: ContactClaim) -> str:
    return f"{'email address' if claim.kind == 'email' else 'phone number'} {claim.value}"


async def add_claim(
    tx: Transaction, contact: Contact, claim: ContactClaim, *, merge_verified: bool = True
) -> Contact:
    """Give ``contact`` the claimed email/phone, linking or suggesting when someone else has it.

    Returns the contact that stands for the customer afterwards (a merge may make it another one).
    """
    session = tx.session
    assert contact.id is not None
    holder = await find_identity(session, claim.kind, claim.value)
    if holder is None:
        session.add(
            Identity(
                contact_id=contact.id, channel=claim.kind, external_id=claim.value, verified=claim.verified
            )
        )
        _fill_display_field(contact, claim)
        await session.flush()
        return contact
    if holder.contact_id == contact.id:
        if claim.verified and not holder.verified:
            holder.verified = True
        _fill_display_field(contact, claim)
        return contact
    other = await live_contact(session, holder.contact_id)
    if other.id == contact.id:
        return contact
    if claim.verified and holder.verified and merge_verified:
        from app.domain.contacts.merging import merge_contacts  # a merge is the link between two contacts

        primary, secondary = (other, contact) if (other.id or 0) < (contact.id or 0) else (contact, other)
        await merge_contacts(tx, primary, secondary, reason=f"same verified {_claim_label(claim)}")
        return primary
    await suggest_merge(session, contact.id, other.id or 0, f"both have the {_claim_label(claim)}")
    return contact


def _fill_display_field(contact: Contact, claim: ContactClaim) -> None:
    if claim.kind == "email" and not contact.email:
        contact.email = claim.value
    elif claim.kind == "phone" and not contact.phone:
        contact.phone = claim.value


async def resolve_sender(tx: Transaction, sender: InboundSender) -> Resolved:
    """Find or create the contact behind ``sender`` and the identity the message came through."""
    session = tx.session
    identity = await find_identity(session, sender.channel, sender.external_id)
    if identity is not None:
        contact = await live_contact(session, identity.contact_id)
        if identity.contact_id != contact.id:
            identity.contact_id = pk(contact.id)
        if sender.name and not contact.name:
            contact.name = sender.name
        for claim in sender.claims:
            contact = await add_claim(tx, contact, claim)
        return Resolved(contact=contact, identity=identity)

    # A new identity: a verified claim may point at the customer we already know.
    for claim in sender.claims:
        if not claim.verified:
            continue
        holder = await find_identity(session, claim.kind, claim.value)
        if holder is not None and holder.verified:
            contact = await live_contact(session, holder.contact_id)
            identity = _new_identity(contact, sender)
            session.add(identity)
            if sender.name and not contact.name:
                contact.name = sender.name
            await session.flush()
            for other_claim in sender.claims:
                if other_claim is not claim:
                    contact = await add_claim(tx, contact, other_claim)
            return Resolved(contact=contact, identity=identity, linked_by=_claim_label(claim))

    # A customer who first wrote by mail has that address as their email from the start.
    contact = Contact(name=sender.name, email=sender.external_id if sender.channel == "email" else None)
    session.add(contact)
    await session.flush()
    identity = _new_identity(contact, sender)
    session.add(identity)
    await session.flush()
    for claim in sender.claims:
        contact = await add_claim(tx, contact, claim)
    if sender.name:
        await suggest_by_name(session, contact, sender.name)
    return Resolved(contact=contact, identity=identity, created=True)


def _new_identity(contact: Contact, sender: InboundSender) -> Identity:
    assert contact.id is not None
    return Identity(
        contact_id=contact.id,
        channel=sender.channel,
        external_id=sender.external_id,
        verified=sender.verified,
        display_name=sender.name,
    )


async def suggest_by_name(session: AsyncSession, contact: Contact, name: str) -> None:
    """A new contact whose full name matches an existing one's: suggest, never merge."""
    normalized = " ".join(name.split()).lower()
    if len(normalized) < 3 or " " not in normalized:
        return  # a first name alone ("Anna") matches too many strangers to be worth an agent's time
    rows = await session.execute(
        select(col(Contact.id))
        .where(
            func.lower(col(Contact.name)) == normalized,
            col(Contact.id) != contact.id,
            col(Contact.merged_into_id).is_(None),
        )
        .limit(5)
    )
    for (other_id,) in rows:
        await suggest_merge(session, contact.id or 0, other_id, f"same name “{name.strip()}”")
