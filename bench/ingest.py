"""Ingest benchmark: OneThread's custom-channel path against a bare Litestar floor, same machine, same run.

    python bench/ingest.py [--messages N] [--concurrency C] [--rate R] [--duration S] [--keep-db]

For each target (OneThread, then the floor) the benchmark starts one uvicorn process on a fresh
PostgreSQL database and the shared Redis, opens one agent websocket, and measures per message the
time from just before its ``POST …/inbound`` to the moment its ``message.created`` frame arrives on
that socket (matched by a unique marker in the text). Three phases per target:

- warm-up: creates the contacts, fills pools and caches; not reported;
- saturation: ``--concurrency`` closed-loop keep-alive clients, as fast as the server answers,
  for ``--messages`` messages or ``--saturation-seconds``, whichever ends first;
- fixed rate: ``--rate`` messages/s for ``--duration`` seconds, open loop (a message is sent at its
  due time whatever the previous ones are doing; latency counts from the due time).

The load generator runs on the same two cores as the server, PostgreSQL and Redis; every phase
records the CPU-seconds each of them spent (see ``sysstat.py``) so the figures can be read with that
in mind. Results go to stdout as a table and to ``bench/results/ingest-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import msgspec

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import loadgen  # noqa: E402 - a sibling module, found through the line above
from common import (  # noqa: E402, F401 - re-exported: the other scripts use them as ingest.X
    Server,
    add_service_options,
    admin_sql,
    asyncpg_dsn,
    check_service_options,
    drop_job_queue,
    fmt,
    free_port,
    machine_info,
    percentile,
    run_cli,
    start_server,
    start_worker,
    with_database,
    write_report,
)
from common import git_commit as _git_commit  # noqa: E402, F401
from floor_app import TABLE_SQL  # noqa: E402
from sysstat import CpuProbe, CpuSnapshot  # noqa: E402

GOAL_THROUGHPUT_RATIO = 0.5
GOAL_P99_MS = 25.0
ARRIVAL_IDLE_SECONDS = 3.0
"""How long the receiver waits for a missing event after the last one before giving up on it."""
ARRIVAL_MAX_SECONDS = 10.0
"""The longest the receiver waits for a phase's events after its sender finished (bounds the run)."""
DISTURBED_CORES = 0.25
"""Above this average CPU use by processes outside the benchmark, a phase is flagged as disturbed."""
DRAIN_SECONDS = 10.0
"""How long the fixed-rate sender waits for outstanding answers after the last message was due."""
KEPT_UP_TAIL_SECONDS = 1.0
"""At a fixed rate, the server kept up if every event arrived and the last one came this soon after
the last message was due (a server that falls behind builds a backlog that grows with the run)."""


PG_STAT_COLUMNS = (
    "sessions",
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "blks_hit",
)


async def pg_stats(admin_url: str, database: str) -> dict[str, int]:
    """Counters of ``pg_stat_database`` for ``database`` (``sessions`` = connections opened).

    Approximate per phase: PostgreSQL publishes a backend's counters lazily (at most once a second
    while busy, within 10 s once idle), so a little of one phase can show up in the next.
    """
    conn = await asyncpg.connect(asyncpg_dsn(admin_url), timeout=10)
    try:
        row = await conn.fetchrow(
            f"SELECT {', '.join(PG_STAT_COLUMNS)} FROM pg_stat_database WHERE datname = $1",
            database,
        )
    finally:
        await conn.close()
    return {name: int(row[name] or 0) for name in PG_STAT_COLUMNS} if row else {}


