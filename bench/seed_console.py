"""Bulk data for the console benchmark: one 10,000-message thread and an inbox of 10,000 threads.

The rows are the ones the actions would have written (``do_ingest``, ``do_send_reply``,
``do_add_note``, ``do_log_phone_note``, the system lines of reopen/assignment/merge), with the
thread summary fields (``last_message_at``, ``last_message_preview``, ``last_inbound_*``) kept the
way ``note_message_on_thread`` keeps them — but inserted in bulk: ``COPY`` through asyncpg on
PostgreSQL, one ``executemany`` per table on SQLite. Events are not written (no page reads them).

Agents and channel accounts come from the real actions beforehand (a password hash and encrypted
secrets are theirs to make); ``seed`` takes their ids. The data is the same for a given ``seed``
number, so runs compare.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.inbox.actions import CHANNEL_LABELS
from app.domain.inbox.threads import preview_of

Row = dict[str, Any]
CHAT_CHANNELS = ("telegram", "messenger", "email", "webchat")
IDENTITY_CHANNELS = ("telegram", "messenger", "email", "webchat", "phone", "api")
STATUSES = ("open",) * 10 + ("pending",) * 3 + ("snoozed",) + ("resolved",) * 5 + ("bot",)
DELIVERY = ("delivered",) * 5 + ("read",) * 4 + ("sent",) * 2 + ("failed",) + ("queued",)
WORDS = (
    "order",
    "parcel",
    "invoice",
    "refund",
    "delivery",
    "address",
    "tracking",
    "number",
    "arrived",
    "yesterday",
    "still",
    "waiting",
    "please",
    "could",
    "you",
    "check",
    "again",
    "thanks",
    "hello",
    "account",
    "password",
    "reset",
    "payment",
    "card",
    "declined",
    "size",
    "colour",
    "exchange",
    "return",
    "label",
    "warehouse",
    "courier",
    "weekend",
    "monday",
    "urgent",
    "appreciate",
    "help",
)
BIG_THREAD_NAME = "Benchmark Big Customer"
NEWEST_MARKER = "bench-newest-message"
"""Text of the big thread's newest message: the benchmark checks the thread page shows it."""


@dataclass
class Seeded:
    """What the benchmark needs to know about the data it measures."""

    big_thread_id: int
    big_thread_messages: int
    threads: int
    newest_contact_name: str
    """The contact of the newest thread: the first row of the inbox."""
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class _Ids:
    """Next free id per table (ids are given explicitly so rows can point at each other)."""

    next: dict[str, int]

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def external_id(contact_id: int, channel: str) -> str:
    """The contact's address on a channel, in that channel's shape (unique per channel)."""
    return {
        "telegram": f"{100_000_000 + contact_id}",
        "messenger": f"psid-{contact_id:08d}",
        "email": f"customer{contact_id}@example.com",
        "webchat": f"wc-{uuid.UUID(int=contact_id).hex}",
        "phone": f"+31612{contact_id:06d}",
        "api": f"api-{contact_id}",
    }[channel]


def _sentence(rng: random.Random, low: int, high: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))
    return text[:1].upper() + text[1:] + "."


