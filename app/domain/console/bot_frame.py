"""The frame every bot page shares (admins): the bot's section navigation, and its rules as stored.

The pages themselves are in ``bot_rule_pages`` (rules and settings), ``bot_review_pages`` (try it,
unanswered questions, figures) and ``bot_transfer_pages`` (YAML import and export); ``bot_pages``
puts them on one router behind ``roles.requires_admin``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.bot.rule_actions import DEFAULT_RULES
from app.domain.bot.rules import RuleSet
from app.domain.bot.store import load_ruleset
from app.domain.console import roles
from app.i18n import N_

SECTIONS = (
    ("rules", "/bot/rules", N_("Rules")),
    ("try", "/bot/try", N_("Try it")),
    ("unanswered", "/bot/unanswered", N_("Unanswered questions")),
    ("stats", "/bot/stats", N_("Figures")),
    ("transfer", "/bot/transfer", N_("Import and export")),
    ("settings", "/bot/settings", N_("Bot settings")),
)
"""(key, path, label) — the bot's navigation, in order."""

BASE_LANGUAGES = ("nl", "en")
"""Languages every rule form offers, whatever the rules hold so far (the console speaks both)."""

LANGUAGE_NAMES = {"nl": N_("Dutch"), "en": N_("English"), "de": N_("German"), "fr": N_("French")}

HANDOFF_REASONS = {
    "asked_for_person": N_("asked for a person"),
    "no_match": N_("no rule matched"),
    "second_miss": N_("missed twice in a row"),
    "not_helpful": N_("the answer did not help"),
    "empty": N_("nothing to match"),
    "too_long": N_("too long"),
    "unsupported_language": N_("a language the bot does not speak"),
    "handoff_after": N_("the rule hands over after answering"),
    "bot_off": N_("the bot is switched off"),
    "channel_unavailable": N_("could not reply on this channel"),
}
"""Why the bot handed a conversation over, as admins and agents read it (codes from the bot's turn)."""


def reason_label(reason: object) -> str:
    """A handoff reason code as a label (translated with ``| t``); unknown codes as they are."""
    return HANDOFF_REASONS.get(str(reason), str(reason or ""))


def language_name(code: object) -> str:
    """A language code as a label (translated with ``| t``); other codes as they are."""
    return LANGUAGE_NAMES.get(str(code), str(code or ""))


def page(
    request: Request[Any, Any, Any], template: str, section: str, status: int = 200, **context: Any
) -> Template:
    """One bot page in the console's frame, with the bot's navigation."""
    return Template(
        template_name=f"pages/bot/{template}",
        context={"agent": request.scope.get("user"), "bot_section": section, "bot_nav": SECTIONS, **context},
        status_code=status,
    )


async def stored_rules(session: AsyncSession) -> RuleSet | None:
    """The rules as stored, or ``None`` before any rule or setting was saved."""
    return await load_ruleset(session)


async def rules_or_default(session: AsyncSession) -> RuleSet:
    """The stored rules, or what a first saved rule joins (``rule_actions.DEFAULT_RULES``)."""
    return await load_ruleset(session) or DEFAULT_RULES


def languages_of(rules: RuleSet, *extra: str) -> list[str]:
    """Every language the rules use, plus ``BASE_LANGUAGES`` and ``extra``: the default first."""
    found: set[str] = {*BASE_LANGUAGES, *extra, rules.default_language}
    found.update(rules.handoff_phrases, rules.handoff_message, rules.greeting)
    for rule in rules.rules:
        found.update(rule.questions, rule.answer, rule.keywords, rule.synonyms, rule.title)
    return [rules.default_language, *sorted(found - {rules.default_language})]


TEMPLATE_FILTERS: dict[str, Any] = {
    "reason_label": reason_label,
    "language_name": language_name,
    "is_admin": roles.is_admin,
}
