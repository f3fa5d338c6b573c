"""The tables. One module so the whole schema reads top to bottom; vocabulary from DESIGN.md.

Writers live in ``app/domain/*/actions.py``; nothing else inserts or updates these rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.types import BigIntIdentity, DateTimeUTC, EncryptedText, JsonB
from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy import text as sql_text  # ``text`` is also a column name in class bodies
from sqlmodel import Field, SQLModel

from app.db.crypto import encryption_key


def utcnow() -> datetime:
    return datetime.now(UTC)


def pk(value: int | None) -> int:
    """The primary key of a row that has been flushed (SQLModel types ids as optional)."""
    if value is None:
        raise RuntimeError("row has no id yet: flush the session first")
    return value


def _now(*, index: bool = False) -> Any:
    return Field(default_factory=utcnow, sa_type=DateTimeUTC(timezone=True), index=index)  # type: ignore[call-overload]


def _maybe_ts() -> Any:
    return Field(default=None, sa_type=DateTimeUTC(timezone=True), nullable=True)  # type: ignore[call-overload]


def _json() -> Any:
    return Field(default_factory=dict, sa_type=JsonB, nullable=False)  # type: ignore[call-overload]


# --------------------------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------------------------
class Agent(SQLModel, table=True):
    """A person who works the inbox. ``role`` is ``admin`` or ``agent``."""

    __tablename__ = "agents"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    role: str = Field(default="agent", max_length=20)
    is_active: bool = True
    language: str = Field(default="", max_length=10)  # "" = the browser's Accept-Language
    timezone: str = Field(default="UTC", max_length=64)
    created_at: datetime = _now()


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(
        sa_column=Column(ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _now()
    revoked_at: datetime | None = _maybe_ts()


# --------------------------------------------------------------------------------------------
# contacts
# --------------------------------------------------------------------------------------------
class Contact(SQLModel, table=True):
    """A customer. ``merged_into_id`` is set while this contact is merged into another."""

    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    attributes: dict[str, Any] = _json()
    merged_into_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("contacts.id"), nullable=True, index=True)
    )
    erased_at: datetime | None = _maybe_ts()
    """Set when the contact was erased (GDPR, anonymize mode): what is left is statistics only."""
    created_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        Index("ix_contacts_name_lower", text("lower(name)")),
        Index("ix_contacts_email_lower", text("lower(email)")),
    )


class Identity(SQLModel, table=True):
    """One way to reach a contact: a Telegram user id, a PSID, an email address, an E.164 number…"""

    __tablename__ = "identities"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(sa_column=Column(ForeignKey("contacts.id"), nullable=False, index=True))
    channel: str = Field(max_length=40)
    external_id: str = Field(max_length=320)
    verified: bool = False
    display_name: str | None = Field(default=None, max_length=200)
    attributes: dict[str, Any] = _json()
    """What OneThread learnt about this identity from its platform (e.g. ``messenger_profile``: when
    the page last asked Meta for the person's name and what Meta said), never shown as an edit."""
    created_at: datetime = _now()

    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identities_channel_external_id"),)


class Merge(SQLModel, table=True):
    """Audit of one merge, with the snapshot ``undo`` needs to restore both sides exactly."""

    __tablename__ = "merges"

    id: int | None = Field(default=None, primary_key=True)
    primary_contact_id: int = Field(sa_column=Column(ForeignKey("contacts.id"), nullable=False, index=True))
    other_contact_id: int = Field(sa_column=Column(ForeignKey("contacts.id"), nullable=False, index=True))
    reason: str = Field(default="manual", max_length=200)
    merged_by_id: int | None = Field(default=None, sa_column=Column(ForeignKey("agents.id"), nullable=True))
    snapshot: dict[str, Any] = _json()
    created_at: datetime = _now()
    undone_at: datetime | None = _maybe_ts()
    undone_by_id: int | None = Field(default=None, sa_column=Column(ForeignKey("agents.id"), nullable=True))


class MergeSuggestion(SQLModel, table=True):
    """Two contacts that may be one customer, and why we think so. ``status``: open/accepted/dismissed."""

    __tablename__ = "merge_suggestions"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(sa_column=Column(ForeignKey("contacts.id"), nullable=False, index=True))
    other_contact_id: int = Field(sa_column=Column(ForeignKey("contacts.id"), nullable=False, index=True))
    reason: str = Field(max_length=300)
    status: str = Field(default="open", max_length=20)
    created_at: datetime = _now()
    decided_at: datetime | None = _maybe_ts()

    __table_args__ = (UniqueConstraint("contact_id", "other_contact_id", name="uq_merge_suggestions_pair"),)


# --------------------------------------------------------------------------------------------
# inbox
# --------------------------------------------------------------------------------------------
class Thread(SQLModel, table=True):
    """The one thread of a contact. ``status``: bot, open, pending, snoozed, resolved."""

    __tablename__ = "threads"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(sa_column=Column(ForeignKey("contacts.id"), nullable=False, unique=True))
    status: str = Field(default="open", max_length=20)
    assignee_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("agents.id", ondelete="SET NULL"), nullable=True)
    )
    episode: int = 1
    last_inbound_channel: str | None = Field(default=None, max_length=40)
    last_inbound_at: datetime | None = _maybe_ts()
    last_message_at: datetime = _now()
    last_message_preview: str = Field(default="", max_length=200)
    snoozed_until: datetime | None = _maybe_ts()
    created_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        Index("ix_threads_inbox", "last_message_at", "id"),
        Index("ix_threads_status_inbox", "status", "last_message_at", "id"),
        Index("ix_threads_assignee_inbox", "assignee_id", "last_message_at", "id"),
    )