# ------------------------------------------------------------------------------------------------
# servers
# ------------------------------------------------------------------------------------------------
# ------------------------------------------------------------------------------------------------
# the receiver process
# ------------------------------------------------------------------------------------------------
class Receiver:
    """Handle on the receiver process (``loadgen.receiver_main``): one agent websocket."""

    def __init__(self, ws_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=loadgen.receiver_main, args=(child, ws_url), daemon=True)
        self.process.start()
        child.close()

    async def _reply(self, limit: float) -> tuple[str, Any]:
        if not await asyncio.to_thread(self._conn.poll, limit):
            raise RuntimeError(f"the receiver did not answer within {limit:.0f}s")
        kind, payload = self._conn.recv()
        if kind in ("error", "closed"):
            raise RuntimeError(f"the receiver failed: {payload}")
        return kind, payload

    async def ready(self) -> None:
        await self._reply(30.0)

    async def collect(self, tag: str, expected: int) -> dict[str, Any]:
        self._conn.send(("collect", tag, expected, ARRIVAL_IDLE_SECONDS, ARRIVAL_MAX_SECONDS))
        _, payload = await self._reply(120.0)
        return dict(payload)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.send(("stop",))
        await asyncio.to_thread(self.process.join, 5.0)
        if self.process.is_alive():
            self.process.terminate()
            await asyncio.to_thread(self.process.join, 5.0)
        self._conn.close()


# ------------------------------------------------------------------------------------------------
# phases
# ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Context:
    """What every phase of one target needs."""

    args: argparse.Namespace
    run_id: str
    target: loadgen.Target
    receiver: Receiver
    probe: CpuProbe
    server: Server
    results_dir: Path
    database: str
    notes: list[str] = field(default_factory=list)
    visitors: list[str] = field(default_factory=list)
    """Signed visitor tokens when the channel is the widget (messages come from them round-robin)."""


def body_factory(tag: str, run_id: str, contacts: int) -> loadgen.BodyFactory:
    """Message ``seq`` of run ``tag``: a unique external id and marker; contacts reused round-robin."""
    encode = msgspec.json.encode

    def body(seq: int) -> bytes:
        who = f"{seq % contacts}" if contacts > 0 else f"{tag}x{seq}"
        return encode(
            {
                "external_id": f"{tag}-{seq}",
                "contact": {"external_id": f"bench-{run_id}-c{who}", "name": f"Bench Customer {who}"},
                "text": f"Hello, my order {seq} has not arrived yet. [{loadgen.marker(tag, seq)}]",
            }
        )

    return body


def widget_body_factory(tag: str, visitors: list[str]) -> loadgen.BodyFactory:
    """Message ``seq`` of run ``tag`` from visitor ``seq % len(visitors)`` (their signed token).

    Each visitor comes from an address of its own (``X-Forwarded-For``, believed from loopback as
    from a proxy): the widget limits sends per visitor and per address, as it should for real
    traffic, and one benchmark address would hit the address limit at once.
    """
    encode = msgspec.json.encode

    def body(seq: int) -> loadgen.Request:
        visitor = seq % len(visitors)
        return loadgen.Request(
            encode(
                {
                    "text": f"Hello, my order {seq} has not arrived yet. [{loadgen.marker(tag, seq)}]",
                    "client_id": f"{tag}-{seq}",
                }
            ),
            (
                ("Authorization", f"Bearer {visitors[visitor]}"),
                ("X-Forwarded-For", f"10.{visitor >> 16 & 255}.{visitor >> 8 & 255}.{visitor & 255}"),
            ),
        )

    return body


