"""Telegram deep links that say who the customer is: ``https://t.me/<bot>?start=<token>``.

An agent gives a customer the link (the contact page shows one per Telegram bot); the customer
opens it, Telegram sends ``/start <token>`` from their account, and their Telegram identity joins
the contact the token names: the conversation continues in the thread the agent already has.

The token is ``base64url(version ‖ contact id ‖ expiry ‖ MAC)``: 8-byte contact id, 4-byte expiry
(Unix seconds), a 136-bit HMAC-SHA256 under a key derived from the instance's secret key. That is
40 characters of ``A-Z a-z 0-9 _ -``, within Telegram's 64-character ``start`` parameter. A token
that is tampered with, expired, or signed by another installation is nobody's: the ``/start``
message is then an ordinary message.

Linking is ``do_link_deep_link``: a new Telegram user gets an identity on the contact; a Telegram
user who already is another contact is merged into this one (reason "Telegram deep link",
undoable like every merge).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import ChannelAccount, Identity, Message, pk
from app.domain.contacts.merging import merge_contacts
from app.domain.contacts.resolution import find_identity, live_contact
from app.domain.inbox.threads import thread_of_contact
from app.domain.realtime.writer import RetryTransaction, Transaction, Writer
from app.lib.errors import ConflictError
from integrations.types import InboundSender

TOKEN_TTL = timedelta(days=30)
"""How long a link works: long enough to sit in a customer's mailbox until they open it."""
MERGE_REASON = "Telegram deep link"
_VERSION = 1
_BODY = struct.Struct(">BQI")  # version, contact id, expiry
_MAC_BYTES = 17
"""136 bits: with the 13-byte body, 30 bytes make 40 base64 characters and no padding bits, so
every token has exactly one spelling."""
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_KEY_LABEL = b"onethread/telegram-deep-link/v1"
MAX_START_PARAMETER = 64


def _key(secret_key: str) -> bytes:
    # A key of its own: a token's MAC can never double as a session signature or another token's.
    return hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _mac(secret_key: str, body: bytes) -> bytes:
    return hmac.new(_key(secret_key), body, hashlib.sha256).digest()[:_MAC_BYTES]


def sign_contact_token(
    secret_key: str, contact_id: int, *, now: datetime | None = None, ttl: timedelta = TOKEN_TTL
) -> str:
    """A token naming ``contact_id`` until ``now + ttl``."""
    if not secret_key:
        raise ValueError("signing a deep link needs the instance's secret key")
    expires = int(((now or datetime.now(UTC)) + ttl).timestamp())
    body = _BODY.pack(_VERSION, contact_id, expires)
    return base64.urlsafe_b64encode(body + _mac(secret_key, body)).rstrip(b"=").decode()


def read_contact_token(secret_key: str, token: str, *, now: datetime | None = None) -> int | None:
    """The contact a genuine, unexpired token names; ``None`` for anything else."""
    if not secret_key or len(token) > MAX_START_PARAMETER or not _ALPHABET.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _BODY.size + _MAC_BYTES:
        return None
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(mac, _mac(secret_key, body)):
        return None
    version, contact_id, expires = _BODY.unpack(body)
    if version != _VERSION or expires < (now or datetime.now(UTC)).timestamp():
        return None
    return int(contact_id)


def start_parameter(text: str) -> str | None:
    """The payload of a ``/start <payload>`` message (``/start@shop_bot <payload>`` too)."""
    command, _, rest = text.strip().partition(" ")
    if command != "/start" and not command.startswith("/start@"):
        return None
    payload = rest.strip()
    return payload or None


def continue_url(username: str, token: str) -> str:
    return f"https://t.me/{username}?start={token}"


@dataclass(frozen=True, slots=True)
class ContinueLink:
    """One "Continue on Telegram" link of a contact: the bot's account name and the URL."""

    account_name: str
    username: str
    url: str


async def continue_links(session: AsyncSession, secret_key: str, contact_id: int) -> list[ContinueLink]:
    """A link per enabled Telegram bot whose username we know, each with a fresh token."""
    rows = await session.execute(
        select(ChannelAccount)
        .where(col(ChannelAccount.channel) == "telegram", col(ChannelAccount.enabled).is_(True))
        .order_by(col(ChannelAccount.name))
    )
    links: list[ContinueLink] = []
    token = ""
    for account in rows.scalars():
        username = str((account.config or {}).get("username") or "")
        if not username:
            continue
        token = token or sign_contact_token(secret_key, contact_id)
        links.append(ContinueLink(account.name, username, continue_url(username, token)))
    return links


@dataclass(frozen=True, slots=True)
class DeepLinkResult:
    """The contact the sender now belongs to; ``merge_id`` when that took a merge."""

    contact_id: int
    identity_created: bool = False
    merge_id: int | None = None


async def do_link_deep_link(
    writer: Writer, *, account_id: str, external_id: str, contact_id: int, sender: InboundSender
) -> DeepLinkResult | None:
    """Make ``sender`` (a Telegram user) part of the contact a valid token named.

    ``external_id`` is the ``/start`` message's dedupe key: once that message is stored, a
    redelivery links nothing again (an agent may have undone the merge meanwhile). ``None`` when
    nothing was done: the message was seen before, or the contact no longer exists.
    """
    account_uuid = uuid.UUID(account_id)

    async def work(tx: Transaction) -> DeepLinkResult | None:
        session = tx.session
        seen = (
            await session.execute(
                select(col(Message.id)).where(
                    col(Message.channel_account_id) == account_uuid, col(Message.external_id) == external_id
                )
            )
        ).first()
        if seen is not None:
            return None
        try:
            target = await live_contact(session, contact_id)
        except LookupError:
            return None
        identity = await find_identity(session, sender.channel, sender.external_id)
        if identity is None:
            identity = Identity(
                contact_id=pk(target.id),
                channel=sender.channel,
                external_id=sender.external_id,
                verified=sender.verified,
                display_name=sender.name,
            )
            session.add(identity)
            await session.flush()
            thread = await thread_of_contact(session, target)
            tx.emit(
                "contact.updated",
                {"contact_id": target.id, "reason": "identity linked by a Telegram deep link"},
                thread_id=thread.id,
                contact_id=target.id,
            )
            return DeepLinkResult(pk(target.id), identity_created=True)
        owner = await live_contact(session, identity.contact_id)
        if owner.id == target.id:
            return DeepLinkResult(pk(target.id))
        try:
            merge = await merge_contacts(tx, target, owner, reason=MERGE_REASON)
        except ConflictError:
            # A redelivery of this /start (or an agent) merged them meanwhile; merge_contacts
            # refuses before writing, so the unit runs again on what is there now.
            raise RetryTransaction("the contacts were merged meanwhile") from None
        return DeepLinkResult(pk(target.id), merge_id=merge.id)

    return await writer.run(work)
