"""Reports benchmark: each report query's time over a year and over 30 days of data, on PostgreSQL.

    python bench/reports.py [--threads 10000] [--messages-per-conversation 20] [--runs 5] [--explain]
                            [--keep-db] [--database NAME]

Creates a scratch database (``ONETHREAD_BENCH_POSTGRES_URL``, an admin connection), migrates it to
head, and seeds a year with ``generate_series`` in a few ``INSERT … SELECT`` statements (no Python
per row): ``--threads`` customers (10,000), each with five conversations spread over the past 365
days, ``--messages-per-conversation`` (20) customer messages and replies alternating on five
channels — 1,000,000 messages by default — plus the system lines the actions write (a ``reopened``
line opening every conversation after the first, a ``thread-change`` line resolving three in
four), a bot decision per conversation, and ten agents. Then ``VACUUM ANALYZE`` (what autovacuum
does to a table that is mostly appended to), the reports' rollup's first catch-up over the whole
year, timed once (messages per second; ``reports/actions.py``), and each query of ``app/domain/reports/queries.py``
runs ``--runs`` times for the last 365 and the last 30 days: the table shows the p50 and the
slowest run, the page's own catch-up with nothing new, and the whole page (catch-up and
``build_report``). The goal: a year under a
second for each. ``--explain`` prints the plans. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.migrate import upgrade
from app.domain.reports import queries
from app.domain.reports.actions import catch_up
from app.domain.reports.queries import Period
from app.settings import Settings

TZ = ZoneInfo("Europe/Amsterdam")


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


SEED = """
INSERT INTO agents (email, name, password_hash, role, is_active, language, timezone, created_at)
SELECT 'agent' || a || '@bench.invalid', 'Agent ' || a, 'x', 'agent', true, '', 'UTC', now()
FROM generate_series(1, 10) a;

INSERT INTO contacts (name, attributes, created_at, updated_at)
SELECT 'Customer ' || t, '{}', now() - interval '366 days', now() FROM generate_series(1, {threads}) t;

INSERT INTO threads (contact_id, status, assignee_id, episode, last_inbound_channel, last_inbound_at,
                     last_message_at, last_message_preview, created_at, updated_at)
SELECT t, (ARRAY['open','pending','resolved','resolved','bot'])[1 + t % 5], 1 + t % 10, 5,
       (ARRAY['webchat','telegram','messenger','email','api'])[1 + t % 5], now(), now(), '',
       now() - interval '366 days', now()
FROM generate_series(1, {threads}) t;

-- conversation starts: conversation c of thread t starts in the c-th fifth of the year, somewhere
CREATE TEMP TABLE starts AS
SELECT t, c, now() - interval '365 days'
             + (c * 73 + (hashint4(t * 7 + c) & 2147483647) % 70) * interval '1 day'
             + ((hashint4(t * 13 + c) & 2147483647) % 86400) * interval '1 second' AS at
FROM generate_series(1, {threads}) t, generate_series(0, 4) c;

INSERT INTO messages (thread_id, direction, kind, channel, author_type, author_id, author_name, text,
                      meta, delivery_status, delivery_attempts, created_at, received_at, updated_at)
SELECT s.t,
       CASE WHEN k % 2 = 0 THEN 'in' ELSE 'out' END,
       'text',
       CASE WHEN (hashint4(s.t * 31 + s.c * 7 + k) & 2147483647) % 10 = 0
            THEN (ARRAY['webchat','telegram','messenger','email','api'])[1 + (s.t + k) % 5]
            ELSE (ARRAY['webchat','telegram','messenger','email','api'])[1 + (s.t + s.c) % 5] END,
       CASE WHEN k % 2 = 0 THEN 'customer' WHEN k = 1 THEN 'bot' ELSE 'agent' END,
       CASE WHEN k % 2 = 1 AND k > 1 THEN 1 + (s.t + s.c) % 10 END,
       NULL, 'message ' || k, '{}',
       CASE WHEN k % 2 = 1 THEN 'delivered' END, 0,
       s.at + k * interval '7 minutes' + CASE WHEN k = 1 THEN interval '5 seconds' ELSE interval '0' END,
       s.at + k * interval '7 minutes' + CASE WHEN k = 1 THEN interval '5 seconds' ELSE interval '0' END,
       now()
FROM starts s, generate_series(0, {per_conversation} - 1) k;

INSERT INTO messages (thread_id, direction, kind, channel, author_type, text, meta, delivery_attempts,
                      created_at, received_at, updated_at)
SELECT s.t, 'out', 'system', 'system', 'system', 'Conversation reopened',
       jsonb_build_object('event', 'reopened', 'episode', s.c + 1,
                          'channel', (ARRAY['webchat','telegram','messenger','email','api'])[1 + (s.t + s.c) % 5]),
       0, s.at, s.at, now()
FROM starts s WHERE s.c > 0;

INSERT INTO messages (thread_id, direction, kind, channel, author_type, text, meta, delivery_attempts,
                      created_at, received_at, updated_at)
SELECT s.t, 'out', 'system', 'system', 'system', 'Agent: status → resolved',
       jsonb_build_object('event', 'thread-change', 'agent_id', 1 + (s.t + s.c) % 10, 'agent_name', 'Agent',
                          'changes', jsonb_build_array(jsonb_build_object('field', 'status', 'to', 'resolved'))),
       0, s.at + interval '4 hours', s.at + interval '4 hours', now()
FROM starts s WHERE (s.t + s.c) % 4 <> 0;

INSERT INTO bot_decisions (thread_id, episode, channel, question, outcome, score, candidates, created_at)
SELECT s.t, s.c + 1, (ARRAY['webchat','telegram','messenger','email','api'])[1 + (s.t + s.c) % 5], 'question',
       (ARRAY['answered','answered','answered','handoff','handoff','suggested'])[1 + (s.t + s.c) % 6],
       0.5, '[]', s.at + interval '2 seconds'
