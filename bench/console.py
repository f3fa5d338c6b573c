"""Console page benchmark: server time of the thread page and the inbox, against a floor, same run.

    python bench/console.py [--requests 300] [--warmup 30] [--only pg,sqlite,floor,serve]
                            [--explain] [--cprofile] [--gc-freeze] [--keep-db]

Builds the real app (``app.core.create_app``) with production settings — a fresh PostgreSQL
database migrated to head, Redis for sessions, stores and realtime — seeds it in bulk
(``seed_console.py``: one contact whose thread has 10,000 messages on every channel, and 10,000
threads in all), logs an agent in through the login form (CSRF cookie + field), and then calls

- ``GET /threads/{id}``: the first (newest) page of the 10,000-message thread, and
- ``GET /``: the inbox, newest 50 of the 10,000 threads,

one request at a time straight through the ASGI interface (no socket, no HTTP client). Server
time is from the call into the app to its last ``http.response.body`` message: routing,
middleware, the session (a Redis read), queries, template rendering — everything the server does
for the request. Each page gets ``--warmup`` requests first, then ``--requests`` measured ones, and
must contain what the seed put first on it (the newest message, the newest thread's customer).

The **floor** (``console_floor.py``) is a bare Litestar app whose handler renders a small Jinja
template (fifty rows of static data, no database) through the same harness: what any Litestar +
Jinja page costs on this machine at this moment. Pages are also shown as a multiple of its p50, so
runs on different machines compare. Also measured, for information: the same pages on the embedded
shape (SQLite file, in-process stores), and (target ``serve``) from a real ``onethread serve``
process on the seeded PostgreSQL database over loopback HTTP, next to the floor served by uvicorn.
Goal: the thread page and the inbox under 30 ms each (p95, in-process) on PostgreSQL.

For every in-process page the run also reports the SQL statements per request and the time spent
in them (SQLAlchemy cursor events) and in the garbage collector, so what is left is Python:
middleware, ORM and Jinja. ``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of each statement a
page runs on PostgreSQL; ``--cprofile`` the functions a page spends its time in (cumulative).

Results: a table on stdout and ``bench/results/console-<timestamp>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import html
import io
import json
import logging
import os
import platform
import pstats
import re
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

import console_floor  # noqa: E402 - sibling modules, found through the line above
import seed_console  # noqa: E402
from common import (  # noqa: E402
    Server,
    add_service_options,
    asyncpg_dsn,
    check_service_options,
    fmt,
    free_port,
    git_commit,
    percentile,
    start_server,
    with_database,
)
from sysstat import CpuProbe  # noqa: E402

GOAL_MS = 30.0
DISTURBED_CORES = 0.25
"""Above this average CPU use by processes outside the benchmark, a page's figures are flagged."""
PASSWORD = "bench-password-not-secret"
AGENTS = (
    ("ada@bench.example", "Ada Bench"),
    ("bob@bench.example", "Bob Bench"),
    ("cy@bench.example", "Cy Bench"),
)
Scope = dict[str, Any]
AsgiApp = Any
"""An ASGI application (the Litestar app, typed loosely: the harness sends plain dicts)."""


# ------------------------------------------------------------------------------------------------
# the harness: one request straight into the ASGI app, timed to its last body message
# ------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    wall_ms: float
    cpu_ms: float
    status: int
    size: int
    sql_ms: float
    statements: int
    transaction_ends: int
    gc_ms: float
    render_ms: float


