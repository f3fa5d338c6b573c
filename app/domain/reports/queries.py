"""The figures admins run support by, aggregated in the database over a date range.

**Where the figures come from.** The issue asked for reports "computed from the event log", but the
``events`` table is pruned after ``event_retention_days`` (30 by default), so a year of reports
cannot come from it. Everything here reads the durable tables instead, which hold the same facts:

- ``messages``: every customer message (``direction='in'``), reply (``out``, ``kind='text'``, by an
  ``agent`` or the ``bot``), note, phone note and system line. The system lines record the status
  changes: ``meta.event = 'reopened'`` when a customer writes to a resolved thread (a new
  conversation starts), ``meta.event = 'thread-change'`` with ``meta.changes`` when an agent changes
  status or assignee (``do_update_thread`` lists the status change first, so ``changes[0]`` says
  whether the thread was resolved, and ``meta.agent_id`` who did it).
- ``bot_decisions``: one row per customer message the bot looked at, with its outcome.
- ``threads``: who is assigned what now.

**Definitions** (the page's help text says the same):

- *Conversation*: starts with a customer's first message in a thread, or with a customer's
  message to a resolved thread (the ``reopened`` line); it ends when an agent resolves the thread.
  Counted in the period its start falls in; its channel is the channel of that first message.
- *First response*: from the moment the conversation's first message reached OneThread to the first
  reply stored for the customer (bot or agent) before the conversation was resolved. *First human
  response*: the same, counting agents' replies only (the bot's time is included in the wait).
  Conversations started by a phone call have no response time (a call is answered as it happens).
- *Resolution time*: from the conversation's start to the first time an agent resolved it. Still
  unresolved conversations are counted, not timed.
- *Channel switch*: two consecutive messages of one customer in the period, on different channels
  (web chat → Telegram → web chat is two switches).

Days are the admin's local days (time zone from their preferences). Medians and 90th percentiles
use one definition (linear interpolation): PostgreSQL's ``percentile_cont``, or Python's
:func:`percentile` on SQLite; everything else is grouped in SQL.

**The rollup.** A year read straight from ``messages`` cost ~2.4 s of CPU on PostgreSQL, so the
figures are read from a rollup kept in message-id order by ``reports/actions.py`` (migration 0009;
the page catches it up before answering, so figures are always current):

- ``report_volume``: messages per UTC hour, channel, direction, kind and author (volume, workload).
  Periods in zones whose offsets are whole hours start and end on whole UTC hours, so their local
  days are sums of whole hours; in zones with half- or quarter-hour offsets (India, Nepal, parts
  of Australia) these two figures are counted from ``messages`` instead (:func:`whole_hours`).
- ``report_conversations``: one row per conversation with its start, channel, first bot and agent
  replies and first resolution (:func:`thread_conversations`, the definitions above); exact in any
  zone.
- ``report_runs`` and ``report_switches``: a thread's consecutive customer messages on one channel,
  and each change of channel between two of them; exact in any zone.

The bot's decisions and the workload's resolutions and open threads are read live (small indexed
sets). Migration 0008's indexes serve the rollup's per-thread refreshes and those live reads
(``bench/reports.py`` measures both).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Float,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    select,
    text,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.db.models import (
    Agent,
    BotDecision,
    Contact,
    Message,
    ReportConversation,
    ReportRun,
    ReportSwitch,
    ReportVolume,
    Thread,
)

VOLUME_KINDS = ("text", "phone")
"""What counts as a message in the volume figures: customers' and agents' words, calls logged.
Notes and system lines are the team's bookkeeping, not traffic."""
ROLLUP_KINDS = ("text", "phone", "note")
"""The kinds ``report_hours`` counts (volume and workload)."""
OPEN_STATUSES = ("bot", "open", "pending", "snoozed")
BOT_OUTCOMES = ("answered", "suggested", "handoff", "greeted", "skipped")
SWITCH_BUCKETS = 4
"""Customers are grouped by 0, 1, 2, 3 and "4 or more" switches."""
TOP_CUSTOMERS = 10


