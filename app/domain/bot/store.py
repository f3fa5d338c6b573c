"""Reading the bot's rules from the database, and the compiled engine each process keeps.

The rules are stored as one settings row (the rule set's document without its rules) and one row per
rule (``app/db/models.py``). Compiling an engine costs far more than a turn, so each process keeps
the one it built together with ``bot_settings.version``; every change bumps that version
(``rule_actions``), and a turn pays one primary-key read to learn whether its engine is still good.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import BotRule, BotSettings
from app.domain.bot.engine import BotEngine
from app.domain.bot.rules import RulesError, RuleSet

log = logging.getLogger(__name__)

SETTINGS_ID = 1


def rule_document(row: BotRule) -> dict[str, Any]:
    """A stored rule as the rule set's document holds it; the ``enabled`` column is the truth."""
    return {**row.data, "id": row.id, "enabled": row.enabled}


async def load_document(session: AsyncSession) -> dict[str, Any] | None:
    """The stored rule set as its document (``RuleSet.to_dict()`` shape), or ``None`` when no bot
    has been configured yet."""
    settings = await session.get(BotSettings, SETTINGS_ID, populate_existing=True)
    if settings is None:
        return None
    rows = (await session.execute(select(BotRule).order_by(col(BotRule.position), col(BotRule.id)))).scalars()
    return {**settings.data, "rules": [rule_document(row) for row in rows]}


async def load_ruleset(session: AsyncSession) -> RuleSet | None:
    """The stored rule set, or ``None`` when no bot is configured.

    Only ``rule_actions`` writes these rows, and it validates the whole set before writing, so a
    stored set that no longer reads (rows edited by hand, say) is logged and treated as no bot:
    customers then reach people, never a half-understood rule.
    """
    document = await load_document(session)
    if document is None:
        return None
    try:
        return RuleSet.from_dict(document)
    except RulesError as exc:
        log.error("the stored bot rules do not read (%s); the bot is off until they are fixed", exc)
        return None


async def stored_version(session: AsyncSession) -> int | None:
    """``bot_settings.version``, or ``None`` without a settings row (one primary-key read)."""
    stamp = await _stamp(session)
    return None if stamp is None else stamp[0]


async def _stamp(session: AsyncSession) -> tuple[int, datetime] | None:
    row = (
        await session.execute(
            select(col(BotSettings.version), col(BotSettings.updated_at)).where(
                col(BotSettings.id) == SETTINGS_ID
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


def is_active(rules: RuleSet | None) -> bool:
    """Whether the bot takes new conversations: switched on and with at least one enabled rule."""
    return rules is not None and rules.enabled and any(rule.enabled for rule in rules.rules)


@dataclass(frozen=True, slots=True)
class LoadedBot:
    """A rule set and its compiled engine, as of ``version``."""

    version: int
    rules: RuleSet
    engine: BotEngine

    @property
    def active(self) -> bool:
        return is_active(self.rules)


class EngineCache:
    """This process's compiled engine, rebuilt only when ``bot_settings.version`` moved.

    The key also holds the database and the row's ``updated_at``: one process may talk to several
    databases (tests do), where the same version number means different rules.
    """

    def __init__(self) -> None:
        self._loaded: LoadedBot | None = None
        self._key: tuple[str, int, datetime] | None = None
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession) -> LoadedBot | None:
        """The current bot, or ``None`` when none is configured (or its rules do not read)."""
        stamp = await _stamp(session)
        if stamp is None:
            return None
        key = (_database_of(session), *stamp)
        if key == self._key:
            return self._loaded
        async with self._lock:
            if key == self._key:
                return self._loaded
            # The stamp was read before the rows: a change committed in between gives rows newer
            # than the key, so the next turn sees a newer stamp and rebuilds (never the reverse).
            rules = await load_ruleset(session)
            loaded = LoadedBot(stamp[0], rules, BotEngine(rules)) if rules is not None else None
            self._loaded, self._key = loaded, key
            return loaded

    def clear(self) -> None:
        """Forget the compiled engine."""
        self._loaded, self._key = None, None


def _database_of(session: AsyncSession) -> str:
    url = getattr(session.bind, "url", None)
    return url.render_as_string(hide_password=True) if url is not None else ""


engine_cache = EngineCache()
"""The process's one cache: every turn, the try-it endpoint and the console read through it."""


async def takes_new_conversations(session: AsyncSession) -> bool:
    """Whether a new conversation starts with the bot (``bot``) rather than with people (``open``):
    a bot is configured, switched on, and has an enabled rule. Two small reads, without compiling
    anything (ingest asks this inside its transaction)."""
    settings = await session.get(BotSettings, SETTINGS_ID)
    if settings is None or settings.data.get("enabled", True) is False:
        return False
    enabled = await session.execute(select(col(BotRule.id)).where(col(BotRule.enabled).is_(True)).limit(1))
    return enabled.first() is not None
