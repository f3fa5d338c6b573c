"""Where one inbound message's CPU goes: OneThread's ingest path in-process, profiled by CPU time.

    python bench/profile_ingest.py [--messages 600] [--contacts 200] [--top 30]

Builds the real app (``app.core.create_app``) on a fresh PostgreSQL database and the shared Redis,
runs its lifespan, and drives ``POST /api/v1/channels/{id}/inbound`` straight through ASGI (no HTTP
client, no socket) one message at a time. It reports:

- CPU milliseconds per message (``time.process_time``), with and without the profiler;
- SQL statements per message, by statement (SQLAlchemy engine events), and pool connects;
- the functions with the most CPU of their own (cProfile with a CPU-time timer, so time the process
  spends descheduled on a busy machine is not counted), and CPU by package.

This complements ``bench/ingest.py``: no concurrency here, so pool churn and websocket gap-filling
(which only appear under load) are not in these figures, and the websocket send is not either.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import importlib
import os
import pstats
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

Scope = dict[str, Any]
Message = dict[str, Any]


async def asgi_post(app: Any, path: str, token: str, body: bytes) -> int:
    """One POST through the ASGI app; returns the status code."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def body_for(run: str, seq: int, contacts: int) -> bytes:
    who = seq % contacts
    return msgspec.json.encode(
        {
            "external_id": f"{run}-{seq}",
            "contact": {"external_id": f"prof-c{who}", "name": f"Bench Customer {who}"},
            "text": f"Hello, my order {seq} has not arrived yet. [otb:{run}:{seq}]",
        }
    )


class StepTimer:
    """Inclusive CPU time and call counts of chosen functions, by wrapping them in place.

    The driver sends one message at a time, so the CPU spent between entering and leaving an
    async function is that call's own (the only other tasks are idle listeners). Steps nest, so
    their times overlap: read each as "this step, including what it calls".
    """

    def __init__(self) -> None:
        self.cpu: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter[str] = collections.Counter()
        self.order: list[str] = []
        self.enabled = False
        self._originals: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attr: str, label: str) -> None:
        import functools
        import inspect

        original = getattr(owner, attr)
        self._originals.append((owner, attr, original))
        self.order.append(label)
        timer = self

        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if not timer.enabled:
                    return await original(*args, **kwargs)
                start = time.process_time()
                try:
                    return await original(*args, **kwargs)
                finally:
                    timer.cpu[label] += time.process_time() - start
                    timer.calls[label] += 1

            setattr(owner, attr, async_wrapper)
        else:

            @functools.wraps(original)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                if not timer.enabled:
                    return original(*args, **kwargs)
                start = time.process_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    timer.cpu[label] += time.process_time() - start
                    timer.calls[label] += 1

            setattr(owner, attr, sync_wrapper)

    def restore(self) -> None:
        """Put the original functions back (so the cProfile pass does not see the wrappers)."""
        for owner, attr, original in reversed(self._originals):
            setattr(owner, attr, original)
        self._originals.clear()


def instrument(timer: StepTimer) -> None:
    """The steps of the ingest path worth timing (module globals are patched where they are used)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.domain.channels import controllers
    from app.domain.inbox import actions
    from app.domain.realtime import writer

    timer.wrap(controllers, "authenticate_inbound", "authenticate_inbound (controllers.py)")
    timer.wrap(controllers, "parse_inbound", "parse_inbound (integrations/custom/inbound.py)")
    timer.wrap(controllers, "do_ingest", "do_ingest (inbox/actions.py), all of it")
    timer.wrap(writer.Writer, "run", "  Writer.run (realtime/writer.py)")
    timer.wrap(actions, "resolve_sender", "    resolve_sender (contacts/resolution.py)")
    timer.wrap(actions, "thread_of_contact", "    thread_of_contact (inbox/threads.py)")
    timer.wrap(actions, "_emit_message_created", "    _emit_message_created (inbox/actions.py)")
    timer.wrap(writer.Writer, "_append_events", "    Writer._append_events (writer.py)")
    timer.wrap(writer.Writer, "_after_commit", "    Writer._after_commit: publish (writer.py)")
    for method in ("execute", "get", "scalar", "flush", "commit", "rollback", "close"):
        timer.wrap(AsyncSession, method, f"AsyncSession.{method}")
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
    from sqlalchemy.orm import Session

    timer.wrap(Session, "_connection_for_bind", "Session._connection_for_bind: checkout + BEGIN")
    for method in ("do_ping", "do_begin", "do_commit", "do_rollback"):
        timer.wrap(PGDialect_asyncpg, method, f"PGDialect_asyncpg.{method} (pool pre-ping, reset)")


class SqlCounter:
    """Counts statements (normalised) and new DBAPI connections through SQLAlchemy events."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.statements: collections.Counter[str] = collections.Counter()
        self.connects = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)
        event.listen(engine.sync_engine, "connect", self._on_connect)
        self.enabled = False

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.enabled:
            flat = re.sub(r"\s+", " ", statement).strip()
            self.statements[flat[:110]] += 1

    def _on_connect(self, *_: Any) -> None:
        if self.enabled:
            self.connects += 1


async def drive(
    app: Any, path: str, token: str, run: str, start: int, count: int, contacts: int
) -> tuple[float, float, int]:
    """Send ``count`` messages sequentially; (CPU seconds, wall seconds, non-202 answers)."""
    failures = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for seq in range(start, start + count):
        if await asgi_post(app, path, token, body_for(run, seq, contacts)) != 202:
            failures += 1
    return time.process_time() - cpu0, time.perf_counter() - wall0, failures


