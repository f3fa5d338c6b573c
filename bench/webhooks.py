"""Webhook benchmark: Telegram and Messenger webhooks of OneThread against a bare Litestar floor.

    python bench/webhooks.py [--saturation-seconds S] [--rate R] [--duration S] [--channels telegram,messenger]

Two servers run side by side on fresh PostgreSQL databases and the shared Redis: ``onethread
serve`` with a Telegram account and a Messenger account made by ``onethread channel add`` (webhook
secret, app secret), and ``floor_app.py``, whose webhook routes do the least such a route must
(secret or HMAC check, JSON parse, one ``INSERT … ON CONFLICT DO NOTHING``, one Redis ``PUBLISH``).
Bodies come from the recorded fixtures (``webhook_payloads.py``): unique ``update_id`` / ``mid``,
``--contacts`` distinct customers, Messenger bodies signed over the exact bytes sent.

Per channel, OneThread then the floor, each through the same phases as ``ingest.py``:

- warm-up: creates the customers; not reported;
- saturation: ``--concurrency`` closed-loop keep-alive clients for ``--saturation-seconds``;
- fixed rate: ``--rate`` webhooks/s for ``--duration`` s, open loop;
- retry: ``--retry-updates`` updates of the saturation phase posted again, ``--retry-copies`` times
  each, the copies of one update in flight together (the platforms retry with the same bytes).
  Every copy must get a 200 and no new ``message.created`` event may appear.

Measured: POST → 200 (the platform's view) and POST → the message's ``message.created`` frame on an
agent websocket (``WS /api/v1/events``, the agent's view), throughput at saturation, the CPU each
process spent. At the end the stored rows are read back per account: every update answered 200 must
be stored exactly once ("sent N, stored N, duplicates 0"). Results: a table on stdout and
``bench/results/webhooks-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO))  # tests.fakes: the local Graph server the profile lookups go to

import ingest  # noqa: E402 - siblings, found through the line above
import loadgen  # noqa: E402
from floor_app import TABLE_SQL  # noqa: E402
from sysstat import CpuProbe, process_cpu_seconds  # noqa: E402
from webhook_payloads import (  # noqa: E402
    FIRST_PSID,
    MessengerStream,
    TelegramStream,
    customer_name,
    messenger_templates,
    telegram_templates,
)

from tests.fakes.graph_api import GraphApi  # noqa: E402

CHANNELS = ("telegram", "messenger")
PHASE_INDEX = {"warmup": 0, "saturation": 1, "rate": 2}
"""Each phase's updates get their own ``update_id`` / ``mid`` range (``webhook_payloads``)."""
UNREACHABLE_URL = "http://127.0.0.1:9"
"""Bot API / Graph URL of the benchmark accounts: nothing may leave the machine (port 9 is discard)."""

Stream = TelegramStream | MessengerStream


@dataclass(slots=True)
class Endpoint:
    """One webhook of one server: where to POST and how its bodies are made."""

    channel: str
    account_id: str
    target: loadgen.Target
    stream: Stream


@dataclass(slots=True)
class Deployment:
    """One server under test with its agent websocket and its webhook endpoints."""

    name: str
    server: ingest.Server
    receiver: ingest.Receiver
    database: str
    endpoints: dict[str, Endpoint]
    stored_keys: Callable[[str], Awaitable[list[str]]]
    """The ``external_id`` of every message stored for an account (one entry per row)."""
    worker: ingest.Server | None = None
    """OneThread's job worker (``onethread worker``: Messenger profile lookups)."""