# --- the period ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``first``..``last`` (both included) in ``tz``, and an optional channel."""

    first: date
    last: date
    tz: ZoneInfo
    channel: str | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, self.tz).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, self.tz).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def day_of(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()


def _offset_changes(period: Period) -> list[tuple[datetime, int]]:
    """``(from, offset_minutes)`` pieces covering the period: the zone's offset is constant on each.

    SQLite knows no time zones; the local day of a UTC time there is ``date(t, '+N minutes')`` with
    the offset of the piece ``t`` falls in (a year has two daylight-saving changes at most).
    """
    start, end = period.start, period.end

    def offset(moment: datetime) -> int:
        delta = moment.astimezone(period.tz).utcoffset() or timedelta()
        return int(delta.total_seconds() // 60)

    pieces = [(start, offset(start))]
    step = timedelta(hours=6)
    cursor = start
    while cursor < end:
        following = min(cursor + step, end)
        if offset(following) != offset(cursor):
            low, high = cursor, following  # the change is in (low, high]: halve to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == offset(low):
                    low = middle
                else:
                    high = middle
            pieces.append((high.replace(microsecond=0), offset(high)))
        cursor = following
    return pieces


def local_day(column: Any, period: Period, dialect: str) -> ColumnElement[Any]:
    """The admin's local day of a UTC timestamp column, in SQL (a ``date`` or ``'YYYY-MM-DD'``)."""
    if dialect == "postgresql":
        return cast(func.timezone(str(period.tz.key), column), Date)
    pieces = _offset_changes(period)
    if len(pieces) == 1:
        modifier: Any = literal(f"{pieces[0][1]:+d} minutes")
    else:
        modifier = case(
            *((column < until, f"{minutes:+d} minutes") for (_, minutes), (until, _) in pairwise(pieces)),
            else_=f"{pieces[-1][1]:+d} minutes",
        )
    return func.date(column, modifier)


def whole_hours(period: Period) -> bool:
    """Whether the period's local days start on whole UTC hours throughout (every zone whose offsets
    are whole hours): then the hourly rollup answers its day figures exactly. Zones with half- or
    quarter-hour offsets (India, Nepal, parts of Australia...) are counted from ``messages``."""
    return all(
        minutes % 60 == 0 and at.minute == 0 and at.second == 0 for at, minutes in _offset_changes(period)
    )


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name


async def _tune(session: AsyncSession) -> None:
    """PostgreSQL compiles these statements' expressions to machine code (JIT) because they read
    many rows; the compiling costs more than it saves at this size (~50-80 ms a statement)."""
    if _dialect(session) == "postgresql":
        await session.execute(text("SET LOCAL jit = off"))


def _in_period(column: Any, period: Period) -> list[ColumnElement[bool]]:
    return [column >= period.start, column < period.end]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` by linear interpolation between the closest ranks (what
    PostgreSQL's ``percentile_cont`` and NumPy's default compute); ``None`` without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- volume ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VolumeRow:
    day: date
    channel: str
    inbound: int
    outbound: int


async def volume(session: AsyncSession, period: Period) -> list[VolumeRow]:
    """Messages per local day and channel, customers' (in) and ours (out), days without any left out."""
    await _tune(session)
    if whole_hours(period):
        hour_day = local_day(col(ReportVolume.hour), period, _dialect(session)).label("day")
        in_hours = [*_in_period(col(ReportVolume.hour), period), col(ReportVolume.kind).in_(VOLUME_KINDS)]
        if period.channel:
            in_hours.append(col(ReportVolume.channel) == period.channel)
        query = (
            select(
                hour_day,
                col(ReportVolume.channel),
                col(ReportVolume.direction),
                func.sum(ReportVolume.messages),
            )
            .where(*in_hours)
            .group_by(hour_day, col(ReportVolume.channel), col(ReportVolume.direction))
        )
    else:
        day = local_day(col(Message.created_at), period, _dialect(session)).label("day")
        conditions = [*_in_period(col(Message.created_at), period), col(Message.kind).in_(VOLUME_KINDS)]
        if period.channel:
            conditions.append(col(Message.channel) == period.channel)
        query = (
            select(day, col(Message.channel), col(Message.direction), func.count())
            .where(*conditions)
            .group_by(day, col(Message.channel), col(Message.direction))
        )
    rows = await session.execute(query)
    counts: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for raw_day, channel, direction, number in rows.all():
        counts[(_as_date(raw_day), channel)][0 if direction == "in" else 1] += int(number)
    return [VolumeRow(d, c, n[0], n[1]) for (d, c), n in sorted(counts.items())]


# --- conversations: first response and resolution ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation as the response figures need it: its channel and how long each step took
    (seconds from its start; ``None`` when it did not happen, or not within the conversation)."""

    thread_id: int
    channel: str
    response_seconds: float | None
    human_response_seconds: float | None
    resolution_seconds: float | None


def _elapsed(later: Any, earlier: Any, dialect: str) -> ColumnElement[Any]:
    """Seconds from ``earlier`` to ``later`` in SQL (so 50,000 conversations come back as numbers,
    not as 150,000 timestamps for Python to parse)."""
    if dialect == "postgresql":
        # float8, not numeric: decoding 150,000 numerics cost the driver a quarter of a second.
        return cast(extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86_400.0


def _resolved_line(line: Any) -> list[ColumnElement[bool]]:
    """A system line saying an agent resolved the thread (see the module's docstring): what
    ``ix_messages_resolved`` indexes (``models.RESOLVED_LINE``; only a status change says
    ``resolved``, an assignment's ``to`` is an agent id)."""
    return [
        line.kind == "system",
        line.meta["event"].as_string() == "thread-change",
        line.meta[("changes", 0, "to")].as_string() == "resolved",
    ]


def thread_conversations(thread_ids: Sequence[int]) -> Any:
    """Every conversation of these threads, with its first replies and first resolution
    (``thread_id, start_at, channel, bot_at, agent_at, resolved_at``), as a subquery: what the
    rollup (``report_conversations``, reports/actions.py) stores.

    Starts are found through two small sets — each thread's first customer message (an index probe
    per thread the customer wrote to in the period) and the ``reopened`` lines in the period — and
    each start's first replies and resolution are index probes too, so the cost follows the number
    of conversations, not of messages.
    """

    def first_customer_message(column: str) -> Any:
        # Read from ix_messages_inbound alone (its INCLUDE columns); a join back to the row made
        # PostgreSQL hash every message of the period instead.
        first: Any = aliased(Message)
        return (
            select(getattr(first, column))
            .where(first.thread_id == col(Thread.id), first.direction == "in", first.kind == "text")
            .order_by(first.created_at, first.id)
            .limit(1)
            .correlate(Thread)
            .scalar_subquery()
        )

    firsts = (
        select(
            col(Thread.id).label("thread_id"),
            first_customer_message("received_at").label("start_at"),
            first_customer_message("channel").label("channel"),
        )
        .where(col(Thread.id).in_(thread_ids))
        .offset(0)
        .subquery("firsts")
    )
    openings = select(firsts.c.thread_id, firsts.c.start_at, firsts.c.channel).where(
        firsts.c.start_at.is_not(None)
    )
    line: Any = aliased(Message)
    reopenings = select(
        line.thread_id.label("thread_id"),
        line.created_at.label("start_at"),
        line.meta["channel"].as_string().label("channel"),
    ).where(
        line.kind == "system",
        line.thread_id.in_(thread_ids),
        line.meta["event"].as_string() == "reopened",
    )
    # UNION, not UNION ALL: a thread whose first customer message also reopened it (an agent wrote
    # first and resolved) has both starts at the same instant, which is one conversation.
    starts = union(openings, reopenings).subquery("starts")

    def first_reply_by(author: str) -> Any:
        reply: Any = aliased(Message)
        return (
            select(func.min(reply.created_at))
            .where(
                reply.thread_id == starts.c.thread_id,
                reply.direction == "out",
                reply.kind == "text",
                reply.author_type == author,
                reply.created_at >= starts.c.start_at,
            )
            .scalar_subquery()
        )

    resolution: Any = aliased(Message)
    resolved_at = (
        select(func.min(resolution.created_at))
        .where(
            resolution.thread_id == starts.c.thread_id,
            resolution.created_at >= starts.c.start_at,
            *_resolved_line(resolution),
        )
        .scalar_subquery()
    )
    probed = select(
        starts.c.thread_id,
        starts.c.start_at,
        starts.c.channel,
        first_reply_by("bot").label("bot_at"),
        first_reply_by("agent").label("agent_at"),
        resolved_at.label("resolved_at"),
    )
    # OFFSET 0 keeps PostgreSQL from pulling the probes up into the outer expressions, where each
    # would run once per use.
    return probed.offset(0).subquery("times")


def _conversation_times(period: Period) -> Any:
    """Every conversation started in the period (``thread_id, start_at, channel, bot_at, agent_at,
    resolved_at``) as a subquery of the rollup: exact in any time zone (each row keeps its times)."""
    rows: Select[Any] = select(
        col(ReportConversation.thread_id).label("thread_id"),
        col(ReportConversation.start_at).label("start_at"),
        col(ReportConversation.channel).label("channel"),
        col(ReportConversation.bot_at).label("bot_at"),
        col(ReportConversation.agent_at).label("agent_at"),
        col(ReportConversation.resolved_at).label("resolved_at"),
    ).where(*_in_period(col(ReportConversation.start_at), period))
    if period.channel:
        rows = rows.where(col(ReportConversation.channel) == period.channel)
    return rows.subquery("times")


async def conversations(session: AsyncSession, period: Period) -> list[Conversation]:
    """Every conversation started in the period, with how long its first replies and its
    resolution took (see :func:`_conversation_times` for how they are found)."""
    await _tune(session)
    times = _conversation_times(period)
    dialect = _dialect(session)
    rows = await session.execute(
        select(
            times.c.thread_id,
            times.c.channel,
            _elapsed(times.c.bot_at, times.c.start_at, dialect),
            _elapsed(times.c.agent_at, times.c.start_at, dialect),
            _elapsed(times.c.resolved_at, times.c.start_at, dialect),
        )
    )
    found: list[Conversation] = []
    for thread_id, channel, bot_s, agent_s, resolved_s in rows.all():
        resolved = _rounded(resolved_s)
        bot_reply = _in_conversation(_rounded(bot_s), resolved, channel)
        human_reply = _in_conversation(_rounded(agent_s), resolved, channel)
        replies = [m for m in (bot_reply, human_reply) if m is not None]
        found.append(
            Conversation(
                thread_id=thread_id,
                channel=channel or "",
                response_seconds=min(replies) if replies else None,
                human_response_seconds=human_reply,
                resolution_seconds=resolved,
            )
        )
    return found


def _rounded(seconds: Any) -> float | None:
    """Milliseconds are plenty (SQLite's julianday arithmetic is not exact below them)."""
    return None if seconds is None else max(0.0, round(float(seconds), 3))


def _in_conversation(moment: float | None, resolved: float | None, channel: str | None) -> float | None:
    """A reply's delay if it answers the conversation: not after its resolution (a reply then
    belongs to no conversation), and never for a phone call (answered as it happens)."""
    if moment is None or (resolved is not None and moment > resolved) or channel == "phone":
        return None
    return moment


@dataclass(frozen=True, slots=True)
class Timing:
    """Median and 90th percentile of some seconds, and how many there were."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, seconds: Iterable[float | None]) -> Timing:
        values = [s for s in seconds if s is not None]
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9))


@dataclass(frozen=True, slots=True)
class ResponseRow:
    """The response figures of one channel's conversations (``channel`` ``""``: all of them)."""

    channel: str
    conversations: int
    first_response: Timing
    first_human_response: Timing
    resolution: Timing

    @property
    def unresolved(self) -> int:
        return self.conversations - self.resolution.count


def response_figures(found: Sequence[Conversation]) -> list[ResponseRow]:
    """All conversations first, then one row per channel (most conversations first)."""
    by_channel: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in found:
        by_channel[conversation.channel].append(conversation)

    def row(channel: str, items: Sequence[Conversation]) -> ResponseRow:
        return ResponseRow(
            channel=channel,
            conversations=len(items),
            first_response=Timing.of(c.response_seconds for c in items),
            first_human_response=Timing.of(c.human_response_seconds for c in items),
            resolution=Timing.of(c.resolution_seconds for c in items),
        )

    ordered = sorted(by_channel.items(), key=lambda item: (-len(item[1]), item[0]))
    return [row("", found), *(row(channel, items) for channel, items in ordered)]


async def responses(session: AsyncSession, period: Period) -> list[ResponseRow]:
    """The response figures: all conversations first, then one row per channel.

    On PostgreSQL the medians and 90th percentiles are computed in the database
    (``percentile_cont``: linear interpolation, the same definition as :func:`percentile`), so a
    year's 50,000 conversations never travel to Python; SQLite returns the conversations and Python
    computes the same figures (the integration tests check both give the same numbers).
    """
    if _dialect(session) != "postgresql":
        return response_figures(await conversations(session, period))
    await _tune(session)
    times = _conversation_times(period)

    def answered(at: Any) -> Any:
        # A reply answers the conversation if it came before its resolution; calls have none.
        return case(
            (
                and_(
                    times.c.channel != "phone",
                    (times.c.resolved_at.is_(None)) | (at <= times.c.resolved_at),
                ),
                _elapsed(at, times.c.start_at, "postgresql"),
            )
        )

    steps = select(
        times.c.channel.label("channel"),
        func.least(answered(times.c.bot_at), answered(times.c.agent_at)).label("response"),
        answered(times.c.agent_at).label("human"),
        _elapsed(times.c.resolved_at, times.c.start_at, "postgresql").label("resolution"),
    ).subquery("steps")

    def timing(column: Any) -> list[Any]:
        return [
            func.count(column),
            func.percentile_cont(0.5).within_group(column),
            func.percentile_cont(0.9).within_group(column),
        ]

    rows = await session.execute(
        select(
            steps.c.channel,
            func.grouping(steps.c.channel),
            func.count(),
            *timing(steps.c.response),
            *timing(steps.c.human),
            *timing(steps.c.resolution),
        ).group_by(func.rollup(steps.c.channel))
    )
    every: ResponseRow | None = None
    per_channel: list[ResponseRow] = []
    for channel, is_total, n, *figures in rows.all():
        timings = [
            Timing(int(count), _rounded(median), _rounded(p90))
            for count, median, p90 in zip(figures[0::3], figures[1::3], figures[2::3], strict=True)
        ]
        row = ResponseRow("" if is_total else (channel or ""), int(n), *timings)
        if is_total:
            every = row
        else:
            per_channel.append(row)
    per_channel.sort(key=lambda r: (-r.conversations, r.channel))
    return [
        every or ResponseRow("", 0, Timing(0, None, None), Timing(0, None, None), Timing(0, None, None)),
        *per_channel,
    ]


# --- the bot -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BotDay:
    day: date
    counts: dict[str, int]


async def bot_outcomes(session: AsyncSession, period: Period) -> list[BotDay]:
    """The bot's decisions per local day and outcome (answered, suggested, handoff, greeted, skipped)."""
    await _tune(session)
    day = local_day(col(BotDecision.created_at), period, _dialect(session)).label("day")
    conditions = _in_period(col(BotDecision.created_at), period)
    if period.channel:
        conditions.append(col(BotDecision.channel) == period.channel)
    rows = await session.execute(
        select(day, col(BotDecision.outcome), func.count())
        .where(*conditions)
        .group_by(day, col(BotDecision.outcome))
    )
    counts: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(BOT_OUTCOMES, 0))
    for raw_day, outcome, number in rows.all():
        counts[_as_date(raw_day)][outcome] = counts[_as_date(raw_day)].get(outcome, 0) + number
    return [BotDay(d, c) for d, c in sorted(counts.items())]


# --- channel switches --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SwitchingCustomer:
    thread_id: int
    name: str | None
    channels: int
    switches: int


@dataclass(slots=True)
class Switches:
    """How often continuity mattered: customers who wrote, on how many channels, how often they switched."""

    customers: int = 0
    multichannel: int = 0
    switches: int = 0
    by_switches: list[int] = field(default_factory=lambda: [0] * (SWITCH_BUCKETS + 1))
    """Customers with 0, 1, 2, 3 and "4 or more" switches."""
    transitions: list[tuple[str, str, int]] = field(default_factory=list)
    """``(from, to, count)``, most frequent first."""
    top: list[SwitchingCustomer] = field(default_factory=list)


async def channel_switches(session: AsyncSession, period: Period) -> Switches:
    """Customers (threads) who wrote in the period, those on two channels or more, and their switches.

    With a channel chosen: the customers who wrote on it at least once, and the switches from or to it.
    Read from the rollup, exact in any time zone: a thread wrote on a channel in the period when one
    of its runs there (``report_runs``) overlaps it; a switch counts when both its messages are in it.
    """
    await _tune(session)
    wrote: Select[Any] = (
        select(
            col(ReportRun.thread_id).label("thread_id"),
            func.count(func.distinct(col(ReportRun.channel))).label("channels"),
        )
        .where(col(ReportRun.first_at) < period.end, col(ReportRun.last_at) >= period.start)
        .group_by(col(ReportRun.thread_id))
    )
    if period.channel:
        wrote = wrote.having(func.max(case((col(ReportRun.channel) == period.channel, 1), else_=0)) == 1)
    in_period = [*_in_period(col(ReportSwitch.at), period), col(ReportSwitch.previous_at) >= period.start]
    switched = (
        select(col(ReportSwitch.thread_id).label("thread_id"), func.count().label("switches"))
        .where(*in_period)
        .group_by(col(ReportSwitch.thread_id))
        .subquery("switched")
    )
    writers = wrote.subquery("wrote")
    per_thread = (
        select(
            writers.c.thread_id,
            writers.c.channels,
            func.coalesce(switched.c.switches, 0).label("switches"),
        )
        .select_from(writers.outerjoin(switched, switched.c.thread_id == writers.c.thread_id))
        .cte("per_thread")
    )
    bucket = case((per_thread.c.switches >= SWITCH_BUCKETS, SWITCH_BUCKETS), else_=per_thread.c.switches)
    result = Switches()
    buckets = select(
        bucket,
        func.count(),
        func.sum(per_thread.c.switches),
        func.sum(case((per_thread.c.channels >= 2, 1), else_=0)),
    ).group_by(bucket)
    for at, n, switches, multichannel in (await session.execute(buckets)).all():
        result.by_switches[int(at)] += n
        result.customers += n
        result.switches += int(switches or 0)
        result.multichannel += int(multichannel or 0)
    moves_where = list(in_period)
    if period.channel:
        moves_where.append(
            (col(ReportSwitch.from_channel) == period.channel)
            | (col(ReportSwitch.to_channel) == period.channel)
        )
    moves = (
        select(col(ReportSwitch.from_channel), col(ReportSwitch.to_channel), func.count())
        .where(*moves_where)
        .group_by(col(ReportSwitch.from_channel), col(ReportSwitch.to_channel))
    )
    result.transitions = sorted(
        ((str(a), str(b), int(n)) for a, b, n in (await session.execute(moves)).all()),
        key=lambda t: (-t[2], t[0], t[1]),
    )
    most = (
        select(per_thread.c.thread_id, per_thread.c.channels, per_thread.c.switches, col(Contact.name))
        .join(Thread, col(Thread.id) == per_thread.c.thread_id)
        .join(Contact, col(Contact.id) == col(Thread.contact_id), isouter=True)
        .where(per_thread.c.switches > 0)
        .order_by(per_thread.c.switches.desc(), per_thread.c.thread_id)
        .limit(TOP_CUSTOMERS)
    )
    result.top = [
        SwitchingCustomer(int(t), name, int(c), int(n))
        for t, c, n, name in (await session.execute(most)).all()
    ]
    return result


# --- agent workload ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Workload:
    agent_id: int
    name: str
    active: bool = True
    replies: int = 0
    notes: int = 0
    calls: int = 0
    resolved: int = 0
    open_assigned: int = 0

    @property
    def empty(self) -> bool:
        return not (self.replies or self.notes or self.calls or self.resolved or self.open_assigned)


async def workload(session: AsyncSession, period: Period) -> list[Workload]:
    """Per agent: replies, notes and calls logged, threads resolved in the period; open threads
    assigned to them now. With a channel chosen: replies on it, and resolved/open threads of
    customers who last wrote on it. Deactivated agents only when they have figures."""
    await _tune(session)
    agents = {
        a.id: Workload(agent_id=a.id or 0, name=a.name, active=a.is_active)
        for a in (await session.execute(select(Agent))).scalars()
    }
    if whole_hours(period):
        in_hours = [
            *_in_period(col(ReportVolume.hour), period),
            col(ReportVolume.author_type) == "agent",
            col(ReportVolume.direction) == "out",
            col(ReportVolume.kind).in_(("text", "note", "phone")),
        ]
        if period.channel:
            in_hours.append(col(ReportVolume.channel) == period.channel)
        query: Select[Any] = (
            select(col(ReportVolume.author_id), col(ReportVolume.kind), func.sum(ReportVolume.messages))
            .where(*in_hours)
            .group_by(col(ReportVolume.author_id), col(ReportVolume.kind))
        )
    else:
        conditions = [
            *_in_period(col(Message.created_at), period),
            col(Message.author_type) == "agent",
            col(Message.direction) == "out",
            col(Message.kind).in_(("text", "note", "phone")),
        ]
        if period.channel:
            conditions.append(col(Message.channel) == period.channel)
        query = (
            select(col(Message.author_id), col(Message.kind), func.count())
            .where(*conditions)
            .group_by(col(Message.author_id), col(Message.kind))
        )
    written = await session.execute(query)
    for author_id, kind, raw in written.all():
        number = int(raw)
        if author_id in agents:
            figures = agents[author_id]
            if kind == "text":
                figures.replies += number
            elif kind == "note":
                figures.notes += number
            else:
                figures.calls += number

    line: Any = aliased(Message)
    resolver = line.meta["agent_id"].as_integer()
    resolved_query = select(resolver, func.count()).where(
        *_in_period(line.created_at, period), *_resolved_line(line)
    )
    open_query = select(col(Thread.assignee_id), func.count()).where(
        col(Thread.status).in_(OPEN_STATUSES), col(Thread.assignee_id).is_not(None)
    )
    if period.channel:
        resolved_query = resolved_query.join(Thread, col(Thread.id) == line.thread_id).where(
            col(Thread.last_inbound_channel) == period.channel
        )
        open_query = open_query.where(col(Thread.last_inbound_channel) == period.channel)
    for agent_id, number in (await session.execute(resolved_query.group_by(resolver))).all():
        if agent_id in agents:
            agents[agent_id].resolved += number
    for agent_id, number in (await session.execute(open_query.group_by(col(Thread.assignee_id)))).all():
        if agent_id in agents:
            agents[agent_id].open_assigned += number
    shown = [w for w in agents.values() if w.active or not w.empty]
    return sorted(shown, key=lambda w: (-w.replies, -w.resolved, w.name.casefold(), w.agent_id))


# --- everything at once ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    volume: list[VolumeRow]
    responses: list[ResponseRow]
    bot: list[BotDay]
    switches: Switches
    workload: list[Workload]

    def bot_totals(self) -> dict[str, int]:
        totals = dict.fromkeys(BOT_OUTCOMES, 0)
        for day in self.bot:
            for outcome, number in day.counts.items():
                totals[outcome] = totals.get(outcome, 0) + number
        return totals

    def volume_totals(self) -> dict[str, tuple[int, int]]:
        """``channel: (inbound, outbound)`` over the period, busiest first."""
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in self.volume:
            totals[row.channel][0] += row.inbound
            totals[row.channel][1] += row.outbound
        return {c: (n[0], n[1]) for c, n in sorted(totals.items(), key=lambda i: (-sum(i[1]), i[0]))}


async def build_report(session: AsyncSession, period: Period) -> Report:
    return Report(
        period=period,
        volume=await volume(session, period),
        responses=await responses(session, period),
        bot=await bot_outcomes(session, period),
        switches=await channel_switches(session, period),
        workload=await workload(session, period),
    )
