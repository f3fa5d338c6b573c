"""The widget's writers: opening a visitor's session, their read marks, the email they leave.

Sending a message is the general ingest (``inbox.actions.do_ingest``): a visitor is a customer
writing on a channel like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Contact, Identity, Message, pk, utcnow
from app.domain.channels.delivery import emit_message_updated
from app.domain.contacts.merging import merge_contacts
from app.domain.contacts.resolution import add_claim, find_identity, live_contact
from app.domain.realtime.writer import Transaction, Writer
from app.domain.widget.tokens import TOKEN_TTL, VisitorToken, new_visitor_key, user_visitor_key
from app.domain.widget.visitors import WIDGET_CHANNEL, VisitorThread
from app.i18n import N_
from app.lib.errors import ConflictError
from integrations.types import ContactClaim

SIGN_IN_MERGE_REASON = "signed in on the website"


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """A checked session call: the visitor's current token (if genuine) and who the site says they are."""

    site: str
    current: VisitorToken | None
    user_id: str | None
    """Set only when ``user_hash`` matched: the site vouched for this user id."""
    name: str | None = None
    email: str | None = None


async def _only_this_visitors(tx: Transaction, contact_id: int, identity_id: int) -> bool:
    """Whether a contact holds nothing but this anonymous visitor: their widget identity, and email
    addresses they typed that carry no message. Anything else (another channel, another visitor, an
    address someone wrote from, a contact merged in by an agent) is somebody's history, which a
    sign-in must never hand over."""
    session = tx.session
    merged_in = await session.execute(
        select(col(Contact.id)).where(col(Contact.merged_into_id) == contact_id)
    )
    if merged_in.first() is not None:
        return False
    identities = (
        await session.execute(select(Identity).where(col(Identity.contact_id) == contact_id))
    ).scalars()
    for identity in identities:
        if identity.id == identity_id:
            continue
        if identity.channel != "email" or identity.verified:
            return False
        used = await session.execute(
            select(col(Message.id)).where(col(Message.identity_id) == identity.id).limit(1)
        )
        if used.first() is not None:
            return False
    return True


async def _link_anonymous(tx: Transaction, anonymous: VisitorToken, user_token: VisitorToken) -> None:
    """The anonymous visitor signed in: their conversation so far becomes the known customer's.

    Only a conversation that belongs to nobody else is linked: an anonymous browser whose contact
    holds anyone's history besides its own (a signed-in user on a shared computer, a customer an
    agent merged it with) keeps it apart, and the signed-in user starts from their own thread.
    """
    session = tx.session
    anonymous_identity = await find_identity(session, WIDGET_CHANNEL, anonymous.external_id)
    if anonymous_identity is None:
        return  # they never wrote: nothing to link
    anonymous_contact = await live_contact(session, anonymous_identity.contact_id)
    if not await _only_this_visitors(tx, pk(anonymous_contact.id), pk(anonymous_identity.id)):
        return
    user_identity = await find_identity(session, WIDGET_CHANNEL, user_token.external_id)
    if user_identity is None:
        session.add(
            Identity(
                contact_id=pk(anonymous_contact.id),
                channel=WIDGET_CHANNEL,
                external_id=user_token.external_id,
                verified=True,
                display_name=user_token.name,
            )
        )
        if user_token.name and not anonymous_contact.name:
            anonymous_contact.name = user_token.name
        await session.flush()
        tx.emit(
            "contact.updated",
            {"contact_id": anonymous_contact.id, "reason": SIGN_IN_MERGE_REASON},
            contact_id=anonymous_contact.id,
        )
        return
    known = await live_contact(session, user_identity.contact_id)
    if known.id != anonymous_contact.id:
        await merge_contacts(tx, known, anonymous_contact, reason=SIGN_IN_MERGE_REASON)


async def do_open_session(
    writer: Writer, request: SessionRequest, *, now: datetime | None = None
) -> VisitorToken:
    """The token for this visit: the same visitor renewed, a new anonymous one, or a signed-in user.

    A signed-in user's token is the same on every device (their key is their user id); their
    earlier anonymous conversation in this browser joins their thread.
    """
    moment = now or datetime.now(UTC)
    expires = moment + TOKEN_TTL
    current = request.current if request.current and request.current.site == request.site else None
    name = request.name or (current.name if current else None)
    email = request.email or (current.email if current else None)
    if request.user_id is None:
        if current is not None and current.verified:
            # The page no longer says who is signed in: keep the verified visitor only while the
            # token lasts (the site calls ``OneThread.reset()`` on sign-out to drop it).
            return VisitorToken(request.site, current.key, current.expires, name, email)
        key = current.key if current is not None else new_visitor_key()
        return VisitorToken(request.site, key, expires, name, email)

    token = VisitorToken(request.site, user_visitor_key(request.user_id), expires, name, email)
    if current is None or current.verified:
        return token

    async def work(tx: Transaction) -> None:
        await _link_anonymous(tx, current, token)

    await writer.run(work)
    return token


async def do_visitor_read(writer: Writer, visitor: VisitorThread, *, up_to_message_id: int) -> int:
    """The visitor's widget showed our answers up to ``up_to_message_id``: mark them ``read``.

    Only answers sent to this visitor on the widget move (a receipt never moves a status back);
    each change is a ``message.updated`` event, so the agent sees the read mark. Returns how many.
    """
    if visitor.identity_id is None or visitor.thread_id is None:
        return 0

    async def work(tx: Transaction) -> int:
        rows = await tx.session.execute(
            select(Message)
            .where(
                col(Message.thread_id) == visitor.thread_id,
                col(Message.identity_id) == visitor.identity_id,
                col(Message.direction) == "out",
                col(Message.id) <= up_to_message_id,
                col(Message.delivery_status).in_(("sent", "delivered")),
            )
            .order_by(col(Message.id))
            .with_for_update()
        )
        changed = 0
        for message in rows.scalars():
            message.delivery_status = "read"
            message.updated_at = utcnow()
            emit_message_updated(tx, message)
            changed += 1
        return changed

    return await writer.run(work)


async def do_leave_email(writer: Writer, visitor: VisitorThread, *, email: str) -> Contact:
    """ "We'll reply by email": the address joins the visitor's contact as an unverified identity.

    Agents can then answer there when the visitor has left the site. Unverified, it links nobody:
    an address someone else already has only files a merge suggestion for an agent to judge.
    """
    if visitor.contact_id is None:
        raise ConflictError(
            N_("write us a message first; then we can answer it by email"), type_slug="no-conversation"
        )

    async def work(tx: Transaction) -> Contact:
        contact = await live_contact(tx.session, pk(visitor.contact_id))
        contact = await add_claim(tx, contact, ContactClaim("email", email, verified=False))
        tx.emit(
            "contact.updated",
            {"contact_id": contact.id, "reason": "left an email address in the chat widget"},
            contact_id=contact.id,
        )
        return contact

    return await writer.run(work)