@dataclass(slots=True)
class PhaseRun:
    """What one phase left behind: its summary, the sender's log and the arrivals."""

    summary: dict[str, Any]
    log: loadgen.SendLog
    arrivals: dict[int, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------
# set-up
# ------------------------------------------------------------------------------------------------
def make_streams(
    args: argparse.Namespace, bot_id: str, secret: str, page_id: str, app_secret: str
) -> dict[str, Stream]:
    return {
        "telegram": TelegramStream(bot_id, secret, args.contacts, telegram_templates()),
        "messenger": MessengerStream(page_id, app_secret, args.contacts, messenger_templates()),
    }


def new_credentials() -> dict[str, str]:
    """A bot token and secrets in the platforms' formats (the CLI validates them)."""
    bot_id = str(6_000_000_000 + secrets.randbelow(1_000_000_000))
    return {
        "bot_id": bot_id,
        "bot_token": f"{bot_id}:AA{secrets.token_urlsafe(24)}",
        "webhook_secret": secrets.token_urlsafe(32),
        "page_id": str(100_000_000_000_000 + secrets.randbelow(900_000_000_000_000)),
        "page_token": "EAAB" + secrets.token_urlsafe(48),
        "app_secret": secrets.token_hex(16),
        "verify_token": secrets.token_urlsafe(16),
    }


def channel_add(cli: list[str], kind: str, **flags: str) -> list[str]:
    """``onethread channel add KIND --flag=value … --json`` (``=``: a secret may start with ``-``)."""
    return [
        *cli,
        "channel",
        "add",
        kind,
        *(f"--{name.replace('_', '-')}={value}" for name, value in flags.items()),
        "--json",
    ]


async def setup_onethread(args: argparse.Namespace, run_id: str, work: Path) -> Deployment:
    """A migrated database, an admin agent, the two accounts through the CLI, ``onethread serve``."""
    database = f"onethread_bench_wh_{run_id}"
    await ingest.admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    url = ingest.with_database(args.postgres_url, database)
    port = ingest.free_port()
    env = {
        **os.environ,
        "ONETHREAD_DATABASE_URL": url,
        "ONETHREAD_REDIS_URL": args.redis_url,
        "ONETHREAD_SECRET_KEY": secrets.token_urlsafe(32),
        "ONETHREAD_VAR_DIR": str(work / "var"),
        "ONETHREAD_HOST": "127.0.0.1",
        "ONETHREAD_PORT": str(port),
        "ONETHREAD_LOGIN_RATE_LIMIT": "1000",
        "ONETHREAD_JOB_QUEUE": f"onethread:bench:{run_id}",
    }
    cli = [sys.executable, "-m", "app"]
    await ingest.run_cli([*cli, "migrate"], env)
    cred = new_credentials()
    graph_url = await start_graph(args)
    email, password = f"bench-{run_id}@example.com", secrets.token_urlsafe(16)
    _, telegram_out, messenger_out = await asyncio.gather(
        ingest.run_cli(
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
        ingest.run_cli(
            channel_add(
                cli,
                "telegram",
                name=f"bench-tg-{run_id}",
                token=cred["bot_token"],
                webhook_secret=cred["webhook_secret"],
                api_url=UNREACHABLE_URL,
            ),
            env,
        ),
        ingest.run_cli(
            channel_add(
                cli,
                "messenger",
                name=f"bench-fb-{run_id}",
                page_id=cred["page_id"],
                page_token=cred["page_token"],
                app_secret=cred["app_secret"],
                verify_token=cred["verify_token"],
                graph_url=graph_url,
            ),
            env,
        ),
    )
    accounts = {"telegram": json.loads(telegram_out)["id"], "messenger": json.loads(messenger_out)["id"]}
    serve = [*cli, "serve", "--port", str(port), "--log-level", args.server_log_level]
    server = ingest.start_server("onethread", serve, env, work)
    args.servers.append(server)
    worker = ingest.start_worker([*cli, "worker"], env, work)
    args.servers.append(worker)
    await server.wait_healthy()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
        response.raise_for_status()
        agent_token = response.json()["token"]
    receiver = ingest.Receiver(f"ws://127.0.0.1:{port}/api/v1/events?token={agent_token}")
    await receiver.ready()
    dsn = ingest.asyncpg_dsn(url)

    async def stored_keys(account_id: str) -> list[str]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT external_id FROM messages WHERE channel_account_id = $1::uuid", account_id
            )
        finally:
            await conn.close()
        return [row["external_id"] for row in rows]

    return Deployment(
        "onethread", server, receiver, database, endpoints(port, accounts, cred, args), stored_keys, worker
    )


async def start_graph(args: argparse.Namespace) -> str:
    """The local Graph server (``tests/fakes/graph_api.py``) the Messenger profile lookups go to.

    With ``--messenger-profiles stored`` it knows every benchmark customer (their names end up on
    the contacts, as when the page may read profiles); with ``refused`` it answers Graph's "missing
    permissions", and the contacts stay nameless.
    """
    graph = GraphApi()
    await graph.start()
    args.graphs.append(graph)
    if args.messenger_profiles == "stored":
        first = FIRST_PSID
        for customer in range(max(args.contacts, 1)):
            first_name, _, number = customer_name(customer).partition(" ")
            graph.add_profile(str(first + customer), first_name=first_name, last_name=f"Customer-{number}")
    return graph.url


async def setup_floor(args: argparse.Namespace, run_id: str, work: Path) -> Deployment:
    """A database with the floor's one table and ``floor_app.py`` with the same secrets."""
    database = f"onethread_bench_wh_floor_{run_id}"
    await ingest.admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    url = ingest.with_database(args.postgres_url, database)
    await ingest.admin_sql(url, TABLE_SQL)
    port = ingest.free_port()
    cred = new_credentials()
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": ingest.asyncpg_dsn(url),
        "FLOOR_REDIS_URL": args.redis_url,
        "FLOOR_TOKEN": secrets.token_urlsafe(24),
        "FLOOR_CHANNEL": f"onethread-bench-floor-wh:{run_id}",
        "FLOOR_TELEGRAM_SECRET": cred["webhook_secret"],
        "FLOOR_TELEGRAM_BOT_ID": cred["bot_id"],
        "FLOOR_MESSENGER_APP_SECRET": cred["app_secret"],
    }
    command = [
        sys.executable, str(BENCH_DIR / "floor_app.py"), "--port", str(port), "--log-level", args.server_log_level,
    ]  # fmt: skip
    server = ingest.start_server("floor", command, env, work)
    args.servers.append(server)
    await server.wait_healthy()
    receiver = ingest.Receiver(f"ws://127.0.0.1:{port}/api/v1/events")
    await receiver.ready()
    accounts = {channel: secrets.token_hex(8) for channel in CHANNELS}
    dsn = ingest.asyncpg_dsn(url)

    async def stored_keys(account_id: str) -> list[str]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT external_id FROM floor_messages WHERE account_id = $1", account_id
            )
        finally:
            await conn.close()
        return [row["external_id"] for row in rows]

    return Deployment("floor", server, receiver, database, endpoints(port, accounts, cred, args), stored_keys)