def summarize(
    phase: str,
    log: loadgen.SendLog,
    got: dict[str, Any],
    cpu: dict[str, float],
    *,
    rate: float | None,
    collected_at: float,
) -> dict[str, Any]:
    """Latency and throughput figures of one phase from the sender's log and the receiver's stamps."""
    arrivals: dict[int, float] = got["arrivals"]
    sent = len(log.intended)
    accepted = sum(1 for status in log.status.values() if 200 <= status < 300)
    rejected = sent - accepted
    unanswered = max(0, log.planned - sent - len(log.errors))
    # Latency runs from each message's due time (the moment just before its POST in a closed loop)
    # to its event, whether or not its HTTP answer came back before the sender stopped waiting.
    matched = [seq for seq in log.due if seq in arrivals]
    # A message whose event never came (unanswered, failed, lost) still has a latency: at least the
    # time from its due time to the end of the wait. Counting those lower bounds keeps an overloaded
    # run from reporting only its lucky messages; ``latency_censored`` says how many there were.
    censored = [seq for seq in log.due if seq not in arrivals]
    latencies = sorted(
        [(arrivals[seq] - log.due[seq]) * 1000 for seq in matched]
        + [(collected_at - log.due[seq]) * 1000 for seq in censored]
    )
    responses = sorted((log.answered[seq] - log.sent[seq]) * 1000 for seq in log.sent)
    lags = sorted((log.sent[seq] - log.intended[seq]) * 1000 for seq in log.sent)
    last_arrival = max(arrivals.values()) if arrivals else log.finished
    window = max(last_arrival - log.started, 1e-9)
    out: dict[str, Any] = {
        "phase": phase,
        "sent": sent,
        "accepted": accepted,
        "rejected": rejected,
        "transport_errors": len(log.errors),
        "unanswered": unanswered,
        "first_errors": log.errors[:5],
        "events": len(matched),
        "missing_events": sum(
            1 for seq, status in log.status.items() if 200 <= status < 300 and seq not in arrivals
        ),
        "duplicate_events": got.get("duplicates", 0),
        "other_frames": got.get("other_frames", 0),
        "seconds": round(window, 3),
        "events_per_s": round(len(matched) / window, 1),
        "http_per_s": round(accepted / max(log.finished - log.started, 1e-9), 1),
        "latency_censored": len(censored),
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else None,
        },
        "response_ms": {"p50": percentile(responses, 0.50), "p99": percentile(responses, 0.99)},
        "send_lag_ms": {"p99": percentile(lags, 0.99), "max": lags[-1] if lags else None},
        "connections": log.connections,
        "cpu_seconds": cpu,
    }
    if rate is not None:
        last_due = max(log.due.values()) if log.due else log.started
        tail = last_arrival - last_due
        out["offered_per_s"] = rate
        out["tail_after_last_due_s"] = round(tail, 3)
        out["kept_up"] = (
            sent > 0
            and rejected == 0
            and unanswered == 0
            and not log.errors
            and out["missing_events"] == 0
            and tail <= KEPT_UP_TAIL_SECONDS
        )
    handled = max(len(matched), 1)
    out["cpu_ms_per_message"] = {
        name: round(seconds * 1000 / handled, 3)
        for name, seconds in cpu.items()
        if name not in ("machine_busy", "other_cores")
    }
    for key in ("latency_ms", "response_ms", "send_lag_ms"):
        out[key] = {k: (round(v, 2) if v is not None else None) for k, v in out[key].items()}
    return out


@contextlib.asynccontextmanager
async def profiled(ctx: Context, seconds: float) -> AsyncIterator[None]:
    """With ``--profile``: py-spy records the server during the block, as collapsed stacks.

    Non-blocking sampling (the server is not paused). Note that SQLAlchemy's greenlets cut the
    stacks: frames below ``await_only`` appear as separate roots. ``bench/profile_ingest.py``
    attributes CPU to the ingest steps instead.
    """
    if not ctx.args.profile:
        yield
        return
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        ctx.notes.append("--profile: py-spy not found (.venv/bin/pip install py-spy)")
        yield
        return
    out = ctx.results_dir / f"pyspy-{ctx.server.name}-{ctx.run_id}.txt"
    proc = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(ctx.server.process.pid),
        "--duration",
        str(max(1, int(seconds))),
        "--rate",
        "200",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        try:
            await asyncio.wait_for(proc.wait(), seconds + 30)
        except TimeoutError:
            proc.kill()
        ctx.notes.append(f"{ctx.server.name}: py-spy profile (perturbs the figures): {out}")


