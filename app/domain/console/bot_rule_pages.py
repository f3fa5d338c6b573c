"""The bot's rules and settings (admins): list, add, edit, switch off, delete; the bot's settings.

Forms post and get a 303; a refused one comes back (422, or 404 for a rule deleted meanwhile) with
the reason beside the field at fault and everything typed kept. Nothing is half-saved: each change
is checked as a whole rule set and written in one transaction (``bot.rule_actions``). With HTMX the
same pages are fetched and only ``#bot-content`` is swapped (``hx-select``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, utcnow
from app.domain.bot.queries import RuleFigures, rule_figures
from app.domain.bot.review_actions import do_dismiss_question
from app.domain.bot.rule_actions import (
    do_delete_rule,
    do_save_bot_settings,
    do_save_rule,
    do_set_rule_enabled,
)
from app.domain.bot.rules import Rule, RuleSet
from app.domain.console.bot_frame import languages_of, page, rules_or_default, stored_rules
from app.domain.console.bot_rule_form import FORM_ERROR, FormErrors, RuleForm, SettingsForm
from app.domain.realtime.writer import Writer
from app.i18n import N_
from app.lib.errors import DomainError, NotFoundError, Reason

FIGURES_DAYS = 30
"""The rules list shows each rule's figures over this many days (the figures page takes any range)."""
NO_SUCH_RULE = N_("There is no rule %(rule)s (any more): it may have been deleted or renamed.")
SAVED = N_("Rule %(rule)s saved.")


@dataclass(frozen=True)
class RuleRow:
    """One line of the rules list."""

    id: str
    title: str
    enabled: bool
    handoff_after: bool
    examples: int
    figures: RuleFigures


def _rows(rules: RuleSet, figures: dict[str, RuleFigures]) -> list[RuleRow]:
    return [
        RuleRow(
            id=rule.id,
            title=rule.title_for(rules.default_language, rules.default_language),
            enabled=rule.enabled,
            handoff_after=rule.handoff_after,
            examples=sum(len(questions) for questions in rule.questions.values()),
            figures=figures.get(rule.id, RuleFigures(rule.id)),
        )
        for rule in rules.rules
    ]


async def _list_page(
    request: Request[Any, Any, Any], session: AsyncSession, *, status: int = 200, **extra: Any
) -> Template:
    rules = await stored_rules(session)
    figures = await rule_figures(session, start=utcnow() - timedelta(days=FIGURES_DAYS))
    return page(
        request,
        "rules.html",
        "rules",
        status=status,
        rules=rules,
        rows=_rows(rules, figures) if rules else [],
        figures_days=FIGURES_DAYS,
        **extra,
    )


@get("/rules", include_in_schema=False)
async def rules_page(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
    """Every rule in the order the bot weighs them, with its answers and feedback of the last days."""
    saved = request.query_params.get("saved")
    return await _list_page(request, db_session, saved=saved[:80] if saved else None)


def _rule_page(
    request: Request[Any, Any, Any],
    rules: RuleSet,
    form: RuleForm,
    *,
    original_id: str | None,
    status: int = 200,
    errors: dict[str, Reason] | None = None,
    keep: Rule | None = None,
    **extra: Any,
) -> Template:
    languages = languages_of(rules, *(name.rpartition("_")[2] for name in form.values))
    return page(
        request,
        "rule_edit.html",
        "rules",
        status=status,
        form=form,
        original_id=original_id,
        languages=languages,
        default_language=rules.default_language,
        errors=errors or {},
        form_error=(errors or {}).get(FORM_ERROR),
        channel_answers=sorted(keep.channel_answers) if keep else [],
        **extra,
    )


@get("/rules/new", include_in_schema=False)
async def new_rule_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Template:
    """An empty rule; ``?question=…&lang=…`` starts it from a customer's question (the unanswered list)."""
    rules = await rules_or_default(db_session)
    question = (request.query_params.get("question") or "").replace("\x00", "")[:500]
    lang = (request.query_params.get("lang") or rules.default_language).lower()
    form = RuleForm()
    if question and len(lang) <= 3 and lang.isalpha():
        form = form.with_question(lang, question)
    return _rule_page(request, rules, form, original_id=None, from_question=question or None)


async def _stored_rule(session: AsyncSession, rule_id: str) -> tuple[RuleSet, Rule]:
    rules = await stored_rules(session)
    rule = rules.rule(rule_id) if rules else None
    if rules is None or rule is None:
        raise NotFoundError(Reason(NO_SUCH_RULE, {"rule": rule_id}), type_slug="rule-not-found")
    return rules, rule


@get("/rules/{rule_id:str}/edit", include_in_schema=False)
async def edit_rule_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], rule_id: FromPath[str]
) -> Template:
    """One rule: its example questions, keywords, synonyms and answers per language."""
    rules, rule = await _stored_rule(db_session, rule_id)
    return _rule_page(request, rules, RuleForm.from_rule(rule), original_id=rule.id, keep=rule)