class GcTimer:
    """Time the garbage collector spends during measured requests (a full collection shows as a spike)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start:
            self.seconds += time.perf_counter() - self._start
            self._start = 0.0


GC = GcTimer()


class RenderTimer:
    """Time in Jinja's ``Template.render`` (the whole page, includes and filters too) during a request.

    Litestar renders a page template with one synchronous ``render`` call, so wrapping the method
    on the class sees every page, whatever the templates contain.
    """

    def __init__(self) -> None:
        import jinja2

        self.seconds = 0.0
        original = jinja2.Template.render
        timer = self

        def render(template: jinja2.Template, *args: Any, **kwargs: Any) -> str:
            start = time.perf_counter()
            try:
                return original(template, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        jinja2.Template.render = render  # type: ignore[method-assign,assignment]


RENDER = RenderTimer()


class SqlTimer:
    """Time in SQL (every engine), switched on around measured requests.

    Counts statements (cursor events) and transaction ends: a ``COMMIT`` or ``ROLLBACK`` is a round
    trip too, and a commit waits for the WAL to reach the disk, so both are timed (by wrapping the
    dialect's ``do_commit``/``do_rollback``, which no cursor event sees).
    """

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.engine.default import DefaultDialect

        self.enabled = False
        self.seconds = 0.0
        self.count = 0
        self.ends = 0
        self.captured: list[tuple[str, Any]] | None = None
        self._started: list[float] = []
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)
        for name in ("do_commit", "do_rollback"):
            setattr(DefaultDialect, name, self._timed(getattr(DefaultDialect, name)))

    def _timed(self, original: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def wrapper(dialect: Any, dbapi_connection: Any) -> None:
            if not self.enabled:
                return original(dialect, dbapi_connection)
            # asyncpg's adapter skips the round trip when no transaction was begun: not counted.
            real = getattr(dbapi_connection, "_started", True)
            start = time.perf_counter()
            try:
                return original(dialect, dbapi_connection)
            finally:
                self.seconds += time.perf_counter() - start
                self.ends += 1 if real else 0

        return wrapper

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.enabled:
            self._started.append(time.perf_counter())
            if self.captured is not None:
                self.captured.append((statement, parameters))

    def _after(self, *_: Any) -> None:
        if self.enabled and self._started:
            self.seconds += time.perf_counter() - self._started.pop()
            self.count += 1

    def reset(self) -> None:
        self.seconds, self.count, self.ends = 0.0, 0, 0
        self._started.clear()


async def asgi_get(app: AsgiApp, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """One GET through the app; (status, body)."""
    raw_path, _, query = path.partition("?")
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    status = 0
    body = bytearray()
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)


async def sample(
    app: AsgiApp, path: str, headers: list[tuple[bytes, bytes]], sql: SqlTimer
) -> tuple[Sample, bytes]:
    sql.reset()
    sql.enabled = True
    GC.seconds = 0.0
    RENDER.seconds = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    status, body = await asgi_get(app, path, headers)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    sql.enabled = False
    return Sample(
        wall * 1000,
        cpu * 1000,
        status,
        len(body),
        sql.seconds * 1000,
        sql.count,
        sql.ends,
        GC.seconds * 1000,
        RENDER.seconds * 1000,
    ), body


@dataclass
class PageResult:
    path: str
    samples: list[Sample] = field(default_factory=list)
    in_process: bool = True
    """False for the ``serve`` target: times are HTTP round trips; SQL, GC and CPU per request are not seen."""
    server_cpu_ms_mean: float | None = None
    other_cores: float = 0.0
    """Cores the rest of the machine (other work, not this process, PostgreSQL or Redis) took meanwhile."""
    check: str = ""
    """Empty when the page showed what the seed put there, else what was missing."""

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.status == 200]
        wall = sorted(s.wall_ms for s in ok)
        cpu = sorted(s.cpu_ms for s in ok)
        sqlms = sorted(s.sql_ms for s in ok)
        return {
            "path": self.path,
            "requests": len(self.samples),
            "non_200": len(self.samples) - len(ok),
            "statuses": sorted({s.status for s in self.samples}),
            "ms": {
                "p50": percentile(wall, 0.50),
                "p95": percentile(wall, 0.95),
                "p99": percentile(wall, 0.99),
                "max": wall[-1] if wall else None,
            },
            "cpu_ms_p50": percentile(cpu, 0.50) if self.in_process else self.server_cpu_ms_mean,
            "cpu_ms_p95": percentile(cpu, 0.95) if self.in_process else None,
            "other_cores": self.other_cores,
            "sql_ms_p50": percentile(sqlms, 0.50) if self.in_process else None,
            "gc_ms_max": max((s.gc_ms for s in ok), default=None) if self.in_process else None,
            "render_ms_p50": percentile(sorted(s.render_ms for s in ok), 0.50) if self.in_process else None,
            "sql_statements": ok[0].statements if ok and self.in_process else None,
            "sql_commits_rollbacks": ok[0].transaction_ends if ok and self.in_process else None,
            "bytes": ok[0].size if ok else None,
            "check": self.check or "ok",
            "samples_ms": [round(s.wall_ms, 3) for s in self.samples],
            "samples_cpu_ms": [round(s.cpu_ms, 3) for s in self.samples],
            "samples_gc_ms": [round(s.gc_ms, 3) for s in self.samples],
        }


async def measure_page(
    app: AsgiApp,
    path: str,
    headers: list[tuple[bytes, bytes]],
    sql: SqlTimer,
    args: argparse.Namespace,
    expect: str | None = None,
) -> PageResult:
    """``--warmup`` requests, then ``--requests`` timed ones; the last page must contain ``expect``."""
    result = PageResult(path)
    body = b""
    for _ in range(args.warmup):
        _, body = await sample(app, path, headers, sql)
    probe = CpuProbe()
    probe.set_group("bench", [os.getpid()])
    before = probe.snapshot()
    for _ in range(args.requests):
        one, body = await sample(app, path, headers, sql)
        result.samples.append(one)
    result.other_cores = CpuProbe.delta(before, probe.snapshot())["other_cores"]
    if expect and expect.encode() not in body:
        result.check = f"the page did not contain {expect!r}"
    return result


async def profile_page(
    app: AsgiApp, path: str, headers: list[tuple[bytes, bytes]], sql: SqlTimer, n: int, top: int
) -> str:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(n):
        await sample(app, path, headers, sql)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# logging in through the form
# ------------------------------------------------------------------------------------------------
class _CsrfField(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name") == "_csrf_token" and self.value is None:
            self.value = found.get("value")


def csrf_field(page: str) -> str | None:
    """The value of the login form's ``_csrf_token`` input, wherever the template puts it."""
    parser = _CsrfField()
    parser.feed(page)
    return parser.value


async def login(client: httpx.AsyncClient, email: str) -> str:
    """Log in through the form as a browser does; the Cookie header of the logged-in agent."""
    page = await client.get("/login")
    token = csrf_field(page.text)
    if page.status_code != 200 or not token:
        raise RuntimeError(f"GET /login gave {page.status_code} without a _csrf_token field")
    done = await client.post("/login", data={"email": email, "password": PASSWORD, "_csrf_token": token})
    if done.status_code != 303:
        raise RuntimeError(f"POST /login gave {done.status_code}: {done.text[:300]}")
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


# ------------------------------------------------------------------------------------------------
# the app on one shape, seeded
# ------------------------------------------------------------------------------------------------
@asynccontextmanager
async def seeded_app(
    args: argparse.Namespace, shape: str, run_id: str, work: Path
) -> AsyncIterator[tuple[Any, seed_console.Seeded, float, Any]]:
    """The real app on ``shape`` (``pg``: PostgreSQL + Redis; ``sqlite``: embedded), seeded, running."""
    from app.core import create_app
    from app.db.migrate import upgrade
    from app.domain.accounts.actions import do_create_agent
    from app.domain.channels.accounts import CHANNELS, do_add_channel_account
    from app.settings import Settings

    database = f"onethread_bench_{run_id}"
    common: dict[str, Any] = {
        "secret_key": secrets.token_urlsafe(32),
        "var_dir": work / shape,
        "public_url": "http://127.0.0.1:8000",
    }
    if shape == "pg":
        await _admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
        settings = Settings(
            database_url=with_database(args.postgres_url, database),
            redis_url=args.redis_url,
            run_worker_in_process=False,
            job_queue=f"onethread:bench:{run_id}",
            redis_prefix=f"onethread-bench-{run_id}",
            **common,
        )
    else:
        (work / shape).mkdir(parents=True, exist_ok=True)
        settings = Settings(database_url=f"sqlite+aiosqlite:///{work / shape / 'onethread.db'}", **common)
    try:
        await asyncio.to_thread(upgrade, settings)
        app = create_app(settings)
        async with app.lifespan():
            writer = app.state.writer
            agents = [
                await do_create_agent(writer, email=email, name=name, password=PASSWORD)
                for email, name in AGENTS
            ]
            accounts = {
                channel: uuid.UUID(
                    str(
                        (
                            await do_add_channel_account(writer, channel=channel, name=f"bench {channel}")
                        ).account.id
                    )
                )
                for channel in CHANNELS
            }
            t0 = time.monotonic()
            tables, seeded = seed_console.build(
                agents=[(a.id or 0, a.name) for a in agents],
                accounts=accounts,
                next_ids=await _next_ids(settings),
                big_messages=args.messages,
                threads=args.threads,
            )
            if shape == "pg":
                await seed_console.write_postgres(asyncpg_dsn(settings.database_url), tables)
                if args.total_messages:
                    added = await seed_console.fill_postgres(
                        asyncpg_dsn(settings.database_url),
                        args.total_messages,
                        exclude_thread=seeded.big_thread_id,
                    )
                    seeded.rows["messages"] += added
            else:
                await asyncio.to_thread(
                    seed_console.write_sqlite, settings.database_url.split("///", 1)[1], tables
                )
            # A server process does not hold 60,000 seed rows: left alive, they would make every
            # full garbage collection during the measurement ~100 ms long.
            del tables
            gc.collect()
            yield app, seeded, time.monotonic() - t0, settings
    finally:
        if shape == "pg":
            if args.keep_db:
                print(f"kept database {database}", file=sys.stderr)
            else:
                with contextlib.suppress(Exception):
                    await _admin_sql(args.postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            with contextlib.suppress(Exception):
                await _forget_redis(
                    args.redis_url, f"onethread-bench-{run_id}*", f"onethread:bench:{run_id}*"
                )


async def _next_ids(settings: Any) -> dict[str, int]:
    """The first free id of each seeded table (all empty after migrating, but say so explicitly)."""
    tables = ("contacts", "identities", "threads", "messages", "attachments")
    if settings.is_sqlite:
        import sqlite3

        with contextlib.closing(sqlite3.connect(settings.database_url.split("///", 1)[1])) as conn:
            return {
                t: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0] for t in tables
            }
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        return {t: await conn.fetchval(f"SELECT coalesce(max(id), 0) + 1 FROM {t}") for t in tables}
    finally:
        await conn.close()


async def _admin_sql(admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _forget_redis(url: str, *patterns: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        for pattern in patterns:
            keys = [key async for key in client.scan_iter(match=pattern, count=500)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


async def explain(database_url: str, captured: list[tuple[str, Any]]) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each captured statement, with its own parameters."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    lines: list[str] = []
    try:
        for statement, parameters in captured:
            flat = re.sub(r"\s+", " ", statement).strip()
            lines.append(f"--- {flat[:400]}")
            lines.append(f"    parameters: {parameters!r}"[:300])
            # ANALYZE runs the statement: a write (the read mark's upsert) is rolled back after.
            transaction = conn.transaction()
            await transaction.start()
            try:
                plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", *(parameters or ()))
            finally:
                await transaction.rollback()
            lines.extend("    " + row[0] for row in plan)
    finally:
        await conn.close()
    return "\n".join(lines)


def pages_of(seeded: seed_console.Seeded) -> dict[str, tuple[str, str]]:
    """The pages measured: name -> (path, text the page must contain, HTML-escaped)."""
    return {
        "thread": (f"/threads/{seeded.big_thread_id}", seed_console.NEWEST_MARKER),
        "inbox": ("/", html.escape(seeded.newest_contact_name, quote=True)),
    }


async def bench_shape(
    args: argparse.Namespace, shape: str, run_id: str, work: Path, sql: SqlTimer
) -> dict[str, Any]:
    async with seeded_app(args, shape, run_id, work) as (app, seeded, seed_seconds, settings):
        print(f"  {shape}: seeded {seeded.rows} in {seed_seconds:.1f}s", flush=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            cookie = await login(client, AGENTS[0][0])
        headers = [(b"cookie", cookie.encode()), (b"accept", b"text/html")]
        out: dict[str, Any] = {
            "seed_seconds": round(seed_seconds, 1),
            "rows": seeded.rows,
            "gc_tracked_objects": len(gc.get_objects()),
        }
        print(
            f"  {shape}: {out['gc_tracked_objects']:,} objects tracked by the garbage collector", flush=True
        )
        if args.gc_freeze:
            gc.freeze()  # what-if: start-up objects out of every later collection
        for name, (path, expect) in pages_of(seeded).items():
            result = await measure_page(app, path, headers, sql, args, expect=expect)
            out[name] = result.summary()
            print(f"  {shape} {name}: p50 {fmt(out[name]['ms']['p50'], 2)} ms", flush=True)
            if args.explain and shape == "pg":
                sql.captured = []
                await sample(app, path, headers, sql)
                captured, sql.captured = sql.captured, None
                out[name]["explain"] = await explain(settings.database_url, captured)
            if args.cprofile:
                out[name]["cprofile"] = await profile_page(
                    app, path, headers, sql, max(args.requests // 3, 20), args.top
                )
        if shape == "pg" and "serve" in args.targets:
            out["served"] = await bench_served(args, settings, seeded, work)
        return out


# ------------------------------------------------------------------------------------------------
# the floor: a bare Litestar app rendering a small Jinja template
# ------------------------------------------------------------------------------------------------
async def bench_floor(args: argparse.Namespace, sql: SqlTimer) -> dict[str, Any]:
    app = console_floor.create_app()
    async with app.lifespan():
        result = await measure_page(
            app, "/floor", [(b"accept", b"text/html")], sql, args, expect=console_floor.LAST_ROW
        )
    return {"page": result.summary()}


# ------------------------------------------------------------------------------------------------
# serve: the same pages from a real `onethread serve` process, over loopback HTTP
# ------------------------------------------------------------------------------------------------
class RawHttp:
    """A keep-alive HTTP/1.1 GET client with next to no overhead (httpx would cost ~1 ms a request)."""

    def __init__(self, port: int, headers: list[tuple[str, str]]) -> None:
        self.port = port
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n{self.extra}\r\n"
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        else:  # chunked
            chunks = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                chunks.extend((await self.reader.readexactly(size + 2))[:size])
            await self.reader.readuntil(b"\r\n")
            body = bytes(chunks)
        if fields.get("connection", "").lower() == "close":
            await self.aclose()
        return status, body

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None


async def measure_served(
    server: Server, path: str, headers: list[tuple[str, str]], args: argparse.Namespace, expect: str
) -> PageResult:
    """Round trip of each GET over loopback; the server process's CPU per request, on average."""
    client = RawHttp(server.port, headers)
    result = PageResult(path, in_process=False)
    body = b""
    try:
        for _ in range(args.warmup):
            _, body = await client.get(path)
        probe = CpuProbe()
        probe.set_group("server", [server.process.pid])
        probe.set_group("bench", [os.getpid()])
        before = probe.snapshot()
        for _ in range(args.requests):
            wall0 = time.perf_counter()
            status, body = await client.get(path)
            wall = (time.perf_counter() - wall0) * 1000
            result.samples.append(Sample(wall, 0.0, status, len(body), 0.0, 0, 0, 0.0, 0.0))
        used = CpuProbe.delta(before, probe.snapshot())
        result.other_cores = used["other_cores"]
        result.server_cpu_ms_mean = used["server"] * 1000 / max(args.requests, 1)
    finally:
        await client.aclose()
    if expect.encode() not in body:
        result.check = f"the page did not contain {expect!r}"
    return result


@asynccontextmanager
async def served(name: str, argv: list[str], env: dict[str, str], work: Path) -> AsyncIterator[Server]:
    server = start_server(name, [*argv, "--port", str(free_port())], env, work)
    try:
        await server.wait_healthy()
        yield server
    except BaseException:
        print(f"--- {name} log tail ({server.log_path}) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        await server.stop()


async def bench_served(
    args: argparse.Namespace, settings: Any, seeded: seed_console.Seeded, work: Path
) -> dict[str, Any]:
    """``onethread serve`` (uvicorn, one worker) on the seeded PostgreSQL database, logged in over HTTP."""
    env = {
        **os.environ,
        "ONETHREAD_DATABASE_URL": settings.database_url,
        "ONETHREAD_REDIS_URL": settings.redis_url,
        "ONETHREAD_SECRET_KEY": settings.secret_key,
        "ONETHREAD_VAR_DIR": str(work / "serve"),
        "ONETHREAD_JOB_QUEUE": settings.job_queue,
        "ONETHREAD_REDIS_PREFIX": settings.redis_prefix,
        "ONETHREAD_WORKER_IN_PROCESS": "0",
    }
    argv = [sys.executable, "-m", "app", "serve", "--log-level", "warning"]
    out: dict[str, Any] = {}
    async with served("onethread", argv, env, work) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            cookie = await login(http, AGENTS[0][0])
        headers = [("cookie", cookie), ("accept", "text/html")]
        for name, (path, expect) in pages_of(seeded).items():
            out[name] = (await measure_served(server, path, headers, args, expect)).summary()
            print(f"  served {name}: p50 {fmt(out[name]['ms']['p50'], 2)} ms", flush=True)
        problems = server.log_problems()
        if problems:
            out["server_log_problems"] = problems[:10]
    floor_argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "console_floor:create_app",
        "--factory",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ]
    async with served("floor", floor_argv, dict(os.environ), work) as server:
        floor = await measure_served(
            server, "/floor", [("accept", "text/html")], args, console_floor.LAST_ROW
        )
        out["floor"] = floor.summary()
    return out


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def print_table(results: dict[str, Any]) -> dict[str, Any]:
    floor = results.get("floor", {}).get("page")
    served = results.get("pg", {}).get("served")
    # (column, figures, the floor its ratio is taken to: in-process pages to the in-process floor,
    # served pages to the same floor served by uvicorn)
    columns: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    for shape, label in (("pg", "PostgreSQL"), ("sqlite", "SQLite")):
        for page in ("thread", "inbox"):
            if shape in results:
                columns.append((f"{page} {label}", results[shape][page], floor))
    if floor:
        columns.append(("floor", floor, floor))
    if served:
        columns.append(("thread PG served", served["thread"], served["floor"]))
        columns.append(("inbox PG served", served["inbox"], served["floor"]))
        columns.append(("floor served", served["floor"], served["floor"]))

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("p50 ms", lambda s: fmt(s["ms"]["p50"], 2)),
        ("p95 ms", lambda s: fmt(s["ms"]["p95"], 2)),
        ("p99 ms", lambda s: fmt(s["ms"]["p99"], 2)),
        ("max ms", lambda s: fmt(s["ms"]["max"], 2)),
        ("p50 / floor p50", lambda s: "@ratio:ms"),
        ("CPU ms p50", lambda s: fmt(s["cpu_ms_p50"], 2)),
        ("CPU ms p95", lambda s: fmt(s["cpu_ms_p95"], 2)),
        ("CPU p50 / floor CPU p50", lambda s: "@ratio:cpu"),
        ("in SQL ms (p50)", lambda s: fmt(s["sql_ms_p50"], 2)),
        ("in Jinja render ms (p50)", lambda s: fmt(s["render_ms_p50"], 2)),
        ("in GC ms (max)", lambda s: fmt(s["gc_ms_max"], 2)),
        (
            "SQL statements + COMMIT/ROLLBACK",
            lambda s: (
                "—"
                if s["sql_statements"] is None
                else f"{s['sql_statements']} + {s['sql_commits_rollbacks']}"
            ),
        ),
        ("KiB of HTML", lambda s: fmt((s["bytes"] or 0) / 1024, 0)),
        ("non-200 answers", lambda s: str(s["non_200"])),
        ("cores taken by others", lambda s: f"{s['other_cores']:.2f}"),
    ]

    def cell(value: Callable[[dict[str, Any]], str], s: dict[str, Any], base: dict[str, Any] | None) -> str:
        shown = value(s)
        if not shown.startswith("@ratio:"):
            return shown
        # CPU time hardly moves when other work shares the machine; wall-clock time does.
        mine, floors = (
            (s["ms"]["p50"], base["ms"]["p50"] if base else None)
            if shown == "@ratio:ms"
            else (s["cpu_ms_p50"], base["cpu_ms_p50"] if base else None)
        )
        return "—" if not floors or mine is None else f"{mine / floors:.1f}x"

    width = max(len(label) for label, _ in rows) + 2
    col = max(16, *(len(name) + 2 for name, _, _ in columns))
    print()
    print(f"{'':{width}}" + "".join(f"{name:>{col}}" for name, _, _ in columns))
    for label, value in rows:
        print(f"{label:{width}}" + "".join(f"{cell(value, s, base):>{col}}" for _, s, base in columns))
    print()
    if served:
        print(
            "served: `onethread serve` (uvicorn, one worker) over loopback; ms are HTTP round trips "
            "from a raw keep-alive client, CPU ms is the server process's mean per request."
        )
    goals: dict[str, Any] = {}
    if "pg" in results:
        for page in ("thread", "inbox"):
            p95 = results["pg"][page]["ms"]["p95"]
            met = p95 is not None and p95 < GOAL_MS and results["pg"][page]["non_200"] == 0
            goals[f"{page}_p95_under_{GOAL_MS:g}ms"] = met
            figures = results["pg"][page]
            print(
                f"{page} page on PostgreSQL: p95 {fmt(p95, 2)} ms (goal < {GOAL_MS:g} ms): "
                f"{'MET' if met else 'NOT MET'}  (its own CPU: p95 {fmt(figures['cpu_ms_p95'], 2)} ms; "
                f"others took {figures['other_cores']:.2f} cores meanwhile)"
            )
    disturbed = [name for name, s, _ in columns if s["other_cores"] > DISTURBED_CORES]
    if disturbed:
        print(
            f"WARNING: other work on the machine took more than {DISTURBED_CORES} of a core while measuring "
            f"{', '.join(disturbed)}; wall-clock figures are pessimistic there (CPU ms is not), run again."
        )
    for shape in ("pg", "sqlite"):
        for page in ("thread", "inbox"):
            check = results.get(shape, {}).get(page, {}).get("check")
            if check and check != "ok":
                print(f"WARNING {shape} {page}: {check}")
    return goals


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="measured requests per page (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="requests per page before measuring")
    parser.add_argument("--messages", type=int, default=10_000, help="messages in the big thread")
    parser.add_argument(
        "--threads", type=int, default=10_000, help="threads in the inbox (the big one included)"
    )
    parser.add_argument(
        "--total-messages",
        type=int,
        default=0,
        help="PostgreSQL: add older filler messages over the other threads until the database holds "
        "this many (generate_series; e.g. 1000000); 0: only the seeded ones",
    )
    parser.add_argument(
        "--only",
        default="pg,sqlite,floor,serve",
        help="comma-separated targets: pg, sqlite, floor (in-process), serve (real processes; needs pg)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE each page's statements (PostgreSQL)"
    )
    parser.add_argument("--cprofile", action="store_true", help="cProfile each page (cumulative CPU time)")
    parser.add_argument("--top", type=int, default=35, help="functions shown by --cprofile")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="what-if: gc.freeze() after start-up, before measuring"
    )
    add_service_options(parser, keep_db_help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    check_service_options(parser, args)
    args.targets = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(args.targets) - {"pg", "sqlite", "floor", "serve"}
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    return args


async def main_async(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(4)
    started = datetime.now()
    for noisy in ("alembic", "httpx"):  # a line per migration and per login request
        logging.getLogger(noisy).setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix=f"onethread-bench-console-{run_id}-"))
    sql = SqlTimer()
    results: dict[str, Any] = {}
    print(
        f"console benchmark {run_id}: {args.requests} requests per page after {args.warmup} warm-up, "
        f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    t0 = time.monotonic()
    try:
        # The floor first and last: the machine is shared, so take the better of two moments.
        if "floor" in args.targets:
            results["floor"] = await bench_floor(args, sql)
        for shape in ("pg", "sqlite"):
            if shape in args.targets:
                results[shape] = await bench_shape(args, shape, run_id, work, sql)
        if "floor" in args.targets:
            again = await bench_floor(args, sql)
            if (again["page"]["ms"]["p50"] or 1e9) < (results["floor"]["page"]["ms"]["p50"] or 1e9):
                results["floor"] = again
    finally:
        shutil.rmtree(work, ignore_errors=True)
    goals = print_table(results)
    for shape in ("pg", "sqlite"):
        for page in ("thread", "inbox"):
            for key in ("explain", "cprofile"):
                text = results.get(shape, {}).get(page, {}).get(key)
                if text:
                    print(f"\n===== {key}: {shape} {page} =====\n{text}")
    results_dir = BENCH_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    report = {
        "benchmark": "console",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {k: v for k, v in vars(args).items() if k != "postgres_url"},
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_after": os.getloadavg(),
            "git_commit": git_commit(),
        },
        "goals": {"p95_ms_max": GOAL_MS, **goals},
        "results": results,
    }
    out = results_dir / f"console-{started.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(
        f"results: {out.relative_to(REPO)}  (whole run {report['seconds']:.0f}s, load average after {os.getloadavg()[0]:.2f})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvloop

    try:
        return uvloop.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("console benchmark interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
