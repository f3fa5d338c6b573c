"""What the bot's integration tests share: rule sets, waiting for a turn, reading decisions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlmodel import col

from app.db.models import BotDecision
from app.domain.bot.rule_actions import do_import_rules
from app.domain.bot.rules import RuleSet
from app.domain.bot.rules_yaml import load_rules_yaml
from app.domain.realtime.writer import Writer
from tests.helpers import Api

T = TypeVar("T")

DEMO_RULES_FILE = Path(__file__).parents[2] / "app" / "domain" / "bot" / "demo_rules.yaml"
DEMO = load_rules_yaml(DEMO_RULES_FILE.read_text(encoding="utf-8"))

# Two rules with the same example question: no engine can tell them apart, so it must ask.
AMBIGUOUS_YAML = """\
default_language: en
handoff:
  phrases: {en: [agent], nl: [medewerker]}
  message: {en: "Let me get a colleague for you.", nl: "Ik verbind je met een collega."}
rules:
  - id: return-shoes
    title: {en: Returning shoes}
    questions: {en: ["How do I send an item back?"]}
    answer: {en: "Shoes go back in their box."}
  - id: return-clothes
    title: {en: Returning clothes}
    questions: {en: ["How do I send an item back?"]}
    answer: {en: "Clothes go back folded."}
  - id: opening-hours
    questions: {en: ["When is your shop open?", "What are your opening hours?"]}
    keywords: {en: [opening, hours, open]}
    answer: {en: "We are open from 9 to 5."}
"""
AMBIGUOUS = load_rules_yaml(AMBIGUOUS_YAML)


def answer_of(rules: RuleSet, rule_id: str, lang: str) -> str:
    rule = rules.rule(rule_id)
    assert rule is not None
    return rule.answer[lang]


async def use_rules(writer: Writer, rules: RuleSet) -> None:
    await do_import_rules(writer, rules)


async def eventually(
    read: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, within: float = 15
) -> T:
    """``read()`` again until ``until`` holds for what it returns (the turn runs in a job)."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s; last: {value!r}")
        await asyncio.sleep(0.05)


async def decisions(writer: Writer, thread_id: int) -> list[BotDecision]:
    async with writer.sessionmaker() as session:
        rows = await session.execute(
            select(BotDecision).where(col(BotDecision.thread_id) == thread_id).order_by(col(BotDecision.id))
        )
        return list(rows.scalars())


async def bot_messages(api: Api, thread_id: int) -> list[dict[str, Any]]:
    return [m for m in await api.timeline(thread_id) if m["author"]["type"] == "bot"]


async def thread_status(api: Api, thread_id: int) -> str:
    return str((await api.get(f"/api/v1/threads/{thread_id}"))["thread"]["status"])


async def only_thread(api: Api) -> int:
    [thread] = (await api.get("/api/v1/threads"))["items"]
    return int(thread["id"])