class _Builder:
    """Makes rows in memory, table by table, in an order the foreign keys accept."""

    def __init__(
        self, rng: random.Random, ids: _Ids, agents: list[tuple[int, str]], accounts: dict[str, uuid.UUID]
    ) -> None:
        self.rng = rng
        self.ids = ids
        self.agents = agents
        self.accounts = accounts
        self.tables: dict[str, list[Row]] = {
            name: []
            for name in ("contacts", "identities", "threads", "messages", "attachments", "thread_reads")
        }
        self._external = 0

    def contact(self, name: str | None, channels: Iterable[str], at: datetime) -> int:
        """A contact whose email and phone are those of its identities (as resolution sets them)."""
        contact_id = self.ids.take("contacts")
        channels = set(channels)
        self.tables["contacts"].append(
            {
                "id": contact_id,
                "name": name,
                "email": external_id(contact_id, "email") if "email" in channels else None,
                "phone": external_id(contact_id, "phone") if "phone" in channels else None,
                "attributes": {"plan": self.rng.choice(["free", "pro", "business"])} if name else {},
                "merged_into_id": None,
                "created_at": at,
                "updated_at": at,
            }
        )
        return contact_id

    def identity(
        self, contact_id: int, channel: str, external_id: str, name: str | None, at: datetime
    ) -> int:
        identity_id = self.ids.take("identities")
        self.tables["identities"].append(
            {
                "id": identity_id,
                "contact_id": contact_id,
                "channel": channel,
                "external_id": external_id,
                "verified": channel in ("email", "phone"),
                "display_name": name,
                "created_at": at,
            }
        )
        return identity_id

    def identities_for(
        self, contact_id: int, channels: Iterable[str], name: str | None, at: datetime
    ) -> dict[str, tuple[int, str]]:
        """One identity per channel: channel -> (identity id, external id)."""
        out: dict[str, tuple[int, str]] = {}
        for channel in channels:
            external = external_id(contact_id, channel)
            out[channel] = (self.identity(contact_id, channel, external, name, at), external)
        return out

    def message(
        self,
        thread_id: int,
        *,
        at: datetime,
        direction: str,
        kind: str,
        channel: str,
        author_type: str,
        text: str,
        identity_id: int | None = None,
        author: tuple[int, str] | None = None,
        author_name: str | None = None,
        subject: str | None = None,
        html: str | None = None,
        meta: dict[str, Any] | None = None,
        delivery_status: str | None = None,
        delivery_error: str | None = None,
    ) -> Row:
        message_id = self.ids.take("messages")
        chat = kind == "text" and channel in self.accounts
        external_id = None
        if chat and (direction == "in" or delivery_status not in (None, "queued", "failed")):
            self._external += 1
            external_id = f"bench-{self._external}"
        row: Row = {
            "id": message_id,
            "thread_id": thread_id,
            "channel_account_id": self.accounts[channel] if chat else None,
            "identity_id": identity_id,
            "external_id": external_id,
            "direction": direction,
            "kind": kind,
            "channel": channel,
            "author_type": author_type,
            "author_id": author[0] if author else None,
            "author_name": author[1] if author else author_name,
            "text": text,
            "html": html,
            "subject": subject,
            "meta": meta or {},
            "delivery_status": delivery_status,
            "delivery_error": delivery_error,
            "delivery_attempts": 0 if delivery_status in (None, "queued") else 1,
            "created_at": at,
            "received_at": at,
            "updated_at": at,
        }
        self.tables["messages"].append(row)
        return row

    def attachment(self, message_id: int, at: datetime) -> None:
        kind = self.rng.choice(
            [("photo.jpg", "image/jpeg"), ("invoice.pdf", "application/pdf"), ("screenshot.png", "image/png")]
        )
        self.tables["attachments"].append(
            {
                "id": self.ids.take("attachments"),
                "message_id": message_id,
                "filename": kind[0],
                "content_type": kind[1],
                "size": self.rng.randint(20_000, 3_000_000),
                "url": f"https://files.example.com/{message_id}/{kind[0]}",
                "storage_key": None,
                "created_at": at,
            }
        )

    def thread(
        self,
        contact_id: int,
        messages: list[Row],
        *,
        status: str,
        assignee_id: int | None,
        episode: int,
        created_at: datetime,
    ) -> int:
        """The thread row with its summary as ``note_message_on_thread`` leaves it after ``messages``."""
        thread_id = self.ids.take("threads")
        for row in messages:
            row["thread_id"] = thread_id
        shown = [m for m in messages if m["kind"] != "system"]
        latest = max(shown, key=lambda m: (m["created_at"], m["id"]))
        inbound = [m for m in messages if m["direction"] == "in" and m["kind"] == "text"]
        latest_in = max(inbound, key=lambda m: (m["received_at"], m["id"])) if inbound else None
        now = max(m["created_at"] for m in messages)
        self.tables["threads"].append(
            {
                "id": thread_id,
                "contact_id": contact_id,
                "status": status,
                "assignee_id": assignee_id,
                "episode": episode,
                "last_inbound_channel": latest_in["channel"] if latest_in else None,
                "last_inbound_at": latest_in["received_at"] if latest_in else None,
                "last_message_at": latest["created_at"],
                "last_message_preview": preview_of(latest["text"]),
                "snoozed_until": now + timedelta(days=2) if status == "snoozed" else None,
                "created_at": created_at,
                "updated_at": now,
            }
        )
        return thread_id


