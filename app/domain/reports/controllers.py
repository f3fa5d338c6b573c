"""The reports: a console page (admins), each of its tables as CSV, and the same figures as JSON.

- ``GET /reports?from=&to=&channel=``: the page, charts drawn as SVG on the server.
- ``GET /reports/csv/{table}?from=&to=&channel=``: one table (``volume``, ``responses``, ``bot``,
  ``switches``, ``transitions``, ``customers``, ``workload``) as a CSV download.
- ``GET /api/v1/reports?from=&to=&channel=&tz=``: every figure as JSON (API.md "Reports").

Days are the admin's local days (their time zone preference; ``tz`` on the API). Only admins may
read them (figures about every agent and customer); agents get 403 on all three.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.dates import format_date
from litestar import Controller, Request, Response, Router, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, QueryParameter
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.accounts.auth import requires_agent
from app.domain.console import roles
from app.domain.console.views import channel_label
from app.domain.realtime.writer import Writer
from app.domain.reports import charts
from app.domain.reports.actions import do_catch_up
from app.domain.reports.queries import BOT_OUTCOMES, SWITCH_BUCKETS, Period, Report, build_report
from app.domain.reports.schemas import CHANNELS, ReportOut, parse_period, report_out, tables, to_csv
from app.i18n import N_, is_time_zone, language_of, translations
from app.lib.errors import ForbiddenError, InvalidInputError, NotFoundError, Reason

BOT_LABELS = {
    "answered": N_("answered"),
    "suggested": N_("“did you mean”"),
    "handoff": N_("handed over"),
    "greeted": N_("greeted"),
    "skipped": N_("skipped"),
}
WORKLOAD_SERIES = (N_("Replies"), N_("Notes"), N_("Calls logged"))
"""The workload chart's segments: what each agent wrote, as the table's first three columns."""
SPAN_UNITS = ((86_400, N_("%(n)s d")), (3_600, N_("%(n)s h")), (60, N_("%(n)s min")), (1, N_("%(n)s s")))

From = Annotated[str | None, QueryParameter(name="from", max_length=20)]
To = Annotated[str | None, QueryParameter(name="to", max_length=20)]
Channel = Annotated[str | None, QueryParameter(max_length=40)]
Zone = Annotated[str | None, QueryParameter(max_length=64)]


def _checked_zone(tz: str | None) -> str | None:
    """``tz`` when it names a time zone; refused (422) otherwise, never quietly replaced by UTC."""
    if tz is not None and not is_time_zone(tz):
        raise InvalidInputError("tz must be an IANA time zone name", type_slug="invalid-time-zone")
    return tz


def span(seconds: float | None, language: str = "en") -> str:
    """A duration in its largest fitting unit: ``45 s``, ``12 min``, ``3.5 h``, ``2.1 d``; ``—`` unknown."""
    if seconds is None:
        return "—"
    catalog = translations(language)
    for size, unit in SPAN_UNITS:
        if seconds >= size or size == 1:
            value = seconds / size
            shown = f"{value:.0f}" if value >= 10 or size == 1 else f"{value:.1f}"
            if language == "nl":
                shown = shown.replace(".", ",")
            return catalog.gettext(unit) % {"n": shown}
    return "—"  # pragma: no cover - the loop always returns


def _charts(report: Report, language: str) -> dict[str, charts.Chart]:
    """The page's charts, labels in the reader's language."""
    catalog = translations(language)
    days = report.period.days()

    def day_label(day: date) -> str:
        return format_date(day, "d MMM", locale=language)

    channels = list(report.volume_totals())
    index = {day: n for n, day in enumerate(days)}
    volume = [[0] * len(days) for _ in channels]
    for row in report.volume:
        volume[channels.index(row.channel)][index[row.day]] += row.inbound + row.outbound
    bot_series = ("answered", "suggested", "handoff")
    bot = [[0] * len(days) for _ in bot_series]
    for bot_day in report.bot:
        for s, outcome in enumerate(bot_series):
            bot[s][index[bot_day.day]] = bot_day.counts.get(outcome, 0)
    medians = [
        (catalog.gettext(channel_label(r.channel)), (r.first_human_response.median or 0) / 60)
        for r in report.responses[1:]
    ]
    by_switches = [
        (
            catalog.ngettext("%(n)s switch", "%(n)s switches", 2 if n == SWITCH_BUCKETS else n)
            % {"n": f"{n}+" if n == SWITCH_BUCKETS else n},
            float(c),
        )
        for n, c in enumerate(report.switches.by_switches)
    ]
    return {
        "volume": charts.stacked_days(
            days,
            [catalog.gettext(channel_label(c)) for c in channels],
            volume,
            styles=[f"channel-{c}" if c in CHANNELS else "series-5" for c in channels],
            day_label=day_label,
        ),
        "bot": charts.stacked_days(
            days, [catalog.gettext(BOT_LABELS[o]) for o in bot_series], bot, day_label=day_label
        ),
        "response": charts.horizontal(medians, unit=" min"),
        "switches": charts.horizontal(by_switches, series=1),
        "workload": charts.stacked_bars(
            [(w.name, [float(w.replies), float(w.notes), float(w.calls)]) for w in report.workload],
            [catalog.gettext(name) for name in WORKLOAD_SERIES],
        ),
    }


async def current_report(writer: Writer, session: AsyncSession, period: Period) -> Report:
    """The report over the rollup, brought up to the last stored message first (a catch-up after a
    quiet minute refreshes a handful of threads; see reports/actions.py)."""
    await do_catch_up(writer)
    return await build_report(session, period)


BAD_ZONE = N_("%(zone)s is not a time zone; use an IANA name such as Europe/Amsterdam")
NOT_A_DATE = N_("“%(value)s” is not a date: dates are written as YYYY-MM-DD.")
FIELD_OF = {"invalid-range": "to", "range-too-long": "to", "invalid-channel": "channel"}
"""Which form field a refused period is about (``invalid-date``: whichever date is unreadable)."""


def _is_date(value: str | None) -> bool:
    try:
        date.fromisoformat((value or "").strip())
    except ValueError:
        return False
    return True


def _refused_field(slug: str, start: str | None, end: str | None) -> str:
    if slug == "invalid-date":
        return "from" if start and not _is_date(start) else "to"
    return FIELD_OF.get(slug, "from")


def _period_or_refusal(
    start: str | None, end: str | None, channel: str | None, tz: str | None, agent: Agent
) -> Period | tuple[str, Reason]:
    """The period asked for, or the form field it fails on (``tz``: the address) and why."""
    if tz is not None and not is_time_zone(tz):
        return "tz", Reason(BAD_ZONE, {"zone": tz})
    try:
        return parse_period(start, end, channel, tz or agent.timezone)
    except InvalidInputError as refused:
        field = _refused_field(refused.type_slug, start, end)
        if refused.type_slug == "invalid-date":
            # A date input cannot show text that is not a date, so the reason quotes it.
            return field, Reason(NOT_A_DATE, {"value": (start if field == "from" else end) or ""})
        return field, refused.reason


async def _report_page(
    request: Request[Any, Any, Any],
    writer: Writer,
    session: AsyncSession,
    agent: Agent,
    start: str | None,
    end: str | None,
    channel: str | None,
    tz: str | None,
) -> Template:
    language = language_of({"request": request, "agent": agent})
    found = _period_or_refusal(start, end, channel, tz, agent)
    context: dict[str, Any] = {"agent": agent, "channels": CHANNELS, "report": None, "error": None}
    if isinstance(found, tuple):
        # No figures for a period that was not understood (the default period's would be taken for
        # the one asked for); the form keeps what was typed so the admin corrects it, not retypes it.
        context["error_field"], context["error"] = found
        context["form"] = {"from": start or "", "to": end or "", "channel": channel or "", "tz": tz or ""}
        return Template(template_name="pages/reports/index.html", context=context, status_code=422)
    period = found
    report = await current_report(writer, session, period)
    form = {"from": period.first.isoformat(), "to": period.last.isoformat(), "channel": period.channel or ""}
    form["tz"] = tz or ""
    context |= {
        "report": report,
        "period": period,
        "form": form,
        "charts": _charts(report, language),
        "bot_totals": report.bot_totals(),
        "bot_outcomes": BOT_OUTCOMES,
        "bot_labels": BOT_LABELS,
        "volume_totals": report.volume_totals(),
        "csv_query": urlencode({k: v for k, v in form.items() if v}),
        "span": lambda seconds: span(seconds, language),
    }
    return Template(template_name="pages/reports/index.html", context=context)


@get("/", include_in_schema=False, name="console:reports")
async def reports_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    start: From = None,
    end: To = None,
    channel: Channel = None,
    tz: Zone = None,
) -> Template:
    """Volume, response and resolution times, the bot, channel switches and workload for a period.

    ``tz`` (like the API's) shows the days of another time zone than the admin's preference."""
    return await _report_page(request, writer, db_session, agent, start, end, channel, tz)


@get("/csv/{table:str}", include_in_schema=False, name="console:reports-csv")
async def reports_csv(
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    table: FromPath[str],
    start: From = None,
    end: To = None,
    channel: Channel = None,
    tz: Zone = None,
) -> Response[str]:
    """One of the page's tables as CSV, named after the table and the period."""
    period = parse_period(start, end, channel, _checked_zone(tz) or agent.timezone)
    report = await current_report(writer, db_session, period)
    found = tables(report).get(table)
    if found is None:
        raise NotFoundError(f"there is no report table {table!r}", type_slug="report-table-not-found")
    suffix = f"-{period.channel}" if period.channel else ""
    filename = f"onethread-{table}-{period.first.isoformat()}-{period.last.isoformat()}{suffix}.csv"
    return Response(
        to_csv(found),
        media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


reports_router = Router(
    path="/reports",
    guards=[roles.requires_admin],
    exception_handlers=roles.exception_handlers,
    route_handlers=[reports_page, reports_csv],
)

console_handlers: list[ControllerRouterHandler] = [reports_router]
"""Mounted in the console router (session authentication, CSRF) by ``app.core``."""


def requires_admin_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The API's twin of the console's admin guard: reports are about every agent and customer."""
    if not roles.is_admin(connection.scope.get("user")):
        raise ForbiddenError("only admins can read reports", type_slug="admins-only")


class ReportsController(Controller):
    path = "/api/v1/reports"
    guards = [requires_agent, requires_admin_token]
    tags = ["reports"]

    @get("/", summary="Every report figure for a period (admins)")
    async def report(
        self,
        db_session: NamedDependency[AsyncSession],
        writer: NamedDependency[Writer],
        agent: NamedDependency[Agent],
        start: From = None,
        end: To = None,
        channel: Channel = None,
        tz: Zone = None,
    ) -> ReportOut:
        """``from``/``to`` are local days (both included, default the last 30 days) in ``tz`` (default
        the agent's time zone); ``channel`` narrows every figure to one channel."""
        period = parse_period(start, end, channel, _checked_zone(tz) or agent.timezone)
        return report_out(await current_report(writer, db_session, period))


api_handlers: list[ControllerRouterHandler] = [ReportsController]
