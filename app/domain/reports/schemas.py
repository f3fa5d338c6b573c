"""The report as the JSON API gives it, its tables as CSV, and the period a request asks for.

The CSV tables and the JSON carry the same numbers as the page (times in seconds). CSV cells that a
spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) get a leading apostrophe: a customer named ``=HYPERLINK(…)`` stays a name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import msgspec

from app.domain.inbox.routing import CHANNEL_LABELS
from app.domain.reports.queries import BOT_OUTCOMES, Period, Report, Timing
from app.i18n import N_, zone
from app.lib.errors import InvalidInputError, Reason

DEFAULT_DAYS = 30
MAX_DAYS = 366
CHANNELS = tuple(CHANNEL_LABELS)
BAD_DATE = N_("Dates are written as YYYY-MM-DD.")
BAD_RANGE = N_("The first day must not be after the last.")
TOO_LONG = N_("A report covers at most 366 days.")
BAD_CHANNEL = N_("There is no such channel.")


def parse_period(
    start: str | None,
    end: str | None,
    channel: str | None,
    time_zone: str | None,
    *,
    today: date | None = None,
) -> Period:
    """The period a request asks for: ``from``/``to`` local days (both included; default the last 30
    days up to today in ``time_zone``) and a channel. Refused with the reason (422) when unreadable."""
    tz = zone(time_zone)
    today = today or datetime.now(tz).date()

    def day(value: str | None) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(Reason(BAD_DATE), type_slug="invalid-date") from None

    first, last = day(start), day(end)
    last = last or (today if first is None else min(today, first + timedelta(days=DEFAULT_DAYS - 1)))
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInputError(Reason(BAD_RANGE), type_slug="invalid-range")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInputError(Reason(TOO_LONG), type_slug="range-too-long")
    if channel and channel not in CHANNELS:
        raise InvalidInputError(Reason(BAD_CHANNEL), type_slug="invalid-channel")
    return Period(first, last, tz, channel or None)


# --- JSON --------------------------------------------------------------------------------------------


class TimingOut(msgspec.Struct):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class VolumeOut(msgspec.Struct):
    day: date
    channel: str
    inbound: int
    outbound: int


class ResponseOut(msgspec.Struct):
    channel: str | None
    """``null``: every channel together."""
    conversations: int
    first_response: TimingOut
    first_human_response: TimingOut
    resolution: TimingOut
    unresolved: int


class BotDayOut(msgspec.Struct):
    day: date
    answered: int
    suggested: int
    handoff: int
    greeted: int
    skipped: int


class TransitionOut(msgspec.Struct):
    from_channel: str = msgspec.field(name="from")
    to_channel: str = msgspec.field(name="to")
    count: int


class SwitchingCustomerOut(msgspec.Struct):
    thread_id: int
    name: str | None
    channels: int
    switches: int


class SwitchesOut(msgspec.Struct):
    customers: int
    multichannel_customers: int
    switches: int
    customers_by_switches: list[int]
    """Customers with 0, 1, 2, 3 and 4-or-more switches."""
    transitions: list[TransitionOut]
    top_customers: list[SwitchingCustomerOut]


class WorkloadOut(msgspec.Struct):
    agent_id: int
    name: str
    replies: int
    notes: int
    calls: int
    resolved: int
    open_assigned: int


class ReportOut(msgspec.Struct):
    """``GET /api/v1/reports``: every figure of the reports page for one period."""

    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    time_zone: str
    channel: str | None
    volume: list[VolumeOut]
    responses: list[ResponseOut]
    bot: list[BotDayOut]
    bot_totals: dict[str, int]
    switches: SwitchesOut
    workload: list[WorkloadOut]


def _timing(t: Timing) -> TimingOut:
    return TimingOut(t.count, t.median, t.p90)


def report_out(report: Report) -> ReportOut:
    p, s = report.period, report.switches
    return ReportOut(
        start=p.first,
        end=p.last,
        time_zone=p.tz.key,
        channel=p.channel,
        volume=[VolumeOut(r.day, r.channel, r.inbound, r.outbound) for r in report.volume],
        responses=[
            ResponseOut(
                r.channel or None,
                r.conversations,
                _timing(r.first_response),
                _timing(r.first_human_response),
                _timing(r.resolution),
                r.unresolved,
            )
            for r in report.responses
        ],
        bot=[BotDayOut(d.day, *(d.counts.get(o, 0) for o in BOT_OUTCOMES)) for d in report.bot],
        bot_totals=report.bot_totals(),
        switches=SwitchesOut(
            customers=s.customers,
            multichannel_customers=s.multichannel,
            switches=s.switches,
            customers_by_switches=list(s.by_switches),
            transitions=[TransitionOut(a, b, n) for a, b, n in s.transitions],
            top_customers=[SwitchingCustomerOut(c.thread_id, c.name, c.channels, c.switches) for c in s.top],
        ),
        workload=[
            WorkloadOut(w.agent_id, w.name, w.replies, w.notes, w.calls, w.resolved, w.open_assigned)
            for w in report.workload
        ],
    )


# --- CSV ---------------------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A cell as a spreadsheet should read it: text that looks like a formula is made plain text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _seconds(value: float | None) -> object:
    return "" if value is None else round(value, 1)


@dataclass(frozen=True, slots=True)
class Table:
    header: Sequence[str]
    rows: Iterable[Sequence[object]]


def tables(report: Report) -> dict[str, Table]:
    """Every table of the page, by the name its CSV link uses."""
    s = report.switches
    timing_header = [
        "conversations",
        "with_reply",
        "first_response_median_s",
        "first_response_p90_s",
        "with_human_reply",
        "first_human_response_median_s",
        "first_human_response_p90_s",
        "resolved",
        "resolution_median_s",
        "resolution_p90_s",
        "unresolved",
    ]
    return {
        "volume": Table(
            ["day", "channel", "inbound", "outbound"],
            ([r.day.isoformat(), r.channel, r.inbound, r.outbound] for r in report.volume),
        ),
        "responses": Table(
            ["channel", *timing_header],
            (
                [
                    r.channel or "all",
                    r.conversations,
                    r.first_response.count,
                    _seconds(r.first_response.median),
                    _seconds(r.first_response.p90),
                    r.first_human_response.count,
                    _seconds(r.first_human_response.median),
                    _seconds(r.first_human_response.p90),
                    r.resolution.count,
                    _seconds(r.resolution.median),
                    _seconds(r.resolution.p90),
                    r.unresolved,
                ]
                for r in report.responses
            ),
        ),
        "bot": Table(
            ["day", *BOT_OUTCOMES],
            ([d.day.isoformat(), *(d.counts.get(o, 0) for o in BOT_OUTCOMES)] for d in report.bot),
        ),
        "switches": Table(
            ["switches", "customers"],
            [
                *(
                    [str(n) if n < len(s.by_switches) - 1 else f"{n}+", c]
                    for n, c in enumerate(s.by_switches)
                ),
            ],
        ),
        "transitions": Table(["from", "to", "count"], ([a, b, n] for a, b, n in s.transitions)),
        "customers": Table(
            ["thread_id", "customer", "channels", "switches"],
            ([c.thread_id, c.name or "", c.channels, c.switches] for c in s.top),
        ),
        "workload": Table(
            ["agent", "replies", "notes", "calls", "resolved", "open_assigned"],
            ([w.name, w.replies, w.notes, w.calls, w.resolved, w.open_assigned] for w in report.workload),
        ),
    }


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