def package_of(filename: str) -> str:
    """``…/site-packages/sqlalchemy/orm/x.py`` → ``sqlalchemy``; ``/work/main/app/…`` → ``app``."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    for local in ("app", "integrations"):
        if f"/{local}/" in filename and str(REPO) in filename:
            return local
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins/C"
    return "stdlib" if "python3" in filename else filename


def apply_what_ifs(args: argparse.Namespace) -> list[str]:
    """Configuration experiments, applied by wrapping ``app.core.build_db_config`` (app code untouched)."""
    core = importlib.import_module("app.core")
    changes: list[str] = []
    if args.no_pre_ping:
        changes.append("pool_pre_ping=False")
    if args.no_aa_listeners:
        changes.append("advanced-alchemy file-object and touch-timestamp listeners off")
    if not changes:
        return changes
    original = core.build_db_config

    def build_db_config(settings: Any) -> Any:
        config = original(settings)
        if args.no_pre_ping:
            config.engine_config.pool_pre_ping = False
        if args.no_aa_listeners:
            config.enable_file_object_listener = False
            config.enable_touch_updated_timestamp_listener = False
        return config

    core.__dict__["build_db_config"] = build_db_config
    return changes


async def main_async(args: argparse.Namespace) -> None:
    from app.core import create_app
    from app.db.migrate import upgrade
    from app.domain.channels.accounts import do_add_channel_account
    from app.settings import Settings

    admin = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    database = f"onethread_profile_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{database}"')
    await conn.close()
    try:
        settings = Settings(
            database_url=args.postgres_url.rsplit("/", 1)[0] + "/" + database,
            redis_url=args.redis_url,
            secret_key=secrets.token_urlsafe(32),
            var_dir=Path(os.environ.get("TMPDIR", "/tmp")) / database,
            run_worker_in_process=False,
            job_queue=f"onethread:profile:{database}",
        )
        await asyncio.to_thread(upgrade, settings)
        changes = apply_what_ifs(args)
        app = create_app(settings)
        writer = app.state.writer
        async with app.lifespan():
            created = await do_add_channel_account(writer, channel="api", name="profile")
            path = f"/api/v1/channels/{created.account.id}/inbound"
            token = created.secrets["inbound_token"]
            engine = writer.sessionmaker.kw["bind"]
            counter = SqlCounter(engine)
            steps = StepTimer()
            instrument(steps)
            run = "p" + secrets.token_hex(3)
            # warm-up: every contact exists afterwards, caches and pools are filled
            await drive(app, path, token, run, 0, max(args.contacts, 100), args.contacts)
            start = max(args.contacts, 100)
            counter.enabled = True
            cpu, wall, failures = await drive(app, path, token, run, start, args.messages, args.contacts)
            counter.enabled = False
            start += args.messages
            steps.enabled = True
            scpu, _, sfail = await drive(app, path, token, run, start, args.messages, args.contacts)
            steps.enabled = False
            steps.restore()
            failures += sfail
            start += args.messages
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            pcpu, _, pfail = await drive(app, path, token, run, start, args.messages, args.contacts)
            profiler.disable()
        n = args.messages
        if changes:
            print(f"what-if: {', '.join(changes)}")
        print(f"{n} messages, sequential, existing contacts ({args.contacts}), failures {failures + pfail}")
        print(f"CPU per message: {cpu * 1000 / n:.3f} ms   wall per message: {wall * 1000 / n:.3f} ms")
        print(f"  (under cProfile: {pcpu * 1000 / n:.3f} ms)")
        print(
            f"Inclusive CPU per step (steps nest; measured in a separate pass, {scpu * 1000 / n:.3f} ms/msg):"
        )
        for label in steps.order:
            if steps.calls[label]:
                print(
                    f"  {steps.cpu[label] * 1000 / n:7.3f} ms/msg  {steps.calls[label] / n:5.2f} calls/msg  {label}"
                )
        total = sum(counter.statements.values())
        print(f"SQL statements per message: {total / n:.2f}   new DB connections: {counter.connects}")
        for statement, count in counter.statements.most_common(15):
            print(f"  {count / n:5.2f}  {statement}")
        stats = pstats.Stats(profiler)
        raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        by_package: dict[str, float] = collections.defaultdict(float)
        for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
            by_package[package_of(filename)] += tottime
        whole = sum(by_package.values()) or 1.0
        print("CPU by package (own time):")
        for package, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:14]:
            print(f"  {seconds / whole * 100:5.1f}%  {seconds * 1000 / n:6.3f} ms/msg  {package}")
        calls = sum(nc for (_cc, nc, *_rest) in raw.values())
        print(f"Python function calls per message: {calls / n:,.0f}")
        print(f"Top {args.top} functions by own CPU time:")
        stats.sort_stats("tottime").print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--callers", help="also print the callers of functions matching this pattern")
    parser.add_argument("--no-pre-ping", action="store_true", help="what-if: engine without pool_pre_ping")
    parser.add_argument(
        "--no-aa-listeners", action="store_true", help="what-if: advanced-alchemy flush listeners off"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "ONETHREAD_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("ONETHREAD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    if not args.postgres_url.startswith("postgresql+asyncpg://"):
        args.postgres_url = args.postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    import uvloop

    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()
