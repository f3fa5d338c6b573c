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

STATUSES = ("bot", "open", "pending", "snoozed", "resolved")
STATUS_LABELS = {
    "bot": "Bot",
    "open": "Open",
    "pending": "Pending",
    "snoozed": "Snoozed",
    "resolved": "Resolved",
}
DELIVERY_LABELS = {
    "queued": "Queued",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Failed",
}


def channel_label(channel: str | None) -> str:
    if not channel:
        return ""
    if channel == "note":
        return "internal note"
    return CHANNEL_LABELS.get(channel, channel)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def delivery_label(status: str | None) -> str:
    return DELIVERY_LABELS.get(status or "", status or "")


def iso_time(value: datetime) -> str:
    """Machine-readable time for ``<time datetime>`` (the agent's time zone comes later, in JS or i18n)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def short_time(value: datetime) -> str:
    """``2026-11-23 16:05 UTC``: one unambiguous form until per-agent time zones land."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    return {"customer": "Customer", "agent": "Agent", "bot": "Bot", "system": "System"}.get(
        message.author.type, message.author.type
    )


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
    "short_time": short_time,
    "duration": duration,
    "author_label": author_label,
    "message_class": message_class,
}