def _big_thread(b: _Builder, messages: int, start: datetime, end: datetime) -> int:
    """One customer on every channel: chat, email with subjects and HTML, replies, notes, calls, system lines."""
    rng = b.rng
    contact_id = b.contact(BIG_THREAD_NAME, IDENTITY_CHANNELS, start)
    identities = b.identities_for(contact_id, IDENTITY_CHANNELS, BIG_THREAD_NAME, start)
    step = (end - start) / messages
    rows: list[Row] = []
    episode = 1
    channel = "telegram"
    for i in range(messages):
        at = start + step * i
        newest = i == messages - 1
        roll = rng.random()
        if rng.random() < 0.03:
            channel = rng.choice(CHAT_CHANNELS)
        if newest or roll < 0.45:
            subject = html = None
            text = _sentence(rng, 4, 40)
            if channel == "email":
                subject = f"Re: order {rng.randint(10_000, 99_999)}"
                text = text + "\n\n> On Monday you wrote:\n> " + _sentence(rng, 6, 20)
                html = f"<p>{text.splitlines()[0]}</p><blockquote>quoted</blockquote>"
            if newest:
                text = f"{NEWEST_MARKER} {text}"
            row = b.message(
                0,
                at=at,
                direction="in",
                kind="text",
                channel=channel,
                author_type="customer",
                text=text,
                identity_id=identities[channel][0],
                author_name=BIG_THREAD_NAME,
                subject=subject,
                html=html,
            )
            if rng.random() < 0.07:
                b.attachment(row["id"], at)
        elif roll < 0.80:
            status = rng.choice(DELIVERY)
            row = b.message(
                0,
                at=at,
                direction="out",
                kind="text",
                channel=channel,
                author_type="agent",
                author=rng.choice(b.agents),
                text=_sentence(rng, 6, 60),
                identity_id=identities[channel][0],
                meta={"recipient": identities[channel][1]},
                delivery_status=status,
                delivery_error="HTTP 403: the customer blocked the page" if status == "failed" else None,
            )
        elif roll < 0.88:
            row = b.message(
                0,
                at=at,
                direction="out",
                kind="note",
                channel="note",
                author_type="agent",
                author=rng.choice(b.agents),
                text="Note: " + _sentence(rng, 5, 25),
            )
        elif roll < 0.94:
            call = rng.choice(["inbound", "outbound"])
            row = b.message(
                0,
                at=at,
                direction="in" if call == "inbound" else "out",
                kind="phone",
                channel="phone",
                author_type="agent",
                author=rng.choice(b.agents),
                text=_sentence(rng, 5, 20),
                identity_id=identities["phone"][0],
                meta={
                    "phone": identities["phone"][1],
                    "call_direction": call,
                    "duration_seconds": rng.randint(20, 900),
                },
            )
        else:
            if rng.random() < 0.5:
                episode += 1
                text, meta = (
                    f"Conversation reopened: the customer wrote on {CHANNEL_LABELS.get(channel, channel)}",
                    {"event": "reopened", "episode": episode},
                )
            else:
                agent = rng.choice(b.agents)
                text, meta = (
                    f"{agent[1]}: assigned to {agent[1]}",
                    {"event": "thread-change", "agent_id": agent[0]},
                )
            row = b.message(
                0,
                at=at,
                direction="out",
                kind="system",
                channel="system",
                author_type="system",
                text=text,
                meta=meta,
            )
        rows.append(row)
    return b.thread(
        contact_id, rows, status="open", assignee_id=b.agents[0][0], episode=episode, created_at=start
    )


def _inbox_thread(b: _Builder, n: int, at: datetime, *, named: bool) -> tuple[int, str]:
    """A customer with one to three identities and a short thread (an inbound message, maybe a reply)."""
    rng = b.rng
    name = f"Customer {n:05d} {rng.choice(['Jansen', 'de Vries', 'Bakker', 'Smith', 'Müller', 'Dubois'])}"
    channels = rng.sample(IDENTITY_CHANNELS, rng.randint(1, 3))
    contact_id = b.contact(name if named else None, channels, at - timedelta(hours=1))
    identities = b.identities_for(contact_id, channels, name if named else None, at)
    chat = [c for c in channels if c in b.accounts]
    rows: list[Row] = []
    if chat:
        channel = rng.choice(chat)
        rows.append(
            b.message(
                0,
                at=at - timedelta(minutes=rng.randint(2, 90)),
                direction="in",
                kind="text",
                channel=channel,
                author_type="customer",
                text=_sentence(rng, 4, 40),
                identity_id=identities[channel][0],
                author_name=name if named else None,
                subject=f"Order {rng.randint(10_000, 99_999)}" if channel == "email" else None,
            )
        )
        if rng.random() < 0.6:
            status = rng.choice(DELIVERY)
            rows.append(
                b.message(
                    0,
                    at=at,
                    direction="out",
                    kind="text",
                    channel=channel,
                    author_type="agent",
                    author=rng.choice(b.agents),
                    text=_sentence(rng, 6, 40),
                    identity_id=identities[channel][0],
                    meta={"recipient": identities[channel][1]},
                    delivery_status=status,
                    delivery_error="HTTP 400: the chat was not found" if status == "failed" else None,
                )
            )
        else:
            rows[-1]["created_at"] = rows[-1]["received_at"] = rows[-1]["updated_at"] = at
    else:
        rows.append(
            b.message(
                0,
                at=at,
                direction="in",
                kind="phone",
                channel="phone",
                author_type="agent",
                author=rng.choice(b.agents),
                text=_sentence(rng, 4, 20),
                identity_id=identities["phone"][0],
                meta={
                    "phone": identities["phone"][1],
                    "call_direction": "inbound",
                    "duration_seconds": 60,
                },
            )
        )
    status = rng.choice(STATUSES)
    assignee = None if rng.random() < 0.4 else rng.choice(b.agents)[0]
    thread_id = b.thread(contact_id, rows, status=status, assignee_id=assignee, episode=1, created_at=at)
    if rng.random() < 0.3:
        b.tables["thread_reads"].append({"agent_id": b.agents[0][0], "thread_id": thread_id, "read_at": at})
    return thread_id, name