class ThreadRead(SQLModel, table=True):
    """When an agent last had a thread open: the inbox marks it unread after a newer inbound message."""

    __tablename__ = "thread_reads"

    agent_id: int = Field(
        sa_column=Column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, nullable=False)
    )
    thread_id: int = Field(
        sa_column=Column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True, nullable=False)
    )
    read_at: datetime = _now()


class CannedResponse(SQLModel, table=True):
    """A reply snippet shared by every agent, inserted in the composer by typing ``/shortcut``."""

    __tablename__ = "canned_responses"

    id: int | None = Field(default=None, primary_key=True)
    shortcut: str = Field(max_length=40, unique=True)
    title: str = Field(max_length=200)
    text: str = Field(sa_type=String)  # type: ignore[call-overload]
    created_by_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("agents.id", ondelete="SET NULL"), nullable=True)
    )
    created_at: datetime = _now()
    updated_at: datetime = _now()


RESOLVED_LINE = (
    "kind = 'system' AND (meta ->> 'event') = 'thread-change' AND (meta #>> '{changes,0,to}') = 'resolved'"
)
"""The system line ``do_update_thread`` writes when an agent resolves a thread (status changes come
first in its ``changes``): the reports find each conversation's resolution through an index on these."""


class Message(SQLModel, table=True):
    """One timeline entry. Inbound rows are deduplicated on ``(channel_account_id, external_id)``."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, sa_type=BigIntIdentity, primary_key=True)  # type: ignore[call-overload]
    thread_id: int = Field(sa_column=Column(ForeignKey("threads.id"), nullable=False))
    channel_account_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(ForeignKey("channel_accounts.id"), nullable=True)
    )
    identity_id: int | None = Field(
        default=None, sa_column=Column(ForeignKey("identities.id"), nullable=True)
    )
    external_id: str | None = Field(default=None, max_length=255)
    direction: str = Field(max_length=3)
    kind: str = Field(default="text", max_length=10)
    channel: str = Field(max_length=40)
    author_type: str = Field(max_length=10)
    author_id: int | None = Field(default=None, sa_column=Column(ForeignKey("agents.id"), nullable=True))
    author_name: str | None = Field(default=None, max_length=200)
    text: str = Field(default="", sa_type=String)  # type: ignore[call-overload]
    html: str | None = Field(default=None, sa_type=String)  # type: ignore[call-overload]
    subject: str | None = Field(default=None, max_length=500)
    meta: dict[str, Any] = _json()
    delivery_status: str | None = Field(default=None, max_length=12)
    delivery_error: str | None = Field(default=None, max_length=500)
    delivery_attempts: int = 0
    created_at: datetime = _now()
    received_at: datetime = _now()
    updated_at: datetime = _now()

    __table_args__ = (
        UniqueConstraint("channel_account_id", "external_id", name="uq_messages_account_external_id"),
        Index("ix_messages_timeline", "thread_id", "created_at", "id"),
        Index("ix_messages_delivery", "delivery_status"),
        Index("ix_messages_identity", "identity_id"),
        # Reports (app/domain/reports/queries.py, migration 0008): a range of days answered from
        # the index alone on PostgreSQL, and the probes that find conversations and their replies.
        Index(
            "ix_messages_created",
            "created_at",
            postgresql_include=["channel", "direction", "kind", "author_type", "author_id"],
        ),
        Index(
            "ix_messages_inbound",
            "thread_id",
            "created_at",
            "id",
            postgresql_include=["channel", "kind", "received_at"],
            postgresql_where=sql_text("direction = 'in'"),
            sqlite_where=sql_text("direction = 'in'"),
        ),
        Index(
            "ix_messages_replies",
            "thread_id",
            "author_type",
            "created_at",
            postgresql_where=sql_text("direction = 'out' AND kind = 'text'"),
            sqlite_where=sql_text("direction = 'out' AND kind = 'text'"),
        ),
        Index(
            "ix_messages_system",
            "created_at",
            postgresql_where=sql_text("kind = 'system'"),
            sqlite_where=sql_text("kind = 'system'"),
        ),
        Index(
            "ix_messages_resolved",
            "thread_id",
            "created_at",
            postgresql_where=sql_text(RESOLVED_LINE),
            sqlite_where=sql_text("kind = 'system'"),
        ),
        {"sqlite_autoincrement": True},
    )


class Attachment(SQLModel, table=True):
    """A file that came with (or goes with) a message."""

    __tablename__ = "attachments"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(
        sa_column=Column(
            BigIntIdentity, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    filename: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    size: int = 0
    url: str | None = Field(default=None, max_length=2000)
    """Where the platform offered the file (Meta's signed URLs expire: a copy is fetched soon)."""
    storage_key: str | None = Field(default=None, max_length=500)
    """The bytes in our ``FileStorage`` (``app/lib/storage.py``), once fetched or uploaded."""
    status: str = Field(default="stored", max_length=20)
    """``pending`` (to fetch from the platform), ``stored`` (bytes in the store, or an external
    link kept as it is when ``storage_key`` is empty), ``too_large`` (over the size cap, link only),
    ``failed`` (the fetch gave up; ``error`` says why)."""
    source: dict[str, Any] = _json()
    """How to fetch it from the platform (a Telegram ``file_id``); empty once it is stored."""
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _now()


# --------------------------------------------------------------------------------------------
# channels
# --------------------------------------------------------------------------------------------
class ChannelAccount(SQLModel, table=True):
    """One connected account: a Telegram bot, a Messenger page, a mailbox, a widget site, an API source.

    ``config`` holds what may be shown (callback URL, origin, address); ``secrets`` holds tokens and
    signing keys as JSON, encrypted at rest with the instance's secret key.
    """

    __tablename__ = "channel_accounts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    channel: str = Field(max_length=40, index=True)
    name: str = Field(max_length=200)
    enabled: bool = True
    config: dict[str, Any] = _json()
    secrets: str = Field(sa_column=Column(EncryptedText(key=encryption_key), nullable=False))
    created_at: datetime = _now()


# --------------------------------------------------------------------------------------------
# bot
# --------------------------------------------------------------------------------------------
class BotRule(SQLModel, table=True):
    """One FAQ rule. ``data`` is the rule's document as ``RuleSet.to_dict()`` writes it (questions,
    keywords, answers per language, …), so the YAML import/export and the console edit one shape."""

    __tablename__ = "bot_rules"

    id: str = Field(primary_key=True, max_length=80)
    position: int = 0
    enabled: bool = True
    data: dict[str, Any] = _json()
    updated_at: datetime = _now()


class BotSettings(SQLModel, table=True):
    """The bot's one settings row (id 1): the rule set's document without its rules.

    ``version`` goes up on every change to the settings or any rule, so each process can tell that
    its compiled engine is stale with one cheap read."""

    __tablename__ = "bot_settings"

    id: int = Field(default=1, primary_key=True)
    data: dict[str, Any] = _json()
    version: int = 0
    updated_at: datetime = _now()


class BotDecision(SQLModel, table=True):
    """What the bot did with one customer message (or a new thread): the record admins read.

    ``outcome``: answered, suggested, handoff, greeted, skipped. ``candidates`` are the best rules
    with their scores; ``feedback`` is the customer's helpful / not_helpful on an answer.
    """

    __tablename__ = "bot_decisions"

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(sa_column=Column(ForeignKey("threads.id"), nullable=False))
    message_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntIdentity, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    )
    reply_message_id: int | None = Field(
        default=None,
        sa_column=Column(BigIntIdentity, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    )
    episode: int = 1
    channel: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=10)
    question: str = Field(default="", sa_type=String)  # type: ignore[call-overload]
    outcome: str = Field(max_length=12)
    rule_id: str | None = Field(default=None, max_length=80)
    score: float = 0.0
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_type=JsonB, nullable=False)  # type: ignore[call-overload]
    reason: str | None = Field(default=None, max_length=40)
    feedback: str | None = Field(default=None, max_length=12)
    created_at: datetime = _now()

    __table_args__ = (
        Index("ix_bot_decisions_created", "created_at"),
        Index("ix_bot_decisions_thread", "thread_id", "id"),
        Index("ix_bot_decisions_rule", "rule_id", "created_at"),
    )