FROM starts s;
"""


async def seed(url: str, threads: int, per_conversation: int) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(_dsn(url))
    try:
        # Two integers formatted in (a utility statement such as CREATE TABLE AS takes no parameters).
        sql = SEED.replace("{threads}", str(int(threads))).replace(
            "{per_conversation}", str(int(per_conversation))
        )
        for statement in (s.strip() for s in sql.split(";\n")):
            if statement:
                await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
        counted = await conn.fetchval("SELECT count(*) FROM messages")
        print(f"seeded {counted:,} messages in {threads:,} threads in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
    return time.perf_counter() - started


CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def backend_cpu_ms(pid: int) -> float:
    """CPU time (user + system) the PostgreSQL backend ``pid`` has used so far (``/proc``, same host)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_MS


@dataclass
class Result:
    range: str
    query: str
    wall_p50: float
    wall_max: float
    cpu_p50: float
    """The database backend's CPU plus this process's, in one backend (no parallel workers): what
    the query costs the machine, whatever else is running on it."""


async def catch_up_once(url: str) -> None:
    """The rollup's first catch-up over the whole seeded year (what a fresh install's worker, or
    ``onethread reports rebuild``, does once), timed."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.db.models import Message

    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session:
            messages = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
            started = time.perf_counter()
            threads = await catch_up(session)
            await session.commit()
            took = time.perf_counter() - started
        print(
            f"rollup catch-up over the whole year: {messages:,} messages of {threads:,} threads in "
            f"{took:.1f} s ({messages / took:,.0f} msgs/s)"
        )
    finally:
        await engine.dispose()


async def _current_page(session: Any, period: Period) -> Any:
    """What the page does: catch up (nothing new here: the lock and the watermark), then read."""
    await catch_up(session)
    return await queries.build_report(session, period)


async def measure(url: str, runs: int, explain: bool) -> list[Result]:
    from sqlalchemy import event, text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    engine = create_async_engine(url)
    today = datetime.now(TZ).date()
    periods = {
        "365 days": Period(today - timedelta(days=364), today, TZ),
        "30 days": Period(today - timedelta(days=29), today, TZ),
    }
    if explain:

        @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
        def _explain(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> Any:
            if statement.lstrip().upper().startswith("SELECT") and "EXPLAIN" not in statement:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                print("\n".join(row[0] for row in cursor.fetchall()), "\n")
            return statement, params

    work: dict[str, Callable[[AsyncSession, Period], Awaitable[Any]]] = {
        "volume per channel per day": queries.volume,
        "response and resolution times": queries.responses,
        "bot outcomes per day": queries.bot_outcomes,
        "channel switches": queries.channel_switches,
        "agent workload": queries.workload,
        "catch-up, nothing new (the page's first step)": lambda session, _: catch_up(session),
        "the whole page (catch-up + build_report)": _current_page,
    }
    results: list[Result] = []
    try:
        for label, period in periods.items():
            for name, query in work.items():
                times: list[float] = []
                cpu: list[float] = []
                for _ in range(1 if explain else runs):
                    async with AsyncSession(engine) as session:
                        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                        # One backend does all the work, so its CPU time is the query's whole cost.
                        await session.execute(text("SET max_parallel_workers_per_gather = 0"))
                        db_before, py_before = backend_cpu_ms(pid), time.process_time()
                        started = time.perf_counter()
                        await query(session, period)
                        times.append((time.perf_counter() - started) * 1000)
                        cpu.append(backend_cpu_ms(pid) - db_before + (time.process_time() - py_before) * 1000)
                        await session.execute(text("RESET max_parallel_workers_per_gather"))
                results.append(
                    Result(label, name, statistics.median(times), max(times), statistics.median(cpu))
                )
    finally:
        await engine.dispose()
    return results


async def main(args: argparse.Namespace) -> int:
    admin = args.postgres_url
    database = args.database or f"onethread_bench_reports_{secrets.token_hex(4)}"
    url = _with_database(admin, database)
    if not args.database:
        conn = await asyncpg.connect(_dsn(admin))
        await conn.execute(f'CREATE DATABASE "{database}"')
        await conn.close()
    try:
        if not args.database:
            await asyncio.to_thread(upgrade, Settings(database_url=url, secret_key="bench-reports"))
            await seed(url, args.threads, args.messages_per_conversation)
            await catch_up_once(url)
        results = await measure(url, args.runs, args.explain)
        load = os.getloadavg()[0]
        print(
            f"\nreport queries on PostgreSQL, {args.runs} runs each, load average {load:.1f} on {os.cpu_count()} cores"
        )
        print(
            "wall: time to answer; cpu: database backend + Python CPU time (p50), which other load does not inflate"
        )
        print(f"{'range':<9} {'query':<40} {'wall p50':>9} {'wall max':>9} {'cpu p50':>8}  (ms)")
        for r in results:
            print(f"{r.range:<9} {r.query:<40} {r.wall_p50:>9.1f} {r.wall_max:>9.1f} {r.cpu_p50:>8.1f}")
        year = [r.cpu_p50 for r in results if r.range == "365 days" and "whole" not in r.query]
        print(f"goal: each query over a year under 1000 ms; slowest by CPU {max(year):.0f} ms")
        return 0 if max(year) < 1000 else 1
    finally:
        if args.keep_db or args.database:
            print(f"kept database {database}")
        else:
            conn = await asyncpg.connect(_dsn(admin))
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await conn.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "ONETHREAD_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--threads", type=int, default=10_000)
    parser.add_argument("--messages-per-conversation", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--database", help="measure an already seeded database (kept afterwards)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