async def _save(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    writer: Writer,
    agent: Agent,
    original_id: str | None,
) -> Response[Any]:
    posted = await request.form()
    form = RuleForm.from_form(posted)
    from_question = posted.get("from_question")
    from_question = from_question[:1000] if isinstance(from_question, str) else None
    rules = await rules_or_default(session)
    keep = rules.rule(original_id) if original_id else None
    if original_id is not None and keep is None:
        raise NotFoundError(Reason(NO_SUCH_RULE, {"rule": original_id}), type_slug="rule-not-found")
    try:
        rule = form.rule(rules.default_language, keep)
        await do_save_rule(writer, rule, original_id=original_id)
    except FormErrors as exc:
        return _rule_page(
            request,
            rules,
            form,
            original_id=original_id,
            status=422,
            errors=exc.errors,
            keep=keep,
            from_question=from_question,
        )
    except DomainError as exc:
        field = "id" if exc.type_slug == "duplicate-rule-id" else FORM_ERROR
        status = exc.status_code if exc.status_code in (404, 409, 422) else 422
        return _rule_page(
            request,
            rules,
            form,
            original_id=original_id,
            status=status,
            errors={field: exc.reason},
            keep=keep,
            from_question=from_question,
        )
    if from_question:
        # Made from an unanswered question: it has its rule now, so it leaves that list.
        await do_dismiss_question(writer, agent=agent, question=from_question)
    return Redirect(f"/bot/rules?saved={rule.id}#rule-{rule.id}", status_code=303)


@post("/rules", include_in_schema=False, status_code=303)
async def create_rule(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
) -> Response[Any]:
    """Add a rule at the end of the list."""
    return await _save(request, db_session, writer, agent, None)


@post("/rules/{rule_id:str}", include_in_schema=False, status_code=303)
async def update_rule(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    rule_id: FromPath[str],
) -> Response[Any]:
    """Replace the rule (a new id renames it, in its place)."""
    return await _save(request, db_session, writer, agent, rule_id)


@post("/rules/{rule_id:str}/enabled", include_in_schema=False, status_code=303)
async def set_rule_enabled(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    rule_id: FromPath[str],
) -> Response[Any]:
    """Switch a rule off (kept, never answers) or on again."""
    form = await request.form()
    try:
        await do_set_rule_enabled(writer, rule_id, form.get("enabled") == "1")
    except DomainError as exc:
        return await _list_page(request, db_session, status=exc.status_code, list_error=exc.reason)
    return Redirect(f"/bot/rules#rule-{rule_id}", status_code=303)


@post("/rules/{rule_id:str}/delete", include_in_schema=False, status_code=303)
async def delete_rule(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    rule_id: FromPath[str],
) -> Response[Any]:
    """Remove a rule for good (its past decisions stay in the figures under its id)."""
    try:
        await do_delete_rule(writer, rule_id)
    except DomainError as exc:
        return await _list_page(request, db_session, status=exc.status_code, list_error=exc.reason)
    return Redirect("/bot/rules", status_code=303)


# --- the bot's settings ----------------------------------------------------------------------------


def _settings_page(
    request: Request[Any, Any, Any],
    rules: RuleSet,
    form: SettingsForm,
    *,
    status: int = 200,
    errors: dict[str, Reason] | None = None,
    **extra: Any,
) -> Template:
    languages = (
        languages_of(rules, form.default_language) if form.default_language.isalpha() else languages_of(rules)
    )
    return page(
        request,
        "settings.html",
        "settings",
        status=status,
        form=form,
        languages=languages,
        errors=errors or {},
        form_error=(errors or {}).get(FORM_ERROR),
        **extra,
    )


@get("/settings", include_in_schema=False)
async def bot_settings_page(
    request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Template:
    """The bot on or off, its default language, handoff phrases and message, greeting, thresholds."""
    rules = await rules_or_default(db_session)
    saved = request.query_params.get("saved") == "1"
    return _settings_page(request, rules, SettingsForm.from_rules(rules), saved=saved)


@post("/settings", include_in_schema=False, status_code=303)
async def save_bot_settings(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
) -> Response[Any]:
    """Check every field, then save them all (the rules stay as they are), or none."""
    form = SettingsForm.from_form(await request.form())
    rules = await rules_or_default(db_session)
    try:
        await do_save_bot_settings(writer, form.settings(rules))
    except FormErrors as exc:
        return _settings_page(request, rules, form, status=422, errors=exc.errors)
    except DomainError as exc:
        # The rules no longer hold with these settings (a default language some rule cannot answer in).
        return _settings_page(request, rules, form, status=422, errors={"default_language": exc.reason})
    return Redirect("/bot/settings?saved=1", status_code=303)


route_handlers = [
    rules_page,
    new_rule_page,
    edit_rule_page,
    create_rule,
    update_rule,
    set_rule_enabled,
    delete_rule,
    bot_settings_page,
    save_bot_settings,
]
