"""What the bot does and did (admins): try a question, the unanswered questions, the figures.

- ``/bot/try``: a question (and a language, or detected) put to the stored rules exactly as a
  customer's would be: the outcome, the language, each candidate rule's score and the reply. With
  HTMX only the result is swapped in; nothing is recorded.
- ``/bot/unanswered``: what customers asked that the bot handed over (no rule matched, a second
  miss) or answered unhelpfully, grouped by the question's normalized text, most recent first; each
  one can start a new rule, be added as an example to a rule, or be dismissed.
- ``/bot/stats``: per-rule answers and feedback, handoffs by reason, the answered share, over a
  date range in the admin's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, utcnow
from app.domain.bot.engine import Decision
from app.domain.bot.queries import bot_summary, rule_figures, unanswered_questions
from app.domain.bot.review_actions import do_dismiss_question
from app.domain.bot.rule_actions import do_save_rule
from app.domain.bot.rules import RuleSet
from app.domain.bot.store import engine_cache
from app.domain.console.bot_frame import languages_of, page, stored_rules
from app.domain.console.bot_rule_form import FormErrors, RuleForm
from app.domain.console.forms import FORM
from app.domain.realtime.writer import Writer
from app.i18n import N_, zone
from app.lib.errors import DomainError, InvalidInputError, Reason
from app.lib.fields import text

TRY_MAX = 25_000
"""Longer than the bot reads (it hands a very long message over): the try-it can show that too."""
RANGES = (7, 30, 90, 365)
NO_RULES = N_("There are no rules yet: add one or import a file first.")


# --- try it ----------------------------------------------------------------------------------------


@dataclass
class TryForm:
    text: Annotated[str, text(max_length=TRY_MAX)] = ""
    lang: Annotated[str, text(max_length=10)] = ""


@dataclass(frozen=True)
class CandidateRow:
    rule_id: str
    title: str
    score: float
    enabled: bool


@dataclass(frozen=True)
class TryResult:
    """A decision as the try-it panel shows it."""

    decision: Decision
    candidates: list[CandidateRow]
    reply: str
    """What the customer would read (the answer, the "Did you mean" question, the handoff message)."""
    suggestions: list[str]
    bot_enabled: bool


def _result(rules: RuleSet, decision: Decision) -> TryResult:
    lang = decision.language or rules.default_language
    rows = []
    for candidate in decision.candidates:
        rule = rules.rule(candidate.rule_id)
        rows.append(
            CandidateRow(
                rule_id=candidate.rule_id,
                title=rule.title_for(lang, rules.default_language) if rule else candidate.rule_id,
                score=candidate.score,
                enabled=rule.enabled if rule else False,
            )
        )
    suggestions: list[str] = []
    if decision.outcome == "answer":
        reply = decision.answer or ""
    elif decision.outcome == "suggest":
        reply = rules.text("did_you_mean", lang)
        suggestions = [row.title for row in rows[:3]]
    else:
        reply = rules.text("handoff", lang)
    return TryResult(decision, rows, reply, suggestions, rules.enabled)


async def _try_page(
    request: HTMXRequest,
    session: AsyncSession,
    form: TryForm,
    *,
    result: TryResult | None = None,
    **extra: Any,
) -> Template:
    rules = await stored_rules(session)
    context = {
        "form": form,
        "languages": languages_of(rules) if rules else [],
        "result": result,
        "has_rules": rules is not None and bool(rules.rules),
        **extra,
    }
    if request.htmx and request.method == "POST":
        return HTMXTemplate(template_name="partials/bot_try_result.html", context=context)
    return page(request, "try.html", "try", **context)


@get("/try", include_in_schema=False)
async def try_page(request: HTMXRequest, db_session: NamedDependency[AsyncSession]) -> Template:
    """A box for a question; the answer appears below (``POST``)."""
    return await _try_page(request, db_session, TryForm())


@post("/try", include_in_schema=False, status_code=200)
async def try_question(
    request: HTMXRequest, db_session: NamedDependency[AsyncSession], data: Annotated[TryForm, FORM]
) -> Template:
    """Put the question to the stored rules and show the decision (recorded nowhere)."""
    loaded = await engine_cache.get(db_session)
    if loaded is None:
        return await _try_page(request, db_session, data, error=Reason(NO_RULES))
    lang = data.lang if data.lang in languages_of(loaded.rules) else None
    decision = loaded.engine.decide(data.text, language=lang)
    return await _try_page(request, db_session, data, result=_result(loaded.rules, decision))


# --- unanswered questions ----------------------------------------------------------------------------


def _days(raw: str | None, default: int = 30) -> int:
    try:
        days = int(raw or default)
    except ValueError:
        return default
    return days if days in RANGES else default


@dataclass
class QuestionForm:
    question: Annotated[str, text(max_length=1000)] = ""
    lang: Annotated[str, text(max_length=10)] = ""
    rule_id: Annotated[str, text(max_length=80)] = ""


async def _unanswered_page(
    request: Request[Any, Any, Any], session: AsyncSession, *, status: int = 200, **extra: Any
) -> Template:
    days = _days(request.query_params.get("days"))
    questions = await unanswered_questions(session, start=utcnow() - timedelta(days=days))
    rules = await stored_rules(session)
    return page(
        request,
        "unanswered.html",
        "unanswered",
        status=status,
        questions=questions,
        rules=rules.rules if rules else (),
        default_language=rules.default_language if rules else "nl",
        days=days,
        ranges=RANGES,
        **extra,
    )


@get("/unanswered", include_in_schema=False)
async def unanswered_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Template:
    """The questions the bot could not answer, most recently asked first, with how often."""
    added = request.query_params.get("added")
    return await _unanswered_page(request, db_session, added=added[:80] if added else None)


@post("/unanswered/dismiss", include_in_schema=False, status_code=303)
async def dismiss_question(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    data: Annotated[QuestionForm, FORM],
) -> Response[Any]:
    """Take the question off the list (asked again later, it comes back)."""
    try:
        await do_dismiss_question(writer, agent=agent, question=data.question)
    except DomainError as exc:
        return await _unanswered_page(request, db_session, status=exc.status_code, list_error=exc.reason)
    return Redirect(f"/bot/unanswered?days={_days(request.query_params.get('days'))}", status_code=303)


@post("/unanswered/add", include_in_schema=False, status_code=303)
async def add_to_rule(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    data: Annotated[QuestionForm, FORM],
) -> Response[Any]:
    """Add the question as an example of a rule (in its language), then take it off the list."""
    rules = await stored_rules(db_session)
    rule = rules.rule(data.rule_id) if rules else None
    try:
        if rules is None or rule is None:
            raise InvalidInputError(N_("Pick a rule from the list."), type_slug="rule-not-found")
        lang = data.lang if data.lang in languages_of(rules) else rules.default_language
        form = RuleForm.from_rule(rule).with_question(lang, data.question)
        await do_save_rule(writer, form.rule(rules.default_language, rule), original_id=rule.id)
        await do_dismiss_question(writer, agent=agent, question=data.question)
    except FormErrors as exc:
        reason = next(iter(exc.errors.values()))
        return await _unanswered_page(request, db_session, status=422, list_error=reason)
    except DomainError as exc:
        return await _unanswered_page(request, db_session, status=exc.status_code, list_error=exc.reason)
    return Redirect(f"/bot/unanswered?added={rule.id}", status_code=303)


# --- figures -----------------------------------------------------------------------------------------

BAD_RANGE = N_("Pick a start date on or before the end date (as 2026-05-31).")


def _parse_day(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


@get("/stats", include_in_schema=False)
async def stats_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    start: Annotated[str | None, QueryParameter(name="from", max_length=20)] = None,
    end: Annotated[str | None, QueryParameter(name="to", max_length=20)] = None,
) -> Template:
    """The bot's figures between two dates (both included), in the admin's time zone."""
    tz = zone(agent.timezone)
    today = datetime.now(tz).date()
    first, last = _parse_day(start), _parse_day(end)
    error = None
    if (start and first is None) or (end and last is None) or (first and last and first > last):
        error = Reason(BAD_RANGE)
        first = last = None
    last = last or today
    first = first or last - timedelta(days=29)
    since = datetime.combine(first, time.min, tz)
    until = datetime.combine(last + timedelta(days=1), time.min, tz)
    summary = await bot_summary(db_session, start=since, end=until)
    figures = await rule_figures(db_session, start=since, end=until)
    rules = await stored_rules(db_session)
    titles = (
        {rule.id: rule.title_for(rules.default_language, rules.default_language) for rule in rules.rules}
        if rules
        else {}
    )
    ordered = sorted(figures.values(), key=lambda f: (-f.answered, -f.suggested, f.rule_id))
    return page(
        request,
        "stats.html",
        "stats",
        status=422 if error else 200,
        summary=summary,
        figures=ordered,
        titles=titles,
        first=first.isoformat(),
        last=last.isoformat(),
        error=error,
    )


route_handlers = [try_page, try_question, unanswered_page, dismiss_question, add_to_rule, stats_page]
