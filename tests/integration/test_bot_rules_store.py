"""The bot's rules in the database, on both shapes: the writers the console and the import use, and
each process's compiled engine, rebuilt only when the stored version moved."""

from __future__ import annotations

import dataclasses

import pytest

from app.domain.bot.rule_actions import (
    do_delete_rule,
    do_import_rules,
    do_save_bot_settings,
    do_save_rule,
    do_set_rule_enabled,
)
from app.domain.bot.rules import Rule
from app.domain.bot.store import EngineCache, load_ruleset, stored_version
from app.domain.realtime.writer import Writer
from app.lib.errors import InvalidInputError, NotFoundError
from tests.helpers import Api
from tests.integration.bot_helpers import AMBIGUOUS

SIZES = Rule(
    id="sizes",
    questions={"en": ("Which size should I take?",)},
    answer={"en": "See the size chart on every product page."},
)


async def stored(writer: Writer):  # type: ignore[no-untyped-def]
    async with writer.sessionmaker() as session:
        return await load_ruleset(session), await stored_version(session)


async def test_nothing_configured_means_no_bot(api: Api) -> None:
    assert await stored(api.writer) == (None, None)
    async with api.writer.sessionmaker() as session:
        assert await EngineCache().get(session) is None


async def test_each_change_is_stored_whole_and_bumps_the_version(api: Api) -> None:
    await do_import_rules(api.writer, AMBIGUOUS)
    rules, version = await stored(api.writer)
    assert rules == AMBIGUOUS and version == 1

    await do_save_rule(api.writer, SIZES)
    await do_set_rule_enabled(api.writer, "opening-hours", False)
    renamed = dataclasses.replace(SIZES, id="size-chart")
    await do_save_rule(api.writer, renamed, original_id="sizes")
    await do_delete_rule(api.writer, "return-shoes")

    rules, version = await stored(api.writer)
    assert rules is not None and version == 5
    assert [rule.id for rule in rules.rules] == ["return-clothes", "opening-hours", "size-chart"]
    assert rules.rule("opening-hours").enabled is False  # type: ignore[union-attr]
    assert rules.rule("size-chart") == renamed


async def test_refused_changes_leave_the_rules_as_they_were(api: Api) -> None:
    await do_import_rules(api.writer, AMBIGUOUS)

    with pytest.raises(InvalidInputError, match="already exists"):
        await do_save_rule(api.writer, dataclasses.replace(SIZES, id="return-shoes"))
    with pytest.raises(InvalidInputError, match="already exists"):
        await do_save_rule(
            api.writer, dataclasses.replace(SIZES, id="return-shoes"), original_id="opening-hours"
        )
    with pytest.raises(NotFoundError):
        await do_save_rule(api.writer, SIZES, original_id="nope")
    with pytest.raises(NotFoundError):
        await do_delete_rule(api.writer, "nope")
    # A rule without an answer in the default language cannot be stored.
    with pytest.raises(InvalidInputError, match="default language"):
        await do_save_rule(api.writer, dataclasses.replace(SIZES, answer={"nl": "Zie de maattabel."}))
    # Nor a default language some rule has no answer in.
    with pytest.raises(InvalidInputError, match="default language"):
        await do_save_bot_settings(api.writer, dataclasses.replace(AMBIGUOUS, default_language="nl"))

    assert await stored(api.writer) == (AMBIGUOUS, 1)


async def test_settings_change_everything_but_the_rules(api: Api) -> None:
    await do_import_rules(api.writer, AMBIGUOUS)
    await do_save_bot_settings(
        api.writer, dataclasses.replace(AMBIGUOUS, rules=(), enabled=False, greeting={"en": "Hello!"})
    )
    rules, version = await stored(api.writer)
    assert rules == dataclasses.replace(AMBIGUOUS, enabled=False, greeting={"en": "Hello!"}) and version == 2


async def test_the_engine_is_rebuilt_only_after_a_change(api: Api) -> None:
    cache = EngineCache()
    await do_import_rules(api.writer, AMBIGUOUS)
    async with api.writer.sessionmaker() as session:
        first = await cache.get(session)
        again = await cache.get(session)
    assert first is not None and again is first, "no change: the compiled engine is reused"
    assert first.engine.decide("When is your shop open?").rule_id == "opening-hours"

    await do_set_rule_enabled(api.writer, "opening-hours", False)
    async with api.writer.sessionmaker() as session:
        rebuilt = await cache.get(session)
    assert rebuilt is not None and rebuilt is not first
    assert rebuilt.engine.decide("When is your shop open?").rule_id is None