async def run_phase(ctx: Context, phase: str) -> dict[str, Any]:
    """Run one phase against the target and collect its arrivals."""
    args = ctx.args
    tag = f"{ctx.server.name[0]}{phase[0]}{ctx.run_id}"
    body_for = (
        widget_body_factory(tag, ctx.visitors)
        if ctx.visitors
        else body_factory(tag, ctx.run_id, args.contacts)
    )
    pg_before = await pg_stats(args.postgres_url, ctx.database)
    before: CpuSnapshot = ctx.probe.snapshot()
    rate: float | None = None
    if phase == "warmup":
        log = await loadgen.closed_loop(
            ctx.target,
            body_for,
            concurrency=args.concurrency,
            max_messages=max(args.warmup, args.contacts),
            max_seconds=args.warmup_seconds,
            client_kind=args.client,
        )
    elif phase == "saturation":
        async with profiled(ctx, args.saturation_seconds) if ctx.server.name == "onethread" else _null():
            log = await loadgen.closed_loop(
                ctx.target,
                body_for,
                concurrency=args.concurrency,
                max_messages=args.messages,
                max_seconds=args.saturation_seconds,
                client_kind=args.client,
            )
    else:
        rate = args.rate
        log = await loadgen.open_loop(
            ctx.target,
            body_for,
            rate=args.rate,
            seconds=args.duration,
            max_connections=args.max_connections,
            drain_seconds=DRAIN_SECONDS,
            client_kind=args.client,
        )
    after = ctx.probe.snapshot()
    accepted = sum(1 for status in log.status.values() if 200 <= status < 300)
    got = await ctx.receiver.collect(tag, accepted)
    collected_at = time.monotonic()
    cpu = CpuProbe.delta(before, after)
    await asyncio.sleep(0.6)  # PostgreSQL flushes a backend's statistics at most once a second
    pg_after = await pg_stats(args.postgres_url, ctx.database)
    result = summarize(phase, log, got, cpu, rate=rate, collected_at=collected_at)
    handled = max(result["events"], 1)
    result["postgres_per_message"] = {
        name: round((pg_after.get(name, 0) - pg_before.get(name, 0)) / handled, 3) for name in pg_after
    }
    return result


@contextlib.asynccontextmanager
async def _null() -> AsyncIterator[None]:
    yield


async def measure(ctx: Context) -> dict[str, Any]:
    """Warm-up, saturation and fixed rate against one started target."""
    phases: dict[str, Any] = {}
    for phase in ("warmup", "saturation", "rate"):
        result = await run_phase(ctx, phase)
        phases[phase] = result
        lat = result["latency_ms"]
        print(
            f"  {ctx.server.name:9} {phase:10} sent {result['sent']:6} events {result['events']:6} "
            f"({result['events_per_s']:8.1f}/s)  p50 {fmt(lat['p50'])} ms  p99 {fmt(lat['p99'])} ms"
            f"  missing {result['missing_events']}  rejected {result['rejected']}",
            flush=True,
        )
    phases["server_log_problems"] = ctx.server.log_problems()[:20]
    return phases


# ------------------------------------------------------------------------------------------------
# targets
# ------------------------------------------------------------------------------------------------
async def bench_onethread(
    args: argparse.Namespace, run_id: str, work: Path, results_dir: Path, probe: CpuProbe
) -> dict[str, Any]:
    """Migrate a fresh database, create an admin and an api channel, serve, measure."""
    database = f"onethread_bench_{run_id}"
    await admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    port = free_port()
    env = {
        **os.environ,
        "ONETHREAD_DATABASE_URL": with_database(args.postgres_url, database),
        "ONETHREAD_REDIS_URL": args.redis_url,
        "ONETHREAD_SECRET_KEY": secrets.token_urlsafe(32),
        "ONETHREAD_VAR_DIR": str(work / "var"),
        "ONETHREAD_HOST": "127.0.0.1",
        "ONETHREAD_PORT": str(port),
        "ONETHREAD_LOGIN_RATE_LIMIT": "1000",
        "ONETHREAD_JOB_QUEUE": f"onethread:bench:{run_id}",
    }
    cli = [sys.executable, "-m", "app"]
    await run_cli([*cli, "migrate"], env)
    email, password = f"bench-{run_id}@example.com", secrets.token_urlsafe(16)
    kind = "webchat" if args.channel == "widget" else "api"
    _, channel_out = await asyncio.gather(
        run_cli(
            [
                *cli,
                "agent",
                "create",
                "--email",
                email,
                "--name",
                "Bench",
                f"--password={password}",
                "--admin",
            ],
            env,
        ),
        run_cli(
            [*cli, "channel", "add", kind, "--name", f"bench-{run_id}", "--json"]
            + (["--origin", "https://shop.example.com"] if kind == "webchat" else []),
            env,
        ),
    )
    channel = json.loads(channel_out)
    visitors: list[str] = []
    if args.channel == "widget":
        # Visitors who wrote once already (what a session and a first message make), seeded through
        # the app's actions; their tokens are signed with the server's key.
        from widget import seed_visitors

        t0 = time.monotonic()
        seeded = await seed_visitors(
            env["ONETHREAD_DATABASE_URL"],
            args.redis_url,
            env["ONETHREAD_SECRET_KEY"],
            channel["id"],
            args.contacts,
        )
        visitors = [token for token, _ in seeded]
        print(
            f"  onethread: seeded {len(visitors)} widget visitors in {time.monotonic() - t0:.0f}s", flush=True
        )
    serve = [*cli, "serve", "--port", str(port), "--log-level", args.server_log_level]
    if args.cprofile:
        out = results_dir / f"cprofile-onethread-{run_id}.prof"
        serve = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "app", *serve[3:]]
        args.notes.append(f"onethread ran under cProfile (figures are perturbed): {out}")
    server = start_server("onethread", serve, env, work)
    args.servers.append(server)
    await server.wait_healthy()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
        response.raise_for_status()
        agent_token = response.json()["token"]
    if visitors:
        target = loadgen.Target("127.0.0.1", port, "/widget/v1/messages", "")
    else:
        target = loadgen.Target(
            "127.0.0.1", port, f"/api/v1/channels/{channel['id']}/inbound", channel["token"]
        )
    ws_url = f"ws://127.0.0.1:{port}/api/v1/events?token={agent_token}"
    return await run_target(args, run_id, server, target, ws_url, probe, results_dir, database, visitors)


