"""Where a reply can go: the one rule the composer's channel picker and ``do_send_reply`` share.

A reply on a channel goes out through the account and identity the customer last wrote from on
that channel, if OneThread can send there, the account is still enabled, and the adapter says the
channel can deliver now (Messenger's 24-hour window, a callback URL configured, …). The composer
asks :func:`reply_options` to show every channel with its reason; the send action calls
:func:`route_reply`, which raises the same reason as a 409, so the two can never disagree.

Reads only: call it inside a writer's transaction (the action) or a read session (the page).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import ChannelAccount, Contact, Identity, Message, Thread, utcnow
from app.domain.channels.accounts import account_config
from app.i18n import N_
from app.lib.errors import ConflictError, Reason
from integrations.base import DeliveryContext
from integrations.registry import AdapterRegistry
from integrations.types import AccountConfig

# Channel names as they read inside a sentence (lower case where English writes them so).
CHANNEL_LABELS = {
    "api": "API",
    "telegram": "Telegram",
    "messenger": "Messenger",
    "email": N_("email"),
    "webchat": N_("web chat"),
    "phone": N_("phone"),
}


def channel_name(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def _name(channel: str) -> Reason:
    """A channel's name as a value of a reason, so the console says it in the agent's language."""
    return Reason(channel_name(channel))


@dataclass(frozen=True, slots=True)
class Route:
    """Where a reply on a channel goes: the account that sends it and the recipient identity."""

    channel: str
    account_id: uuid.UUID
    identity: Identity
    account: AccountConfig


@dataclass(frozen=True, slots=True)
class ReplyOption:
    """One channel in the composer's picker: whether a reply can go out there now, and if not, why."""

    channel: str
    available: bool
    reason: Reason | None = None


def _refuse(reason: Reason, channel: str | None = None) -> ConflictError:
    extra = {"channel": channel} if channel else {}
    return ConflictError(reason, type_slug="channel-unavailable", **extra)


async def route_reply(
    session: AsyncSession,
    registry: AdapterRegistry,
    thread: Thread,
    contact: Contact,
    channel: str | None,
    *,
    now: datetime | None = None,
    sender_is_person: bool = True,
    with_files: bool = False,
) -> Route:
    """The route for a reply on ``channel`` (default: the customer's last inbound channel).

    Raises ``ConflictError`` (``channel-unavailable``) with the reason an agent reads when the
    channel cannot deliver now, or cannot carry files and ``with_files`` says the reply has some.
    """
    chosen = channel or thread.last_inbound_channel
    if not chosen:
        raise _refuse(Reason(N_("the customer has not written on any channel yet; pick one")))
    if chosen == "phone":
        raise _refuse(Reason(N_("a reply cannot go by phone; log the call as a phone note")), chosen)
    if chosen not in registry:
        raise _refuse(Reason(N_("OneThread cannot send on %(channel)s"), {"channel": _name(chosen)}), chosen)
    # Newest first along the timeline index, so the composer can ask this for every channel of a
    # 10,000-message thread cheaply. That message is also the newest from its identity (an
    # identity writes on one channel only), and its time (the platform's, never in the future) is
    # when the customer last wrote there: what a reply window such as Messenger's counts from.
    last = (
        await session.execute(
            select(col(Message.channel_account_id), col(Message.identity_id), col(Message.created_at))
            .where(
                col(Message.thread_id) == thread.id,
                col(Message.channel) == chosen,
                col(Message.direction) == "in",
                col(Message.channel_account_id).is_not(None),
                col(Message.identity_id).is_not(None),
            )
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(1)
        )
    ).first()
    if last is None and chosen == "email":
        return await _first_email(session, registry, contact, now=now)
    if last is None:
        raise _refuse(
            Reason(
                N_("the customer has not written on %(channel)s, so there is no address to reply to"),
                {"channel": _name(chosen)},
            ),
            chosen,
        )
    identity = await session.get(Identity, last.identity_id)
    if identity is None or identity.contact_id != contact.id:
        raise _refuse(
            Reason(
                N_("the customer's %(channel)s identity has moved to another contact"),
                {"channel": _name(chosen)},
            ),
            chosen,
        )
    account = await account_config(session, last.channel_account_id)
    if account is None:
        raise _refuse(Reason(N_("the channel account this customer used is disabled or removed")), chosen)
    reason = registry.get(chosen).unavailable_reason(
        account,
        DeliveryContext(
            now=now or utcnow(), last_inbound_at=last.created_at, sender_is_person=sender_is_person
        ),
    )
    if reason:
        raise _refuse(Reason(reason), chosen)
    if with_files and not registry.get(chosen).capabilities.attachments:
        raise _refuse(
            Reason(
                N_("%(channel)s cannot carry files; send the text alone or pick another channel"),
                {"channel": _name(chosen)},
            ),
            chosen,
        )
    return Route(channel=chosen, account_id=last.channel_account_id, identity=identity, account=account)


async def _first_email(
    session: AsyncSession, registry: AdapterRegistry, contact: Contact, *, now: datetime | None
) -> Route:
    """Email to a customer who has an address but never mailed us (they gave it in the chat, an
    agent added it): the first mail starts the email conversation, from the first enabled
    mailbox."""
    identity = (
        await session.execute(
            select(Identity)
            .where(col(Identity.contact_id) == contact.id, col(Identity.channel) == "email")
            .order_by(col(Identity.verified).desc(), col(Identity.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if identity is None:
        raise _refuse(Reason(N_("the customer has no email address; add one in the contact panel")), "email")
    account_id = (
        await session.execute(
            select(col(ChannelAccount.id))
            .where(col(ChannelAccount.channel) == "email", col(ChannelAccount.enabled).is_(True))
            .order_by(col(ChannelAccount.created_at), col(ChannelAccount.id))
            .limit(1)
        )
    ).scalar_one_or_none()
    account = await account_config(session, account_id) if account_id is not None else None
    if account_id is None or account is None:
        raise _refuse(Reason(N_("no email account is connected to send from")), "email")
    reason = registry.get("email").unavailable_reason(
        account, DeliveryContext(now=now or utcnow(), last_inbound_at=None)
    )
    if reason:
        raise _refuse(Reason(reason), "email")
    return Route(channel="email", account_id=account_id, identity=identity, account=account)


async def reply_options(
    session: AsyncSession, registry: AdapterRegistry, thread: Thread, contact: Contact
) -> list[ReplyOption]:
    """Every channel the customer can be reached on, each with ``route_reply``'s verdict.

    The channels are those of the contact's identities (a merge moves identities along with the
    messages, so every channel the thread has heard from has one), the customer's last inbound
    channel first.
    """
    identity_channels = (
        await session.execute(
            select(col(Identity.channel)).where(col(Identity.contact_id) == contact.id).distinct()
        )
    ).scalars()
    last = thread.last_inbound_channel
    channels = sorted(set(identity_channels) - {last})
    if last:
        channels.insert(0, last)
    now = utcnow()
    options: list[ReplyOption] = []
    for channel in channels:
        try:
            await route_reply(session, registry, thread, contact, channel, now=now)
        except ConflictError as refused:
            options.append(ReplyOption(channel, available=False, reason=refused.reason))
        else:
            options.append(ReplyOption(channel, available=True))
    return options
