"""Small view-model helpers for the console's templates: labels, badges, times, agent names.

They only shape what the domain queries return (``ThreadOut``, ``MessageOut``) for display; the
reads themselves stay in ``app.domain.inbox.queries`` so the console and the JSON API agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Agent
from app.domain.inbox.actions import CHANNEL_LABELS
from app.domain.inbox.schemas import MessageOut
from app.i18n import N_

STATUSES = ("bot", "open", "pending", "snoozed", "resolved")
# English labels, marked for the catalogs; templates translate them with ``| t``.
STATUS_LABELS = {
    "bot": N_("Bot"),
    "open": N_("Open"),
    "pending": N_("Pending"),
    "snoozed": N_("Snoozed"),
    "resolved": N_("Resolved"),
}
DELIVERY_LABELS = {
    "queued": N_("Queued"),
    "sent": N_("Sent"),
    "delivered": N_("Delivered"),
    "read": N_("Read"),
    "failed": N_("Failed"),
}
AUTHOR_LABELS = {"customer": N_("Customer"), "agent": N_("Agent"), "bot": N_("Bot"), "system": N_("System")}


def channel_label(channel: str | None) -> str:
    if not channel:
        return ""
    if channel == "note":
        return N_("Internal note")
    return CHANNEL_LABELS.get(channel, channel)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def delivery_label(status: str | None) -> str:
    return DELIVERY_LABELS.get(status or "", status or "")


def iso_time(value: datetime) -> str:
    """Machine-readable time for ``<time datetime>``; the text beside it is ``| local_time``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def duration(seconds: object) -> str:
    """A phone call's length as ``4 min 05 s``; empty when unknown."""
    if not isinstance(seconds, int) or seconds < 0:
        return ""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def author_label(message: MessageOut) -> str:
    """Who wrote it, as an agent reads it: a name when known, else the author's role."""
    if message.author.name:
        return message.author.name
    return AUTHOR_LABELS.get(message.author.type, message.author.type)


def message_class(message: MessageOut) -> str:
    """CSS modifiers for a timeline entry: its kind and its direction."""
    return f"msg msg--{message.kind} msg--{message.direction}"


async def agent_names(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    """Names for the assignee ids on one page, in one query."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await session.execute(select(col(Agent.id), col(Agent.name)).where(col(Agent.id).in_(wanted)))
    return {agent_id: name for agent_id, name in rows.all()}


TEMPLATE_FILTERS = {
    "channel_label": channel_label,
    "status_label": status_label,
    "delivery_label": delivery_label,
    "iso_time": iso_time,
    "duration": duration,
    "author_label": author_label,
    "message_class": message_class,
}