class BotDismissal(SQLModel, table=True):
    """An unanswered question an admin set aside: asks of it up to ``dismissed_at`` leave the list.

    ``key`` is the question as the unanswered list groups it (``bot.queries.question_key``); asked
    again after the dismissal, it comes back with the new asks only.
    """

    __tablename__ = "bot_dismissals"

    key: str = Field(primary_key=True, max_length=200)
    dismissed_at: datetime = _now()
    agent_id: int | None = Field(default=None, foreign_key="agents.id", nullable=True)


# --------------------------------------------------------------------------------------------
# reports' rollup (app/domain/reports/actions.py keeps it; queries.py reads it)
# --------------------------------------------------------------------------------------------
class ReportHour(SQLModel, table=True):
    """How many messages one thread had in one UTC hour, per channel, direction, kind and author
    (``author_id`` 0 unless an agent wrote). Counts only: no text, no names."""

    __tablename__ = "report_hours"

    thread_id: int = Field(primary_key=True)
    hour: datetime = Field(sa_type=DateTimeUTC(timezone=True), primary_key=True)  # type: ignore[call-overload]
    channel: str = Field(primary_key=True, max_length=40)
    direction: str = Field(primary_key=True, max_length=3)
    kind: str = Field(primary_key=True, max_length=10)
    author_type: str = Field(primary_key=True, max_length=10)
    author_id: int = Field(default=0, primary_key=True)
    messages: int = 0

    __table_args__ = (Index("ix_report_hours_hour", "hour"),)


