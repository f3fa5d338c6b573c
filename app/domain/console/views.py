"""Small view-model helpers for the console's templates: labels, badges, times, agent names.

They only shape what the domain queries return (``ThreadOut``, ``MessageOut``) for display; the
reads themselves stay in ``app.domain.inbox.queries`` so the console and the JSON API agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from babel.numbers import format_decimal
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import i18n
from app.db.models import Agent
from app.domain.inbox.email_html import EmailBody, Segment, sanitize_email_html, split_quoted
from app.domain.inbox.routing import CHANNEL_LABELS
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
SYSTEM_LINES = {
    "reopened": N_("Conversation reopened: the customer wrote on %(channel)s"),
    "status": N_("%(agent)s set the status to %(status)s"),
    "snoozed": N_("%(agent)s snoozed the conversation until %(time)s"),
    "assigned": N_("%(agent)s assigned the conversation to %(assignee)s"),
    "unassigned": N_("%(agent)s unassigned the conversation"),
    "merge": N_("%(other)s was merged into %(primary)s"),
    "merge-why": N_("%(other)s was merged into %(primary)s (%(reason)s)"),
    "handoff": N_("The bot handed the conversation to an agent"),
    "email-episode": N_("New email conversation: %(subject)s"),
}


# The console names channels as badges do (capitalised, translatable); the domain's lower-case
# CHANNEL_LABELS are for the English sentences it stores.
CONSOLE_CHANNEL_LABELS = {
    "email": N_("Email"),
    "webchat": N_("Web chat"),
    "phone": N_("Phone"),
    "note": N_("Internal note"),
}


def channel_label(channel: str | None) -> str:
    if not channel:
        return ""
    return CONSOLE_CHANNEL_LABELS.get(channel) or CHANNEL_LABELS.get(channel, channel)


_ACCOUNT_SCOPED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:(.+)$")


def identity_label(external_id: str) -> str:
    """An identity as the agent knows it: custom-channel ids are stored as ``<account>:<id>`` (so two
    sources' ``42`` stay apart), but the agent only needs the source's own id."""
    scoped = _ACCOUNT_SCOPED.match(external_id)
    return scoped.group(1) if scoped else external_id


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def delivery_label(status: str | None) -> str:
    return DELIVERY_LABELS.get(status or "", status or "")


def iso_time(value: datetime) -> str:
    """Machine-readable time for ``<time datetime>``; the text beside it is ``| local_time``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def parse_iso_time(value: object) -> datetime | None:
    """A time stored as ISO text in message metadata (``edited_at``), or ``None`` when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _number(context: i18n.Reader, value: float, pattern: str) -> str:
    """``value`` with the reader's digit grouping and decimal sign (``1,440`` / ``1.440``, ``2.3`` / ``2,3``)."""
    return format_decimal(value, format=pattern, locale=i18n.language_of(context))


@pass_context
def duration(context: i18n.Reader, seconds: object) -> str:
    """A phone call's length as ``4 min 05 s`` (``min`` and ``s`` are the same in every language
    the console speaks; the numbers are the reader's); empty when unknown."""
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        return ""
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{_number(context, rest, '0')} s"
    return f"{_number(context, minutes, '#,##0')} min {_number(context, rest, '00')} s"


def author_role(author_type: str) -> str:
    """``customer`` / ``agent`` / ``bot`` / ``system`` as a label (translated with ``| t``)."""
    return AUTHOR_LABELS.get(author_type, author_type)


def message_class(message: MessageOut) -> str:
    """CSS modifiers for a timeline entry: its kind and its direction."""
    return f"msg msg--{message.kind} msg--{message.direction}"


@pass_context
def file_size(context: i18n.Reader, size: object) -> str:
    """A byte count as the reader writes numbers: ``812 B``, ``14 KB``, ``2.3 MB`` (Dutch ``2,3 MB``)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return ""
    if size < 1024:
        return f"{_number(context, size, '#,##0')} B"
    kilobytes = round(size / 1024)
    if kilobytes < 1024:  # not "1024 KB" for a file just short of a megabyte
        return f"{_number(context, kilobytes, '#,##0')} KB"
    return f"{_number(context, size / (1024 * 1024), '#,##0.0')} MB"


def safe_url(url: object) -> str:
    """``url`` when it is an absolute http(s) link, else empty: a ``javascript:`` URL never becomes a link."""
    if not isinstance(url, str):
        return ""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else ""


def email_body(html: str, show_images: bool = False, quoted_summary: str | None = None) -> EmailBody:
    """Email HTML for the timeline, sanitized, quoted history folded (see ``inbox.email_html``)."""
    return sanitize_email_html(html, show_remote_images=show_images, quoted_summary=quoted_summary)


def quoted_segments(message: MessageOut) -> list[Segment]:
    """Email text split into own words and foldable quoted history; other channels stay whole."""
    if message.channel != "email":
        return [Segment("text", message.text)] if message.text else []
    ranges = _quote_ranges(message)
    if ranges is None:
        return split_quoted(message.text)  # stored before ingest recorded its quotes
    segments: list[Segment] = []
    position = 0
    for start, end in ranges:
        if start > position:
            segments.append(Segment("text", message.text[position:start]))
        segments.append(Segment("quote", message.text[start:end]))
        position = end
    if position < len(message.text):
        segments.append(Segment("text", message.text[position:]))
    return segments


def _quote_ranges(message: MessageOut) -> list[tuple[int, int]] | None:
    """The quoted ranges ingest found in an email (``meta.email.quotes``), checked to be in order
    and inside the text; ``None`` when there are none recorded or they do not fit."""
    facts = (message.meta or {}).get("email")
    raw = facts.get("quotes") if isinstance(facts, dict) else None
    if not isinstance(raw, list):
        return None
    ranges: list[tuple[int, int]] = []
    position = 0
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(n, int) for n in item)):
            return None
        start, end = item
        if not position <= start < end <= len(message.text):
            return None
        ranges.append((start, end))
        position = end
    return ranges


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@pass_context
def system_text(context: Context, message: MessageOut) -> str:
    """A system line in the reader's language, from the event and parameters in ``message.meta``.

    Lines written before their parameters were recorded (or by events this function does not
    know) fall back to the English text stored with them.
    """
    meta: dict[str, Any] = message.meta or {}
    translate = i18n.translations(i18n.language_of(context)).gettext
    event = meta.get("event")
    if event == "reopened" and isinstance(meta.get("channel"), str):
        return translate(SYSTEM_LINES["reopened"]) % {"channel": translate(channel_label(meta["channel"]))}
    if event == "merge" and meta.get("other_name") and meta.get("primary_name"):
        reason = meta.get("reason")
        return translate(SYSTEM_LINES["merge-why" if reason else "merge"]) % {
            "other": meta["other_name"],
            "primary": meta["primary_name"],
            "reason": reason,
        }
    if event == "email-episode" and isinstance(meta.get("subject"), str):
        return translate(SYSTEM_LINES["email-episode"]) % {"subject": meta["subject"]}
    if event == "handoff" and not message.text:
        return translate(SYSTEM_LINES["handoff"])
    changes = meta.get("changes")
    if event == "thread-change" and isinstance(changes, list) and changes:
        agent = str(meta.get("agent_name") or translate(AUTHOR_LABELS["agent"]))
        parts: list[str] = []
        for change in changes:
            if not isinstance(change, dict):
                return message.text
            until = _parse_time(change.get("until"))
            if change.get("field") == "status" and until is not None:
                when = i18n.local_time(context, until)
                parts.append(translate(SYSTEM_LINES["snoozed"]) % {"agent": agent, "time": when})
            elif change.get("field") == "status":
                status = translate(status_label(str(change.get("to"))))
                parts.append(translate(SYSTEM_LINES["status"]) % {"agent": agent, "status": status})
            elif change.get("field") == "assignee" and change.get("to") is None:
                parts.append(translate(SYSTEM_LINES["unassigned"]) % {"agent": agent})
            elif change.get("field") == "assignee":
                assignee = str(change.get("name") or change.get("to"))
                parts.append(translate(SYSTEM_LINES["assigned"]) % {"agent": agent, "assignee": assignee})
            else:
                return message.text
        return "; ".join(parts)
    return message.text


async def active_agents(session: AsyncSession) -> list[tuple[int, str]]:
    """``(id, name)`` of every active agent, by name, for the assignee picker."""
    rows = await session.execute(
        select(col(Agent.id), col(Agent.name)).where(col(Agent.is_active)).order_by(col(Agent.name))
    )
    return [(agent_id, name) for agent_id, name in rows.all()]


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
    "identity_label": identity_label,
    "delivery_label": delivery_label,
    "iso_time": iso_time,
    "parse_iso_time": parse_iso_time,
    "duration": duration,
    "message_class": message_class,
    "author_role": author_role,
    "file_size": file_size,
    "safe_url": safe_url,
    "email_body": email_body,
    "quoted_segments": quoted_segments,
    "system_text": system_text,
}
