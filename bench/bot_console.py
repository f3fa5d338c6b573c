"""The console's bot figures and unanswered list on PostgreSQL with many recorded decisions.

    python bench/bot_console.py [--decisions 300000]

Creates a throw-away database (``ONETHREAD_BENCH_POSTGRES_URL``), migrates it, copies in
``--decisions`` bot decisions spread over a year (60 % answered by one of 50 rules, 10 %
suggested, 30 % handed over; 3,000 distinct questions), then times the three queries the admin
pages run (``app.domain.bot.queries``): the summary and the per-rule figures over the last 30 days
and the last year, and the unanswered list (its newest 5,000 asks grouped). Prints the median of
five runs each; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.db.migrate import upgrade
from app.domain.bot.queries import bot_summary, rule_figures, unanswered_questions
from app.settings import Settings

ADMIN_URL = os.environ.get(
    "ONETHREAD_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
RULES = [f"rule-{i}" for i in range(50)]
QUESTIONS = [f"vraag nummer {i} over iets" for i in range(3000)]
Query = Callable[..., Awaitable[Any]]


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _decisions(thread_id: int, count: int) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    now = datetime.now(UTC)
    rows: list[tuple[Any, ...]] = []
    for _ in range(count):
        at = now - timedelta(seconds=rng.randrange(365 * 86400))
        question = rng.choice(QUESTIONS)
        kind = rng.random()
        if kind < 0.6:
            feedback = rng.choice([None, None, "helpful", "not_helpful"])
            rows.append(
                (thread_id, 1, "nl", question, "answered", rng.choice(RULES), 0.8, "[]", None, feedback, at)
            )
        elif kind < 0.7:
            rows.append(
                (thread_id, 1, "nl", question, "suggested", rng.choice(RULES), 0.4, "[]", None, None, at)
            )
        else:
            reason = rng.choice(["no_match", "second_miss", "asked_for_person"])
            rows.append((thread_id, 1, "nl", question, "handoff", None, 0.1, "[]", reason, None, at))
    return rows


async def _seed(url: str, count: int) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        contact = await conn.fetchval(
            "INSERT INTO contacts (name, attributes, created_at, updated_at) "
            "VALUES ('Bench', '{}', now(), now()) RETURNING id"
        )
        thread = await conn.fetchval(
            "INSERT INTO threads (contact_id, status, episode, last_message_at, last_message_preview, "
            "created_at, updated_at) VALUES ($1, 'open', 1, now(), '', now(), now()) RETURNING id",
            contact,
        )
        await conn.copy_records_to_table(
            "bot_decisions",
            records=_decisions(thread, count),
            columns=[
                "thread_id",
                "episode",
                "language",
                "question",
                "outcome",
                "rule_id",
                "score",
                "candidates",
                "reason",
                "feedback",
                "created_at",
            ],
        )
        await conn.execute("ANALYZE bot_decisions")
    finally:
        await conn.close()


async def _median_ms(session: AsyncSession, query: Query, **kwargs: Any) -> float:
    await query(session, **kwargs)  # warm-up
    times = []
    for _ in range(5):
        started = time.perf_counter()
        await query(session, **kwargs)
        times.append(time.perf_counter() - started)
    return sorted(times)[2] * 1000


async def main(count: int) -> None:
    name = f"onethread_bench_bot_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(_dsn(ADMIN_URL))
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade, Settings(database_url=url, secret_key="bench-" * 6))
        await _seed(url, count)
        engine = create_async_engine(url)
        now = datetime.now(UTC)
        async with AsyncSession(engine) as session:
            for days in (30, 365):
                start = now - timedelta(days=days)
                for label, query in (
                    ("summary", bot_summary),
                    ("per-rule figures", rule_figures),
                    ("unanswered list", unanswered_questions),
                ):
                    ms = await _median_ms(session, query, start=start)
                    print(f"{count:,} decisions, last {days:>3} days: {label:<17} median {ms:7.1f} ms")
        await engine.dispose()
    finally:
        admin = await asyncpg.connect(_dsn(ADMIN_URL))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=300_000)
    asyncio.run(main(parser.parse_args().decisions))