class ReportVolume(SQLModel, table=True):
    """``report_hours`` without the thread: what the volume and workload figures add up."""

    __tablename__ = "report_volume"

    hour: datetime = Field(sa_type=DateTimeUTC(timezone=True), primary_key=True)  # type: ignore[call-overload]
    channel: str = Field(primary_key=True, max_length=40)
    direction: str = Field(primary_key=True, max_length=3)
    kind: str = Field(primary_key=True, max_length=10)
    author_type: str = Field(primary_key=True, max_length=10)
    author_id: int = Field(default=0, primary_key=True)
    messages: int = 0


class ReportRun(SQLModel, table=True):
    """Consecutive customer messages of one thread on one channel: from the first to the last."""

    __tablename__ = "report_runs"

    id: int | None = Field(default=None, sa_type=BigIntIdentity, primary_key=True)  # type: ignore[call-overload]
    thread_id: int = Field(index=True)
    channel: str = Field(max_length=40)
    first_at: datetime = Field(sa_type=DateTimeUTC(timezone=True))  # type: ignore[call-overload]
    last_at: datetime = Field(sa_type=DateTimeUTC(timezone=True))  # type: ignore[call-overload]


class ReportConversation(SQLModel, table=True):
    """One conversation (queries.py's definition): its start, channel, first replies, resolution."""

    __tablename__ = "report_conversations"

    id: int | None = Field(default=None, sa_type=BigIntIdentity, primary_key=True)  # type: ignore[call-overload]
    thread_id: int = Field(index=True)
    start_at: datetime = Field(sa_type=DateTimeUTC(timezone=True), index=True)  # type: ignore[call-overload]
    channel: str | None = Field(default=None, max_length=40)
    bot_at: datetime | None = _maybe_ts()
    agent_at: datetime | None = _maybe_ts()
    resolved_at: datetime | None = _maybe_ts()


