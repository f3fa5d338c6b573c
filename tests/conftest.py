"""Shared fixtures: real databases, real Redis, the real app.

Integration tests run twice through the ``shape`` fixture: ``embedded`` (SQLite file + in-process
memory channels and jobs) and ``production`` (PostgreSQL + Redis, the services on this machine).
PostgreSQL and Redis are required: when they cannot be reached the tests fail, they never skip.

Environment (all optional):
- ``ONETHREAD_TEST_POSTGRES_URL`` — an admin connection used to create a throw-away database
  (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``).
- ``ONETHREAD_TEST_REDIS_URL`` — default ``redis://127.0.0.1:6379/0``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from litestar import Litestar

from app.core import create_app
from app.db.migrate import upgrade
from app.domain.accounts import passwords
from app.settings import Settings
from integrations.registry import AdapterRegistry
from tests.helpers import Api

PG_ADMIN_URL = os.environ.get(
    "ONETHREAD_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ONETHREAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T = TypeVar("T")
RUN_ID = uuid.uuid4().hex[:8]
SECRET = "test-secret-key-not-for-production"
TABLES = [
    "audit_log",
    "report_hours",
    "report_volume",
    "report_runs",
    "report_conversations",
    "report_switches",
    "report_watermark",
    "bot_dismissals",
    "bot_decisions",
    "bot_rules",
    "bot_settings",
    "thread_reads",
    "canned_responses",
    "attachments",
    "messages",
    "merges",
    "merge_suggestions",
    "threads",
    "identities",
    "contacts",
    "api_tokens",
    "agents",
    "channel_accounts",
    "events",
]


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking set-up (migrations, asyncio.run) outside the test session's running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped at the end."""
    name = f"onethread_test_{RUN_ID}"

    async def admin(sql: str) -> None:
        try:
            conn = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(f"PostgreSQL is required and unreachable at {PG_ADMIN_URL}: {exc}", pytrace=False)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    in_thread(asyncio.run, admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(PG_ADMIN_URL, name)
    in_thread(upgrade, Settings(database_url=url, secret_key=SECRET))
    yield url
    in_thread(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    async def ping() -> None:
        client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
        try:
            await client.ping()
        except OSError as exc:
            pytest.fail(f"Redis is required and unreachable at {REDIS_URL}: {exc}", pytrace=False)
        finally:
            await client.aclose()

    in_thread(asyncio.run, ping())
    return REDIS_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    in_thread(upgrade, Settings(database_url=f"sqlite+aiosqlite:///{path}", secret_key=SECRET))
    with sqlite3.connect(path) as conn:  # fold the WAL into the file so a plain copy is complete
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


async def truncate_postgres(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


def base_settings(**overrides: object) -> Settings:
    defaults: dict[str, object] = {
        "secret_key": SECRET,
        "public_url": "http://testserver.local",
        "login_rate_limit_per_minute": 10_000,
        "delivery_backoff_base": 0.05,
        "delivery_backoff_cap": 0.5,
        "delivery_max_attempts": 4,
        "ws_heartbeat_seconds": 25.0,
        "run_worker_in_process": True,
        "job_queue": f"onethread:test:{RUN_ID}:{uuid.uuid4().hex[:6]}",
        "redis_prefix": f"onethread-test-{RUN_ID}-{uuid.uuid4().hex[:6]}",
    }
    defaults.update(overrides)
    return Settings(**defaults)  # type: ignore[arg-type]


@pytest.fixture(params=["embedded", "production"])
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at production cost takes ~0.5 s a login; tests check behaviour, not hash strength."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def forget_redis_keys(url: str, *patterns: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        for pattern in patterns:
            keys = [key async for key in client.scan_iter(match=pattern, count=500)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def settings(shape: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings for one test on the requested shape, on a clean database (and its Redis keys removed after)."""
    if shape == "production":
        url = request.getfixturevalue("pg_url")
        redis = request.getfixturevalue("redis_url")
        await truncate_postgres(url)
        settings = base_settings(database_url=url, redis_url=redis, var_dir=tmp_path / "var")
        yield settings
        await forget_redis_keys(redis, f"{settings.job_queue}*", f"{settings.redis_prefix}*")
        return
    template = request.getfixturevalue("sqlite_template")
    db = tmp_path / "onethread.db"
    shutil.copy(template, db)
    yield base_settings(database_url=f"sqlite+aiosqlite:///{db}", var_dir=tmp_path / "var")


@pytest.fixture
def registry() -> AdapterRegistry | None:
    """Override in a test module to send through recording adapters instead of the real ones."""
    return None


@pytest.fixture
async def app(settings: Settings, registry: AdapterRegistry | None) -> Litestar:
    return create_app(settings, registry=registry)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP into the app in the test's own event loop.

    Litestar's ``AsyncTestClient`` runs the app on a second loop in a thread; asyncpg connections
    belong to one loop, so tests that also use the app's writer directly need the same loop.
    """
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
            yield http


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """Start-up and shut-down hooks of ``app``, entered and left in one task of their own.

    (Fixture set-up and tear-down run in different tasks; anyio's cancel scopes inside the
    lifespan insist on one.)
    """
    started, stop = asyncio.Event(), asyncio.Event()
    failure: list[BaseException] = []

    async def hold() -> None:
        try:
            async with app.lifespan():
                started.set()
                await stop.wait()
        except BaseException as exc:
            failure.append(exc)
            started.set()
            raise

    task = asyncio.create_task(hold())
    await started.wait()
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture
async def api(client: httpx.AsyncClient, app: Litestar) -> Api:
    """A logged-in admin agent and helpers for the calls most tests make."""
    return await Api.login(client, app)