async def bench_floor(
    args: argparse.Namespace, run_id: str, work: Path, results_dir: Path, probe: CpuProbe
) -> dict[str, Any]:
    """A fresh database with one table, the bare Litestar app, measure."""
    database = f"onethread_bench_floor_{run_id}"
    await admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    url = with_database(args.postgres_url, database)
    await admin_sql(url, TABLE_SQL)
    port = free_port()
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": asyncpg_dsn(url),
        "FLOOR_REDIS_URL": args.redis_url,
        "FLOOR_TOKEN": token,
        "FLOOR_CHANNEL": f"onethread-bench-floor:{run_id}",
    }
    server = start_server(
        "floor",
        [
            sys.executable,
            str(BENCH_DIR / "floor_app.py"),
            "--port",
            str(port),
            "--log-level",
            args.server_log_level,
        ],
        env,
        work,
    )
    args.servers.append(server)
    await server.wait_healthy()
    account = secrets.token_hex(8)
    target = loadgen.Target("127.0.0.1", port, f"/api/v1/channels/{account}/inbound", token)
    ws_url = f"ws://127.0.0.1:{port}/api/v1/events"
    return await run_target(args, run_id, server, target, ws_url, probe, results_dir, database)


async def run_target(
    args: argparse.Namespace,
    run_id: str,
    server: Server,
    target: loadgen.Target,
    ws_url: str,
    probe: CpuProbe,
    results_dir: Path,
    database: str,
    visitors: list[str] | None = None,
) -> dict[str, Any]:
    receiver = Receiver(ws_url)
    try:
        await receiver.ready()
        probe.set_group("server", [server.process.pid])
        probe.set_group("loadgen_receiver", [receiver.process.pid or 0])
        ctx = Context(
            args, run_id, target, receiver, probe, server, results_dir, database, visitors=visitors or []
        )
        phases = await measure(ctx)
        phases["notes"] = ctx.notes
        return phases
    finally:
        await receiver.close()
        await server.stop()


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """The two goals: throughput at least half the floor's, p99 < 25 ms at the fixed rate."""
    out: dict[str, Any] = {}
    ot, floor = results.get("onethread"), results.get("floor")
    if ot and floor:
        ratio = ot["saturation"]["events_per_s"] / max(floor["saturation"]["events_per_s"], 1e-9)
        out["throughput_ratio"] = round(ratio, 3)
        out["throughput_goal_met"] = ratio >= GOAL_THROUGHPUT_RATIO
    if ot:
        p99 = ot["rate"]["latency_ms"]["p99"]
        out["p99_at_rate_goal_met"] = bool(
            p99 is not None and p99 < GOAL_P99_MS and ot["rate"].get("kept_up")
        )
    return out