class ReportSwitch(SQLModel, table=True):
    """Two consecutive customer messages of one thread on different channels."""

    __tablename__ = "report_switches"

    id: int | None = Field(default=None, sa_type=BigIntIdentity, primary_key=True)  # type: ignore[call-overload]
    thread_id: int = Field(index=True)
    at: datetime = Field(sa_type=DateTimeUTC(timezone=True), index=True)  # type: ignore[call-overload]
    previous_at: datetime = Field(sa_type=DateTimeUTC(timezone=True))  # type: ignore[call-overload]
    from_channel: str = Field(max_length=40)
    to_channel: str = Field(max_length=40)


class ReportWatermark(SQLModel, table=True):
    """The last message id the rollup has taken in (one row, ``id`` 1)."""

    __tablename__ = "report_watermark"

    id: int = Field(default=1, primary_key=True)
    message_id: int = Field(default=0, sa_type=BigInteger)  # type: ignore[call-overload]
    updated_at: datetime = _now()


# --------------------------------------------------------------------------------------------
# system
# --------------------------------------------------------------------------------------------
class AuditEntry(SQLModel, table=True):
    """One privileged action (a GDPR export or erase, a retention prune): who, what, on what, when.

    ``actor`` is ``agent:<id>`` for a person, ``cli`` or ``system`` otherwise. ``details`` holds counts
    and modes, never the personal data the action touched (an erase must not be undone by its log).
    """

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _now(index=True)
    actor: str = Field(max_length=40)
    action: str = Field(max_length=60)
    subject_type: str | None = Field(default=None, max_length=40)
    subject_id: str | None = Field(default=None, max_length=80)
    details: dict[str, Any] = _json()


class Event(SQLModel, table=True):
    """The durable, append-only event log. ``id`` is the cursor every live client resumes from."""

    __tablename__ = "events"

    id: int | None = Field(default=None, sa_type=BigIntIdentity, primary_key=True)  # type: ignore[call-overload]
    type: str = Field(max_length=60)
    thread_id: int | None = Field(default=None, index=True)
    contact_id: int | None = None
    audience: str = Field(default="agents", max_length=10)
    data: dict[str, Any] = _json()
    created_at: datetime = _now(index=True)

    __table_args__ = (
        # Events about a contact but no thread (a contact edited) are few: a partial index finds
        # them for an erase without scanning the log, and costs the ingest path nothing.
        Index(
            "ix_events_contact_unthreaded",
            "contact_id",
            postgresql_where=text("thread_id IS NULL"),
            sqlite_where=text("thread_id IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )
