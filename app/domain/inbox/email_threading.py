"""Where an inbound mail sits in its customer's one thread: a reply, or a new email conversation.

A customer has one thread, so a mail always lands in the thread of the contact its sender resolves
to (the sender's address is the email identity). What threading decides is whether the mail
continues a conversation we are having by email, or starts a new one:

- it is a **reply** when our reply token names this thread, or ``In-Reply-To`` / ``References``
  name a mail of this thread (ours or the customer's);
- otherwise, a mail whose subject differs from the thread's last email subject **starts a new
  episode**, marked in the timeline with its subject (a customer writing about a second order is a
  new conversation, not a continuation of the first).

Matches are scoped to the sender: a token or Message-ID of another customer's thread never moves
this mail there (a forwarded mail answered by a colleague, or a guessed id). When a reply token
names another thread, the two contacts may be one person writing from a second address; that is
left as a merge suggestion for an agent to decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from app.db.models import Message, Thread
from app.domain.channels.email_addresses import new_message_id, reply_address
from app.domain.inbox.threads import system_message
from app.domain.realtime.writer import Transaction
from integrations.email import ADDRESS_KEY, REPLY_KEY
from integrations.types import AccountConfig

EMAIL_META = "email"
"""The key of a message's ``meta`` holding what the parser learned (ids, quotes, kind)."""
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|antw|doorst|sv|vs|tr|rif|r)\s*(\[\d+\])?\s*:\s*)+", re.I)


def normalized_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes (``Re:``, ``Fwd:``, ``AW:``, ``Antw:``…),
    case and spacing: two mails about the same thing compare equal."""
    return " ".join(_SUBJECT_PREFIX.sub("", subject or "").split()).casefold()


def email_facts(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    facts = metadata.get(EMAIL_META)
    return facts if isinstance(facts, Mapping) else {}


async def is_reply(tx: Transaction, thread: Thread, facts: Mapping[str, Any]) -> bool:
    """Whether the mail answers something in ``thread`` (token, then In-Reply-To, then References)."""
    if facts.get("token_thread_id") == thread.id:
        return True
    ids = _ids(facts.get("in_reply_to")) + _ids(facts.get("references"))
    if not ids:
        return False
    found = await tx.session.execute(
        select(col(Message.id))
        .where(
            col(Message.thread_id) == thread.id,
            col(Message.channel) == "email",
            col(Message.external_id).in_(ids[-50:]),
        )
        .limit(1)
    )
    return found.first() is not None


async def not_before_its_parent(
    tx: Transaction, thread: Thread, facts: Mapping[str, Any], created_at: datetime, now: datetime
) -> datetime:
    """A reply's place in the timeline: never before the mail it answers (``In-Reply-To``).

    A ``Date`` header has whole seconds and the sender's clock, so an answer written within the
    second of our mail would otherwise sort above it; it moves to just after it (never past the
    moment we received it)."""
    parents = _ids(facts.get("in_reply_to"))
    if not parents:
        return created_at
    parent_time = (
        await tx.session.execute(
            select(func.max(col(Message.created_at))).where(
                col(Message.thread_id) == thread.id,
                col(Message.channel) == "email",
                col(Message.external_id).in_(parents[-10:]),
            )
        )
    ).scalar_one_or_none()
    if parent_time is None or created_at > parent_time:
        return created_at
    return min(parent_time + timedelta(milliseconds=1), max(now, parent_time))


async def last_email_subject(tx: Transaction, thread: Thread) -> str | None:
    row = await tx.session.execute(
        select(col(Message.subject))
        .where(
            col(Message.thread_id) == thread.id,
            col(Message.channel) == "email",
            col(Message.subject).is_not(None),
        )
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(1)
    )
    return row.scalar_one_or_none()


async def start_episode_if_new_subject(
    tx: Transaction, thread: Thread, *, subject: str | None, facts: Mapping[str, Any], at: datetime
) -> bool:
    """Start a new episode (with its timeline line) when the mail is not a reply and its subject
    differs from the thread's last email subject. Returns whether one was started."""
    if await is_reply(tx, thread, facts):
        return False
    previous = await last_email_subject(tx, thread)
    if previous is None or normalized_subject(previous) == normalized_subject(subject):
        return False
    thread.episode += 1
    shown = " ".join((subject or "").split())[:200]
    tx.session.add(
        system_message(
            thread,
            f"New email conversation: {shown}",
            at=at,
            event="email-episode",
            episode=thread.episode,
            subject=shown,
        )
    )
    return True


def _ids(value: object) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, str) and item]


async def set_outgoing_headers(
    tx: Transaction, thread: Thread, message: Message, account: AccountConfig, *, automatic: bool
) -> None:
    """Give an outgoing mail what makes the customer's client thread it and their reply find us:
    our Message-ID (also the message's external id), ``Re:`` the customer's last subject, their
    last mail's ids for ``In-Reply-To`` / ``References``, and our ``reply+<token>@`` address.

    A customer who has never mailed us (they wrote by chat) gets a first mail with a subject of
    its own: replying on email simply starts the email conversation.
    """
    address = str(account.config.get(ADDRESS_KEY) or "")
    recent = (
        await tx.session.execute(
            select(Message)
            .where(
                col(Message.thread_id) == thread.id,
                col(Message.channel) == "email",
                col(Message.direction) == "in",
            )
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(20)
        )
    ).scalars()
    # The customer's own last mail: an out-of-office answer is not what we reply to.
    last = next((m for m in recent if not (m.meta or {}).get("automatic")), None)
    facts: dict[str, Any] = {"automatic": automatic}
    if isinstance(last, Message):
        previous = email_facts(last.meta or {})
        their_id = previous.get("message_id")
        references = _ids(previous.get("references"))
        if isinstance(their_id, str) and their_id:
            facts["in_reply_to"] = their_id
            references = [*references, their_id]
        facts["references"] = references[-20:]
        subject = last.subject or ""
        message.subject = subject if _SUBJECT_PREFIX.match(subject) else f"Re: {subject}".strip()
    if not message.subject or message.subject == "Re:":
        message.subject = f"Your conversation with {account.name}"
    assert message.id is not None
    our_id = new_message_id(message.id, address)
    message.external_id = our_id
    facts["message_id"] = our_id
    key = account.secrets.get(REPLY_KEY, "")
    if key and thread.id is not None and "@" in address:
        facts["reply_to"] = reply_address(key, thread.id, address)
    message.meta = {**(message.meta or {}), EMAIL_META: facts}