def endpoints(
    port: int, accounts: dict[str, str], cred: dict[str, str], args: argparse.Namespace
) -> dict[str, Endpoint]:
    streams = make_streams(args, cred["bot_id"], cred["webhook_secret"], cred["page_id"], cred["app_secret"])
    return {
        channel: Endpoint(
            channel,
            accounts[channel],
            loadgen.Target("127.0.0.1", port, f"/webhooks/{channel}/{accounts[channel]}", ""),
            streams[channel],
        )
        for channel in args.channels
    }


# ------------------------------------------------------------------------------------------------
# phases
# ------------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def py_spy(dep: Deployment, name: str, seconds: float, enabled: bool) -> AsyncIterator[None]:
    """With ``--profile``: py-spy samples the OneThread server during saturation (collapsed stacks
    in ``bench/results/pyspy-webhooks-*.txt``; ``pip install py-spy`` into the venv)."""
    binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not enabled or binary is None:
        if enabled:
            print("--profile: py-spy not found (.venv/bin/pip install py-spy)", file=sys.stderr)
        yield
        return
    out = BENCH_DIR / "results" / f"pyspy-webhooks-{name}.txt"
    command = [
        binary,
        "record",
        "--pid",
        str(dep.server.process.pid),
        "--duration",
        str(max(1, int(seconds))),
    ]
    proc = await asyncio.create_subprocess_exec(
        *command, "--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        try:
            await asyncio.wait_for(proc.wait(), seconds + 30)
        except TimeoutError:
            proc.kill()
        print(f"  py-spy profile (perturbs the figures): {out.relative_to(REPO)}", flush=True)


async def settle(dep: Deployment, limit: float) -> float:
    """Wait until the server (and worker) is idle (under 5 % of a core for half a second), at most
    ``limit`` s.

    A server that fell behind at the fixed rate still works through its backlog after the sender
    gave up waiting; the next phase must not be measured on top of that. Returns the seconds waited.
    """
    pids = [dep.server.process.pid] + ([dep.worker.process.pid] if dep.worker else [])
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = sum(process_cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(0.5)
        if sum(process_cpu_seconds(pid) for pid in pids) - before < 0.025:
            break
    return round(time.monotonic() - started, 1)


def body_factory(stream: Stream, phase: int, tag: str) -> loadgen.BodyFactory:
    def body(seq: int) -> loadgen.Request:
        made = stream.generate(phase, seq, loadgen.marker(tag, seq))
        return loadgen.Request(made.body, made.headers)

    return body


def tag_of(run_id: str, dep: Deployment, endpoint: Endpoint, phase: str) -> str:
    return f"{dep.name[0]}{endpoint.channel[0]}{phase[0]}{run_id}"


async def run_phase(
    args: argparse.Namespace, run_id: str, dep: Deployment, endpoint: Endpoint, phase: str, probe: CpuProbe
) -> PhaseRun:
    """Warm-up, saturation or fixed rate against one webhook; arrivals collected from the websocket."""
    tag = tag_of(run_id, dep, endpoint, phase)
    body_for = body_factory(endpoint.stream, PHASE_INDEX[phase], tag)
    waited = await settle(dep, args.settle_seconds)
    before = probe.snapshot()
    rate: float | None = None
    if phase == "rate":
        rate = args.rate
        log = await loadgen.open_loop(
            endpoint.target,
            body_for,
            rate=args.rate,
            seconds=args.duration,
            max_connections=args.max_connections,
            drain_seconds=ingest.DRAIN_SECONDS,
        )
    else:
        warmup = phase == "warmup"
        profile = args.profile and dep.name == "onethread" and not warmup
        async with py_spy(dep, f"{endpoint.channel}-{run_id}", args.saturation_seconds, profile):
            log = await loadgen.closed_loop(
                endpoint.target,
                body_for,
                concurrency=args.concurrency,
                max_messages=max(args.warmup, args.contacts) if warmup else 10_000_000,
                max_seconds=args.warmup_seconds if warmup else args.saturation_seconds,
            )
    after = probe.snapshot()
    accepted = sum(1 for status in log.status.values() if 200 <= status < 300)
    got = await dep.receiver.collect(tag, accepted)
    collected_at = time.monotonic()
    summary = ingest.summarize(
        phase, log, got, CpuProbe.delta(before, after), rate=rate, collected_at=collected_at
    )
    summary["settled_before_s"] = waited
    return PhaseRun(summary, log, dict(got["arrivals"]))


async def run_retry(
    args: argparse.Namespace,
    run_id: str,
    dep: Deployment,
    endpoint: Endpoint,
    saturation: PhaseRun,
    probe: CpuProbe,
) -> dict[str, Any]:
    """Post updates of the saturation phase again, byte for byte; count answers and new events."""
    delivered = sorted(saturation.arrivals)
    step = max(1, len(delivered) // max(args.retry_updates, 1))
    chosen = delivered[::step][: args.retry_updates]
    copies = args.retry_copies
    tag = tag_of(run_id, dep, endpoint, "saturation")
    original = body_factory(endpoint.stream, PHASE_INDEX["saturation"], tag)
    waited = await settle(dep, args.settle_seconds)
    before = probe.snapshot()
    log = await loadgen.closed_loop(
        endpoint.target,
        lambda seq: original(chosen[seq // copies]),
        concurrency=args.concurrency,
        max_messages=len(chosen) * copies,
        max_seconds=args.retry_seconds,
    )
    after = probe.snapshot()
    await asyncio.sleep(ingest.ARRIVAL_IDLE_SECONDS)  # time for an event a retry should not have caused
    got = await dep.receiver.collect(tag, 0)
    chosen_set = set(chosen)
    responses = sorted((log.answered[seq] - log.sent[seq]) * 1000 for seq in log.sent)
    statuses: dict[str, int] = {}
    for status in log.status.values():
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    seconds = max(log.finished - log.started, 1e-9)
    cpu = CpuProbe.delta(before, after)
    return {
        "phase": "retry",
        "settled_before_s": waited,
        "updates": len(chosen),
        "copies": copies,
        "posts": len(log.due),
        "answered": len(log.status),
        "statuses": statuses,
        "non_200": sum(count for status, count in statuses.items() if status != "200"),
        "transport_errors": len(log.errors),
        "first_errors": log.errors[:5],
        "posts_per_s": round(len(log.status) / seconds, 1),
        "response_ms": {
            "p50": _round(ingest.percentile(responses, 0.50)),
            "p99": _round(ingest.percentile(responses, 0.99)),
        },
        "new_events": sum(1 for seq in got["arrivals"] if seq in chosen_set) + int(got.get("duplicates", 0)),
        "late_events": sum(1 for seq in got["arrivals"] if seq not in chosen_set),
        "cpu_seconds": cpu,
        "server_cpu_ms_per_post": round(cpu.get("server", 0.0) * 1000 / max(len(log.status), 1), 3),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def check_stored(
    dep: Deployment, endpoint: Endpoint, runs: dict[str, PhaseRun], retry: dict[str, Any]
) -> dict[str, Any]:
    """Every update answered 2xx stored exactly once; nothing stored that was not sent.

    An update the sender gave up waiting for (a server far behind at the fixed rate) may or may not
    be stored: the platform would post it again, so either is correct; they are counted apart.
    """
    accepted: set[str] = set()
    uncertain: set[str] = set()
    for phase, run in runs.items():
        index = PHASE_INDEX[phase]
        for seq in run.log.due:
            key = endpoint.stream.key(index, seq)
            status = run.log.status.get(seq)
            if status is not None and 200 <= status < 300:
                accepted.add(key)
            elif status is None:
                uncertain.add(key)
    rows = await dep.stored_keys(endpoint.account_id)
    stored = set(rows)
    repeated_events = sum(run.summary["duplicate_events"] for run in runs.values())
    duplicate_rows = len(rows) - len(stored)
    duplicates = duplicate_rows + repeated_events + retry["new_events"]
    lost = len(accepted - stored)
    unexpected = len(stored - accepted - uncertain)
    clean_retry = retry["non_200"] == 0 and not retry["transport_errors"]
    return {
        "sent": len(accepted | uncertain),
        "answered_200": len(accepted),
        "unanswered": len(uncertain),
        "unanswered_stored": len(uncertain & stored),
        "stored": len(rows),
        "lost": lost,
        "unexpected": unexpected,
        "duplicate_rows": duplicate_rows,
        "duplicate_events": repeated_events + retry["new_events"],
        "duplicates": duplicates,
        "ok": lost == 0 and unexpected == 0 and duplicates == 0 and clean_retry,
    }


def integrity_line(c: dict[str, Any]) -> str:
    line = f"sent {c['sent']}, stored {c['stored']}, duplicates {c['duplicates']}, lost {c['lost']}"
    if c["unanswered"]:
        line += (
            f" ({c['answered_200']} answered 200, all stored; {c['unanswered']} not answered before the "
            f"sender's deadline, {c['unanswered_stored']} of them stored)"
            if c["lost"] == 0
            else f" ({c['answered_200']} answered 200; {c['unanswered']} not answered)"
        )
    if c["unexpected"]:
        line += f", {c['unexpected']} stored that were never sent"
    return line


async def measure(
    args: argparse.Namespace, run_id: str, dep: Deployment, endpoint: Endpoint, probe: CpuProbe
) -> dict[str, Any]:
    probe.set_group("server", [dep.server.process.pid])
    probe.set_group("worker", [dep.worker.process.pid] if dep.worker else [])
    probe.set_group("loadgen_receiver", [dep.receiver.process.pid or 0])
    runs: dict[str, PhaseRun] = {}
    out: dict[str, Any] = {}
    for phase in ("warmup", "saturation", "rate"):
        run = await run_phase(args, run_id, dep, endpoint, phase, probe)
        runs[phase] = run
        out[phase] = run.summary
        s = run.summary
        print(
            f"  {endpoint.channel:9} {dep.name:9} {phase:10} sent {s['sent']:6} events {s['events']:6} "
            f"({s['events_per_s']:7.1f}/s)  POST→200 p50 {ingest.fmt(s['response_ms']['p50'])} "
            f"p99 {ingest.fmt(s['response_ms']['p99'])} ms  POST→event p50 {ingest.fmt(s['latency_ms']['p50'])} "
            f"p99 {ingest.fmt(s['latency_ms']['p99'])} ms  rejected {s['rejected']}",
            flush=True,
        )
    retry = await run_retry(args, run_id, dep, endpoint, runs["saturation"], probe)
    out["retry"] = retry
    print(
        f"  {endpoint.channel:9} {dep.name:9} retry      {retry['updates']} updates x {retry['copies']}: "
        f"answers {retry['statuses']}  POST→200 p50 {ingest.fmt(retry['response_ms']['p50'])} "
        f"p99 {ingest.fmt(retry['response_ms']['p99'])} ms  new events {retry['new_events']}",
        flush=True,
    )
    await settle(dep, args.settle_seconds)
    out["integrity"] = check_stored_result = await check_stored(dep, endpoint, runs, retry)
    print(f"  {endpoint.channel:9} {dep.name:9} {integrity_line(check_stored_result)}", flush=True)
    return out


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
Row = tuple[str, Callable[[dict[str, Any]], float | str | None], str]
"""Label, figure of one target's channel results, and how to compare with the floor:
``"x"`` ratio OneThread/floor, ``""`` no ratio."""


def rows(args: argparse.Namespace) -> list[Row]:
    rate = f"{args.rate:g}/s"

    def lat(phase: str, kind: str, pct: str) -> Callable[[dict[str, Any]], float | None]:
        return lambda r: r[phase][kind][pct]

    return [
        ("msgs/s at saturation (events)", lambda r: r["saturation"]["events_per_s"], "x"),
        ("  msgs/s in warm-up (new customers)", lambda r: r["warmup"]["events_per_s"], "x"),
        ("  HTTP 200/s at saturation", lambda r: r["saturation"]["http_per_s"], "x"),
        ("POST→200 p50 ms, saturation", lat("saturation", "response_ms", "p50"), "x"),
        ("POST→200 p99 ms, saturation", lat("saturation", "response_ms", "p99"), "x"),
        ("POST→event p50 ms, saturation", lat("saturation", "latency_ms", "p50"), "x"),
        ("POST→event p99 ms, saturation", lat("saturation", "latency_ms", "p99"), "x"),
        (f"POST→200 p50 ms at {rate}", lat("rate", "response_ms", "p50"), "x"),
        (f"POST→200 p99 ms at {rate}", lat("rate", "response_ms", "p99"), "x"),
        (f"POST→event p50 ms at {rate}", lat("rate", "latency_ms", "p50"), "x"),
        (f"POST→event p99 ms at {rate}", lat("rate", "latency_ms", "p99"), "x"),
        (f"kept up with {rate}", lambda r: "yes" if r["rate"]["kept_up"] else "NO", ""),
        ("retry POST→200 p50 ms", lambda r: r["retry"]["response_ms"]["p50"], "x"),
        ("retry POST→200 p99 ms", lambda r: r["retry"]["response_ms"]["p99"], "x"),
        ("retry posts/s", lambda r: r["retry"]["posts_per_s"], "x"),
        ("retry non-200 / new events", lambda r: f"{r['retry']['non_200']}/{r['retry']['new_events']}", ""),
        ("server CPU ms/msg (saturation)", lambda r: r["saturation"]["cpu_ms_per_message"]["server"], "x"),
        (
            "postgres CPU ms/msg (saturation)",
            lambda r: r["saturation"]["cpu_ms_per_message"]["postgres"],
            "x",
        ),
        (
            "server+postgres CPU ms/msg (sat)",
            lambda r: (
                r["saturation"]["cpu_ms_per_message"]["server"]
                + r["saturation"]["cpu_ms_per_message"]["postgres"]
            ),
            "x",
        ),
        ("server CPU ms/retry post", lambda r: r["retry"]["server_cpu_ms_per_post"], "x"),
        (
            "cores taken by others (sat/rate)",
            lambda r: (
                f"{r['saturation']['cpu_seconds']['other_cores']:.2f}/"
                f"{r['rate']['cpu_seconds']['other_cores']:.2f}"
            ),
            "",
        ),
        (
            "sent / stored / duplicates",
            lambda r: f"{r['integrity']['sent']}/{r['integrity']['stored']}/{r['integrity']['duplicates']}",
            "",
        ),
    ]


def cell(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    table = rows(args)
    width = max(len(label) for label, _, _ in table) + 2
    for channel, by_target in results.items():
        names = [name for name in ("onethread", "floor") if name in by_target]
        both = len(names) == 2
        print()
        print(
            f"{channel:{width}}"
            + "".join(f"{name:>14}" for name in names)
            + ("  OneThread/floor" if both else "")
        )
        for label, value, compare in table:
            figures = [value(by_target[name]) for name in names]
            line = f"{label:{width}}" + "".join(f"{cell(figure):>14}" for figure in figures)
            ot, floor = [*figures, None, None][:2]
            if (
                both
                and compare == "x"
                and isinstance(ot, int | float)
                and isinstance(floor, int | float)
                and floor
            ):
                line += f"{ot / floor:>15.2f}x"
            print(line)
    print()
    for channel, by_target in results.items():
        if "onethread" in by_target and "floor" in by_target:
            ot, floor = by_target["onethread"], by_target["floor"]
            ratio = ot["saturation"]["events_per_s"] / max(floor["saturation"]["events_per_s"], 1e-9)
            p99 = ot["rate"]["latency_ms"]["p99"]
            print(
                f"{channel}: throughput OneThread/floor = {ratio:.2f} (core goal ≥ {ingest.GOAL_THROUGHPUT_RATIO}); "
                f"POST→event p99 at {args.rate:g}/s = {ingest.fmt(p99)} ms (core goal < {ingest.GOAL_P99_MS:g} ms)"
            )
        for name, figures in by_target.items():
            verdict = "OK" if figures["integrity"]["ok"] else "PROBLEM"
            print(f"{channel} {name}: {integrity_line(figures['integrity'])}: {verdict}")
    disturbed = [
        f"{channel} {name} {phase}"
        for channel, by_target in results.items()
        for name, figures in by_target.items()
        for phase in ("saturation", "rate")
        if figures[phase]["cpu_seconds"]["other_cores"] > ingest.DISTURBED_CORES
    ]
    if disturbed:
        print(
            f"WARNING: other work on the machine took more than {ingest.DISTURBED_CORES} of a core during "
            f"{', '.join(disturbed)}; those figures are pessimistic, run again on a quiet machine."
        )


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--saturation-seconds", type=float, default=10.0, help="saturation run (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop clients at saturation")
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks/s of the fixed-rate run")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of the fixed-rate run")
    parser.add_argument("--max-connections", type=int, default=256, help="connection cap of the open loop")
    parser.add_argument("--warmup", type=int, default=600, help="warm-up webhooks (at least --contacts)")
    parser.add_argument("--warmup-seconds", type=float, default=15.0, help="longest warm-up")
    parser.add_argument(
        "--contacts", type=int, default=500, help="distinct customers per channel, round-robin (0: all new)"
    )
    parser.add_argument(
        "--retry-updates", type=int, default=100, help="updates posted again in the retry phase"
    )
    parser.add_argument("--retry-copies", type=int, default=20, help="copies of each, in flight together")
    parser.add_argument("--retry-seconds", type=float, default=60.0, help="longest retry phase")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=120.0,
        help="longest wait for the server to finish a backlog before the next phase",
    )
    parser.add_argument(
        "--channels",
        default=",".join(CHANNELS),
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="telegram,messenger (default both)",
    )
    parser.add_argument("--only", choices=["both", "onethread", "floor"], default="both")
    parser.add_argument(
        "--messenger-profiles",
        choices=["stored", "refused"],
        default="stored",
        help="what the local Graph answers OneThread's profile lookups (default: every name)",
    )
    parser.add_argument(
        "--server-log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the OneThread server at saturation")
    ingest.add_service_options(parser)
    args = parser.parse_args(argv)
    ingest.check_service_options(parser, args)
    unknown = [channel for channel in args.channels if channel not in CHANNELS]
    if unknown or not args.channels:
        parser.error(f"--channels: choose from {', '.join(CHANNELS)}")
    if args.retry_copies < 1:
        parser.error("--retry-copies must be at least 1")
    return args


async def main_async(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(4)
    started = datetime.now()
    results_dir = BENCH_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"onethread-bench-wh-{run_id}-"))
    args.created_databases = []
    args.servers = []
    args.graphs = []
    probe = CpuProbe()
    probe.set_group("loadgen_sender", [os.getpid()])
    deployments: list[Deployment] = []
    results: dict[str, dict[str, Any]] = {}
    failed = False
    print(
        f"webhook benchmark {run_id}: {os.cpu_count()} cores shared by servers, PostgreSQL, Redis and load "
        f"generator; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    t0 = time.monotonic()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            loop.add_signal_handler(sig, task.cancel)
    try:
        if args.only in ("both", "onethread"):
            deployments.append(await setup_onethread(args, run_id, work))
        if args.only in ("both", "floor"):
            deployments.append(await setup_floor(args, run_id, work))
        # Channel by channel, OneThread then the floor: the two figures of a row are measured
        # minutes apart at most, so a change in the machine's other load hits both alike.
        for channel in args.channels:
            results[channel] = {}
            for dep in deployments:
                results[channel][dep.name] = await measure(args, run_id, dep, dep.endpoints[channel], probe)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except BaseException:
        failed = True
        for server in args.servers:
            print(f"--- {server.name} log tail ({server.log_path}) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        for dep in deployments:
            await dep.receiver.close()
        for server in args.servers:
            await server.stop()
        for graph in args.graphs:
            await graph.stop()
        await ingest.drop_job_queue(args.redis_url, f"onethread:bench:{run_id}")
        if not args.keep_db:
            for database in args.created_databases:
                with contextlib.suppress(Exception):
                    await ingest.admin_sql(
                        args.postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                    )
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, args)
    problems = {server.name: server.log_problems()[:20] for server in args.servers}
    for name, lines in problems.items():
        for line in lines[:5]:
            print(f"{name} log: {line}")
    if args.graphs and "messenger" in args.channels:
        lookups = sum(len(graph.profile_requests) for graph in args.graphs)
        print(f"Messenger profile lookups the local Graph answered ({args.messenger_profiles}): {lookups}")
    report = {
        "benchmark": "webhooks",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {
            key: value
            for key, value in vars(args).items()
            if key not in ("created_databases", "servers", "graphs", "postgres_url")
        },
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_after": os.getloadavg(),
            "git_commit": ingest._git_commit(),
        },
        "server_log_problems": problems,
        "messenger_profile_lookups": sum(len(graph.profile_requests) for graph in args.graphs),
        "results": results,
    }
    out = results_dir / f"webhooks-{started.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {out.relative_to(REPO)}  (whole run {report['seconds']:.0f}s)")
    ok = all(figures["integrity"]["ok"] for by_target in results.values() for figures in by_target.values())
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvloop

    try:
        return uvloop.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("webhook benchmark interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
