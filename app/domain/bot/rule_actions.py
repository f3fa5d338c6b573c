"""The writers of the bot's rules and settings (the YAML import, the console's editor).

Every change is checked as a whole rule set before anything is written (``RuleSet.from_dict`` on the
result), runs in one transaction, and bumps ``bot_settings.version`` so every process rebuilds its
engine on its next turn (``store.EngineCache``). A change that does not hold raises
``InvalidInputError`` with the reason and leaves the stored rules as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from app.db.models import BotRule, BotSettings, utcnow
from app.domain.bot.rules import Rule, RulesError, RuleSet
from app.domain.bot.store import SETTINGS_ID, load_ruleset
from app.domain.realtime.writer import Transaction, Writer
from app.i18n import N_
from app.lib.errors import InvalidInputError, NotFoundError, Reason

DEFAULT_RULES = RuleSet(
    default_language="nl",
    handoff_phrases={"nl": ("medewerker", "mens spreken"), "en": ("human", "agent", "talk to a person")},
    handoff_message={"nl": "Ik verbind je met een collega.", "en": "Let me get a colleague for you."},
    rules=(),
)
"""What a first rule saved in the console joins when no rules were ever imported."""


def invalid_rules(exc: RulesError) -> InvalidInputError:
    """A rules error as the 422 the console and the API show (line and rule when known)."""
    if exc.line is not None:
        reason = Reason(N_("line %(line)s: %(reason)s"), {"line": str(exc.line), "reason": exc.reason})
    elif exc.rule_id is not None:
        reason = Reason(N_("rule %(rule)s: %(reason)s"), {"rule": exc.rule_id, "reason": exc.reason})
    else:
        reason = Reason(exc.reason)
    return InvalidInputError(reason, type_slug="invalid-rules", line=exc.line, rule_id=exc.rule_id)


def checked(rules: RuleSet) -> RuleSet:
    """``rules`` as it reads back from its own document; what is stored must load again."""
    try:
        return RuleSet.from_dict(rules.to_dict())
    except RulesError as exc:
        raise invalid_rules(exc) from None


async def _change(writer: Writer, edit: Callable[[RuleSet], RuleSet]) -> RuleSet:
    """Read the stored set under the settings row's lock, apply ``edit``, check it, store it."""

    async def work(tx: Transaction) -> RuleSet:
        settings = await _locked_settings(tx)
        current = await load_ruleset(tx.session) if settings.version else None
        updated = checked(edit(current or DEFAULT_RULES))
        await _store(tx, settings, updated)
        return updated

    return await writer.run(work)


async def _locked_settings(tx: Transaction) -> BotSettings:
    settings = await tx.session.get(BotSettings, SETTINGS_ID, with_for_update=True, populate_existing=True)
    if settings is None:
        # Two first imports at once both insert id 1: the loser's unique-key conflict runs its
        # unit again, and it finds this row.
        settings = BotSettings(id=SETTINGS_ID, data={}, version=0)
        tx.session.add(settings)
        await tx.session.flush()
    return settings


async def _store(tx: Transaction, settings: BotSettings, rules: RuleSet) -> None:
    """Write ``rules`` over what is stored: changed rows only, removed ones deleted."""
    document = rules.to_dict()
    wanted: list[dict[str, Any]] = list(document.pop("rules", []))
    session = tx.session
    existing = {row.id: row for row in (await session.execute(select(BotRule))).scalars()}
    keep = {item["id"] for item in wanted}
    gone = [rule_id for rule_id in existing if rule_id not in keep]
    if gone:
        await session.execute(delete(BotRule).where(col(BotRule.id).in_(gone)))
    now = utcnow()
    for position, item in enumerate(wanted):
        rule_id = item["id"]
        enabled = bool(item.get("enabled", True))
        row = existing.get(rule_id)
        if row is None:
            session.add(BotRule(id=rule_id, position=position, enabled=enabled, data=item, updated_at=now))
        elif (row.position, row.enabled, row.data) != (position, enabled, item):
            row.position, row.enabled, row.data, row.updated_at = position, enabled, item, now
    settings.data = document
    settings.version += 1
    settings.updated_at = now
    await session.flush()


async def do_import_rules(writer: Writer, rules: RuleSet) -> None:
    """Replace every rule and setting with ``rules`` (the YAML import), all or nothing."""
    await _change(writer, lambda _current: rules)


async def do_save_rule(writer: Writer, rule: Rule, *, original_id: str | None = None) -> None:
    """Add ``rule`` (``original_id`` None) or replace the rule ``original_id`` with it (which may
    rename it, keeping its place). An id another rule has is refused."""

    def edit(current: RuleSet) -> RuleSet:
        ids = [existing.id for existing in current.rules]
        if original_id is not None and original_id not in ids:
            raise NotFoundError(
                Reason(N_("rule %(rule)s does not exist"), {"rule": original_id}), type_slug="rule-not-found"
            )
        if rule.id in ids and rule.id != original_id:
            raise InvalidInputError(
                Reason(N_("a rule with id %(rule)s already exists"), {"rule": rule.id}),
                type_slug="duplicate-rule-id",
            )
        if original_id is None:
            return dataclasses.replace(current, rules=(*current.rules, rule))
        return dataclasses.replace(
            current,
            rules=tuple(rule if existing.id == original_id else existing for existing in current.rules),
        )

    await _change(writer, edit)


def _existing(current: RuleSet, rule_id: str) -> Rule:
    found = current.rule(rule_id)
    if found is None:
        raise NotFoundError(
            Reason(N_("rule %(rule)s does not exist"), {"rule": rule_id}), type_slug="rule-not-found"
        )
    return found


async def do_set_rule_enabled(writer: Writer, rule_id: str, enabled: bool) -> None:
    """Switch one rule on or off (a disabled rule is kept, and never answers)."""

    def edit(current: RuleSet) -> RuleSet:
        target = _existing(current, rule_id)
        changed = dataclasses.replace(target, enabled=enabled)
        return dataclasses.replace(
            current, rules=tuple(changed if rule.id == rule_id else rule for rule in current.rules)
        )

    await _change(writer, edit)


async def do_delete_rule(writer: Writer, rule_id: str) -> None:
    """Remove one rule."""

    def edit(current: RuleSet) -> RuleSet:
        _existing(current, rule_id)
        return dataclasses.replace(current, rules=tuple(rule for rule in current.rules if rule.id != rule_id))

    await _change(writer, edit)


async def do_save_bot_settings(writer: Writer, settings: RuleSet) -> None:
    """Store everything in ``settings`` but its rules (language, handoff, greeting, texts,
    thresholds, the bot on/off); the stored rules stay. Refused when they would no longer hold
    (a new default language that some rule has no answer in)."""
    await _change(writer, lambda current: dataclasses.replace(settings, rules=current.rules))