def build(
    *,
    agents: list[tuple[int, str]],
    accounts: dict[str, uuid.UUID],
    next_ids: dict[str, int],
    big_messages: int = 10_000,
    threads: int = 10_000,
    seed: int = 3,
) -> tuple[dict[str, list[Row]], Seeded]:
    """Every row, in memory. ``threads`` counts the big thread too; the newest thread is not the big one."""
    rng = random.Random(seed)
    builder = _Builder(rng, _Ids(dict(next_ids)), agents, accounts)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(days=60)
    big = _big_thread(builder, big_messages, start, end - timedelta(hours=3))
    newest_name = ""
    spacing = (end - start) / max(threads - 1, 1)
    for n in range(threads - 1):
        # The newest thread is the inbox's first row; named, so the benchmark can look for it.
        named = n == threads - 2 or rng.random() < 0.85
        _, newest_name = _inbox_thread(builder, n, start + spacing * (n + 1), named=named)
    seeded = Seeded(
        big_thread_id=big,
        big_thread_messages=big_messages,
        threads=threads,
        newest_contact_name=newest_name,
        rows={name: len(rows) for name, rows in builder.tables.items()},
    )
    return builder.tables, seeded


# ------------------------------------------------------------------------------------------------
# writing the rows
# ------------------------------------------------------------------------------------------------
async def write_postgres(dsn: str, tables: dict[str, list[Row]]) -> None:
    """``COPY`` every table (JSON columns as text), then move the id sequences past the given ids."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table, rows in tables.items():
                if not rows:
                    continue
                columns = list(rows[0])
                records = [
                    tuple(json.dumps(v) if isinstance(v, dict) else v for v in (row[c] for c in columns))
                    for row in rows
                ]
                await conn.copy_records_to_table(table, records=records, columns=columns)
            for table in ("contacts", "identities", "threads", "messages", "attachments"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def fill_postgres(dsn: str, total_messages: int, *, exclude_thread: int) -> int:
    """Add older messages until the database holds ``total_messages``; how many were added.

    One ``INSERT … SELECT`` over ``generate_series`` (about a million rows in well under a minute):
    short texts spread round-robin over every thread but ``exclude_thread`` (the measured big
    thread keeps its exact seeded content), each before its thread's first seeded message, so no
    thread summary, unread mark or first page changes. Their ids come after the seeded ones (the
    timeline pages by time, then id). The inbox and the thread page then read a table of the size
    a busy year leaves.
    """
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(dsn)
    try:
        have = int(await conn.fetchval("SELECT count(*) FROM messages"))
        missing = total_messages - have
        if missing <= 0:
            return 0
        await conn.execute(
            """
            WITH t AS (
                SELECT th.id, th.created_at, row_number() OVER (ORDER BY th.id) - 1 AS n,
                       count(*) OVER () AS total
                FROM threads th WHERE th.id <> $2
            )
            INSERT INTO messages (thread_id, direction, kind, channel, author_type, text, meta,
                                  delivery_attempts, created_at, received_at, updated_at)
            SELECT t.id,
                   CASE WHEN g % 3 = 0 THEN 'out' ELSE 'in' END,
                   'text', 'api',
                   CASE WHEN g % 3 = 0 THEN 'agent' ELSE 'customer' END,
                   'Earlier message ' || g || ' about an order that took a while to arrive',
                   '{}'::json, 0, ts, ts, ts
            FROM generate_series(0, $1 - 1) AS g
            JOIN t ON t.n = g % (SELECT max(total) FROM t)
            CROSS JOIN LATERAL (SELECT t.created_at - interval '2 days' - g * interval '1 second' AS ts) AS x
            """,
            missing,
            exclude_thread,
        )
        await conn.execute("ANALYZE messages")
        return missing
    finally:
        await conn.close()


def write_sqlite(path: str, tables: dict[str, list[Row]]) -> None:
    """One ``executemany`` per table through SQLAlchemy Core, so column types convert as the app's do."""
    from sqlalchemy import create_engine, text
    from sqlmodel import SQLModel

    import app.db.models  # noqa: F401 - registers the tables on SQLModel.metadata

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            for table, rows in tables.items():
                if rows:
                    conn.execute(SQLModel.metadata.tables[table].insert(), rows)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