def latency(phase: dict[str, Any], key: str) -> str:
    """A latency figure; "≥" when messages without an event (counted as lower bounds) were in the set."""
    value = fmt(phase["latency_ms"][key])
    return f"≥{value}" if phase.get("latency_censored") else value


def print_table(results: dict[str, Any], goals: dict[str, Any], args: argparse.Namespace) -> None:
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("msgs/s at saturation (events)", lambda r: fmt(r["saturation"]["events_per_s"])),
        ("  HTTP 202/s at saturation", lambda r: fmt(r["saturation"]["http_per_s"])),
        ("p50 ms at saturation", lambda r: latency(r["saturation"], "p50")),
        ("p99 ms at saturation", lambda r: latency(r["saturation"], "p99")),
        (f"p50 ms at {args.rate:g}/s", lambda r: latency(r["rate"], "p50")),
        (f"p99 ms at {args.rate:g}/s", lambda r: latency(r["rate"], "p99")),
        (f"max ms at {args.rate:g}/s", lambda r: latency(r["rate"], "max")),
        (f"kept up with {args.rate:g}/s", lambda r: "yes" if r["rate"]["kept_up"] else "NO"),
        ("server CPU ms/msg (saturation)", lambda r: fmt(r["saturation"]["cpu_ms_per_message"]["server"], 3)),
        (
            "server cores used (saturation)",
            lambda r: fmt(r["saturation"]["cpu_seconds"]["server"] / r["saturation"]["seconds"], 2),
        ),
        (
            "postgres CPU ms/msg (saturation)",
            lambda r: fmt(r["saturation"]["cpu_ms_per_message"]["postgres"], 3),
        ),
        (
            "loadgen CPU ms/msg (saturation)",
            lambda r: fmt(
                r["saturation"]["cpu_ms_per_message"]["loadgen_sender"]
                + r["saturation"]["cpu_ms_per_message"]["loadgen_receiver"],
                3,
            ),
        ),
        (
            "other CPU ms/msg (saturation)",
            lambda r: fmt(r["saturation"]["cpu_ms_per_message"]["other"], 3),
        ),
        (
            "cores taken by others (sat/rate)",
            lambda r: (
                f"{r['saturation']['cpu_seconds']['other_cores']:.2f}/{r['rate']['cpu_seconds']['other_cores']:.2f}"
            ),
        ),
        (
            "machine busy (saturation)",
            lambda r: f"{r['saturation']['cpu_seconds']['machine_busy'] * 100:.0f}%",
        ),
        (
            "messages without event (sat+rate)",
            lambda r: str(sum(r[p]["latency_censored"] for p in ("saturation", "rate"))),
        ),
    ]
    names = [name for name in ("onethread", "floor") if name in results]
    width = max(len(label) for label, _ in rows) + 2
    print()
    print(f"{'':{width}}" + "".join(f"{name:>14}" for name in names))
    for label, value in rows:
        print(f"{label:{width}}" + "".join(f"{value(results[name]):>14}" for name in names))
    print()
    if "throughput_ratio" in goals:
        mark = "MET" if goals["throughput_goal_met"] else "NOT MET"
        print(
            f"throughput OneThread/floor = {goals['throughput_ratio']:.2f}  "
            f"(goal ≥ {GOAL_THROUGHPUT_RATIO}): {mark}"
        )
    if "p99_at_rate_goal_met" in goals:
        p99 = results["onethread"]["rate"]["latency_ms"]["p99"]
        mark = "MET" if goals["p99_at_rate_goal_met"] else "NOT MET"
        print(
            f"OneThread p99 at {args.rate:g}/s = {fmt(p99)} ms (goal < {GOAL_P99_MS:g} ms, kept up): {mark}"
        )
    disturbed = [
        f"{name} {phase}"
        for name, phases in results.items()
        for phase in ("saturation", "rate")
        if phases[phase]["cpu_seconds"]["other_cores"] > DISTURBED_CORES
    ]
    if disturbed:
        print(
            f"WARNING: other work on the machine took more than {DISTURBED_CORES} of a core during "
            f"{', '.join(disturbed)}; those figures are pessimistic, run again on a quiet machine."
        )
    print(
        f"load generator: {args.client} HTTP client, {args.concurrency} keep-alive connections at "
        f"saturation, one websocket receiver process; it shares the {os.cpu_count()} cores with the "
        "server, PostgreSQL and Redis (its CPU share is in the table)."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=50_000, help="most messages in the saturation run")
    parser.add_argument(
        "--saturation-seconds", type=float, default=8.0, help="longest saturation run (default 8)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients at saturation")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s of the fixed-rate run")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the fixed-rate run")
    parser.add_argument(
        "--max-connections", type=int, default=256, help="connection cap of the open-loop sender"
    )
    parser.add_argument("--warmup", type=int, default=300, help="warm-up messages (at least --contacts)")
    parser.add_argument("--warmup-seconds", type=float, default=8.0, help="longest warm-up")
    parser.add_argument(
        "--contacts",
        type=int,
        default=200,
        help="customers the messages come from, round-robin (0: every message a new customer)",
    )
    parser.add_argument(
        "--channel",
        choices=["api", "widget"],
        default="api",
        help="OneThread's path: the custom channel's inbound API, or web-chat visitors' POST "
        "/widget/v1/messages (--contacts visitors, seeded first); the floor's route is the same either way",
    )
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="HTTP client of the sender")
    parser.add_argument(
        "--only", choices=["both", "onethread", "floor"], default="both", help="which targets to run"
    )
    parser.add_argument(
        "--server-log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level of both servers (info adds an access-log line per request)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the OneThread saturation run")
    parser.add_argument(
        "--cprofile", action="store_true", help="run the OneThread server under cProfile (slow, for hotspots)"
    )
    add_service_options(parser)
    args = parser.parse_args(argv)
    check_service_options(parser, args)
    return args


async def main_async(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(4)
    started = datetime.now()
    results_dir = BENCH_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"onethread-bench-{run_id}-"))
    args.created_databases = []
    args.servers = []
    args.notes = []
    probe = CpuProbe()
    probe.set_group("loadgen_sender", [os.getpid()])
    results: dict[str, Any] = {}
    failed = False
    print(
        f"ingest benchmark {run_id}: {os.cpu_count()} cores shared by server, PostgreSQL, Redis and load "
        f"generator; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    t0 = time.monotonic()
    # SIGTERM (and SIGINT, unless the shell made us ignore it) cancels the run; the ``finally``
    # below still stops the servers and drops the databases.
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            loop.add_signal_handler(sig, task.cancel)
    try:
        if args.only in ("both", "onethread"):
            results["onethread"] = await bench_onethread(args, run_id, work, results_dir, probe)
        if args.only in ("both", "floor"):
            results["floor"] = await bench_floor(args, run_id, work, results_dir, probe)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except BaseException:
        failed = True
        for server in args.servers:
            print(f"--- {server.name} log tail ({server.log_path}) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        for server in args.servers:
            await server.stop()
        await drop_job_queue(args.redis_url, f"onethread:bench:{run_id}")
        if not args.keep_db:
            for database in args.created_databases:
                with contextlib.suppress(Exception):
                    await admin_sql(args.postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    goals = verdict(results)
    print_table(results, goals, args)
    for note in args.notes:
        print(f"note: {note}")
    for name, phases in results.items():
        for problem in phases.get("server_log_problems", [])[:5]:
            print(f"{name} log: {problem}")
        for note in phases.get("notes", []):
            print(f"note: {note}")
    report = {
        "benchmark": "ingest",
        "channel": args.channel,
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {
            key: value
            for key, value in vars(args).items()
            if key not in ("created_databases", "servers", "postgres_url", "notes")
        },
        "machine": machine_info(),
        "goals": {"throughput_ratio_min": GOAL_THROUGHPUT_RATIO, "p99_ms_max_at_rate": GOAL_P99_MS, **goals},
        "databases_kept": args.created_databases if args.keep_db else [],
        "results": results,
    }
    out = write_report("ingest" if args.channel == "api" else f"ingest-{args.channel}", started, report)
    print(f"results: {out.relative_to(REPO)}  (whole run {report['seconds']:.0f}s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvloop

    try:
        return uvloop.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("ingest benchmark interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
