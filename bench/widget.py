"""Widget benchmark: visitor sockets held by one ``onethread serve`` process, and the fan-out of an
agent's reply to its visitor, against a bare Litestar floor measured in the same run.

    python bench/widget.py [--visitors N] [--replies K] [--rate R] [--hold-seconds S] [--shape production|embedded]

Per target (OneThread, then the floor):

- **OneThread**: a fresh PostgreSQL database (or a SQLite file with ``--shape embedded``), ``onethread
  migrate``, an admin agent and a webchat site made by the CLI, ``onethread serve`` and (production)
  ``onethread worker``. ``--visitors`` visitors are seeded through the app's own actions, as the
  widget's first message would make them (``do_ingest`` of ``integrations.webchat.visitor_message``:
  identity, contact, thread), with tokens signed by ``app.domain.widget.tokens`` (the HTTP session
  endpoint is rate limited per address, which a benchmark from one address would hit at once).
- **Floor** (``floor_app.py``): a bare Litestar app whose widget socket relays its thread's frames
  from one Redis subscription, and whose reply route does one ``INSERT`` and one ``PUBLISH``.

Phases: warm-up (a few sockets and replies; not reported), **idle** (the server's RSS with no
socket), **hold** (``--holders`` client processes open every visitor's socket and wait for each
``ready``; the server's RSS and CPU are sampled for ``--hold-seconds``, long enough for a heartbeat
round), **fan-out** (``--replies`` agent replies ``POST /api/v1/threads/{id}/messages`` to distinct
held visitors at ``--rate``/s, open loop; latency = from just before the POST to the visitor's
socket reading the ``message.created`` frame of that reply), **closed** (every socket closed; what
memory the server gives back).

Goal checked (issue 6): 5,000 sockets held by one process under 300 MB RSS. Results: a table on
stdout and ``bench/results/widget-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO))

import ingest  # noqa: E402 - siblings, found through the line above
import loadgen  # noqa: E402
from floor_app import TABLE_SQL  # noqa: E402
from sysstat import CpuProbe, open_files, process_cpu_seconds, process_memory_kib, py_spy  # noqa: E402
from widget_sockets import holder_main, raise_open_files_limit  # noqa: E402

GOAL_SOCKETS = 5000
GOAL_RSS_MB = 300.0
ORIGIN = "https://shop.example"
SEED_CONCURRENCY = 8


# ------------------------------------------------------------------------------------------------
# pure helpers (tests/unit/test_bench_widget.py)
# ------------------------------------------------------------------------------------------------
def split(items: list[Any], parts: int) -> list[list[Any]]:
    """``items`` dealt round-robin into ``parts`` non-empty lists (fewer when there are fewer items)."""
    parts = max(1, min(parts, len(items)))
    return [items[index::parts] for index in range(parts)]


def summary_ms(values_seconds: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (nearest rank) of durations given in seconds."""
    ordered = sorted(value * 1000 for value in values_seconds)
    return {
        "n": len(ordered),
        "p50": ingest.percentile(ordered, 0.50),
        "p95": ingest.percentile(ordered, 0.95),
        "p99": ingest.percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
    }


def per_socket_kib(idle_kib: int, held_kib: int, sockets: int) -> float | None:
    """The server's RSS growth per held socket, in KiB (``None`` without sockets)."""
    return round((held_kib - idle_kib) / sockets, 1) if sockets > 0 else None


@dataclass(slots=True)
class Fanout:
    """The fan-out phase matched up: latencies and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    misrouted: int = 0


def match_fanout(
    sent: dict[int, float], receiver_of: dict[int, int], arrivals: dict[int, tuple[float, int, int | None]]
) -> Fanout:
    """POST start → frame per reply ``seq``; a frame on another visitor's socket is ``misrouted``.

    ``sent``: seq → when its POST started; ``receiver_of``: seq → index of the visitor it was for;
    ``arrivals``: seq → (arrival, index of the socket it came on, message id).
    """
    out = Fanout()
    for seq, started in sorted(sent.items()):
        arrival = arrivals.get(seq)
        if arrival is None:
            out.missing.append(seq)
            continue
        at, index, _ = arrival
        if index != receiver_of[seq]:
            out.misrouted += 1
            continue
        out.latencies.append(at - started)
    return out


# ------------------------------------------------------------------------------------------------
# targets
# ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Target:
    """One server under test, its visitors and how an agent replies to them."""

    name: str
    server: ingest.Server
    ws_urls: list[str]
    """Per visitor: their socket URL."""
    threads: list[int]
    """Per visitor: their thread id."""
    agent_token: str
    extra: list[ingest.Server] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    traces: Path | None = None
    """Where ``traced_serve.py`` writes its memory snapshots (``--trace-memory``)."""

    async def memory_probe(self) -> int | None:
        """Have a traced server write a snapshot; its number, once written (``None`` untraced)."""
        if self.traces is None or not self.notes.get("trace_memory"):
            return None
        taken = len(list(self.traces.glob("done-*"))) + 1
        self.server.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 120
        # The snapshot is written by another process: nothing to await but the file.
        while not (self.traces / f"done-{taken}").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the traced server wrote no memory snapshot within 120 s")
            await asyncio.sleep(0.2)
        return taken


def _env_base(args: argparse.Namespace, run_id: str, work: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "ONETHREAD_SECRET_KEY": args.secret_key,
        "ONETHREAD_VAR_DIR": str(work / "var"),
        "ONETHREAD_HOST": "127.0.0.1",
        "ONETHREAD_PORT": str(port),
        "ONETHREAD_LOGIN_RATE_LIMIT": "1000",
        "ONETHREAD_JOB_QUEUE": f"onethread:bench:{run_id}",
        "ONETHREAD_REDIS_PREFIX": f"onethread-bench-{run_id}",
        "ONETHREAD_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


async def seed_visitors(
    database_url: str, redis_url: str, secret_key: str, site: str, count: int
) -> list[tuple[str, int]]:
    """``count`` visitors who each wrote once, through the app's actions: (token, thread id) each."""
    from app.domain.inbox.actions import do_ingest
    from app.domain.widget.tokens import TOKEN_TTL, VisitorToken, new_visitor_key, sign_visitor_token
    from app.runtime import standalone_writer
    from app.settings import Settings
    from integrations.webchat import visitor_message

    settings = Settings(database_url=database_url, redis_url=redis_url, secret_key=secret_key)
    expires = datetime.now(UTC) + TOKEN_TTL
    out: list[tuple[str, int]] = [("", 0)] * count
    slots = asyncio.Semaphore(SEED_CONCURRENCY)
    async with standalone_writer(settings) as writer:

        async def one(index: int) -> None:
            token = VisitorToken(site=site, key=new_visitor_key(), expires=expires)
            async with slots:
                result = await do_ingest(
                    writer,
                    visitor_message(
                        account_id=site,
                        visitor_external_id=token.external_id,
                        verified=False,
                        client_id=secrets.token_hex(8),
                        text=f"Hello, where is my order {index}?",
                    ),
                )
            out[index] = (sign_visitor_token(secret_key, token), result.thread_id)

        await asyncio.gather(*(one(index) for index in range(count)))
    return out


async def setup_onethread(args: argparse.Namespace, run_id: str, work: Path) -> Target:
    port = ingest.free_port()
    env = _env_base(args, run_id, work, port)
    if args.shape == "production":
        database = f"onethread_bench_widget_{run_id}"
        await ingest.admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
        args.created_databases.append(database)
        url = ingest.with_database(args.postgres_url, database)
        env |= {"ONETHREAD_DATABASE_URL": url, "ONETHREAD_REDIS_URL": args.redis_url}
    else:
        url = f"sqlite+aiosqlite:///{work / 'onethread.db'}"
        env |= {"ONETHREAD_DATABASE_URL": url, "ONETHREAD_REDIS_URL": ""}
    cli = [sys.executable, "-m", "app"]
    await ingest.run_cli([*cli, "migrate"], env)
    email, password = f"bench-{run_id}@example.com", secrets.token_urlsafe(16)
    _, site_out = await asyncio.gather(
        ingest.run_cli(
            [
                *cli,
                "agent",
                "create",
                "--email",
                email,
                "--name",
                "Anna Agent",
                f"--password={password}",  # "=": a token may start with "-"
                "--admin",
            ],
            env,
        ),
        ingest.run_cli(
            [*cli, "channel", "add", "webchat", "--name", "Shop website", "--origin", ORIGIN, "--json"], env
        ),
    )
    site = json.loads(site_out)["id"]
    t0 = time.monotonic()
    seeded = await seed_visitors(url, env["ONETHREAD_REDIS_URL"], args.secret_key, site, args.visitors)
    seconds = time.monotonic() - t0
    print(f"  onethread: seeded {len(seeded)} visitors in {seconds:.0f}s", flush=True)
    serve = [*cli, "serve", "--port", str(port), "--log-level", args.server_log_level]
    if args.trace_memory or args.cprofile:
        traces = work / "traces"
        traces.mkdir(exist_ok=True)
        env["TRACED_SERVE_DIR"] = str(traces)
        tracing = ["-X", "tracemalloc=1"] if args.trace_memory else []
        serve = [sys.executable, *tracing, str(BENCH_DIR / "traced_serve.py"), *serve[3:]]
    server = ingest.start_server("onethread", serve, env, work)
    args.servers.append(server)
    extra: list[ingest.Server] = []
    if args.shape == "production":
        # Production shape: delivery jobs (the reply's "sent" status) are the worker's.
        worker = ingest.start_worker([*cli, "worker"], env, work)
        args.servers.append(worker)
        extra.append(worker)
    await server.wait_healthy(120.0 if args.trace_memory else 30.0)  # tracing slows the imports
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
        response.raise_for_status()
        agent_token = response.json()["token"]
    ws = f"ws://127.0.0.1:{port}/widget/v1/ws?token="
    return Target(
        "onethread",
        server,
        [ws + token for token, _ in seeded],
        [thread for _, thread in seeded],
        agent_token,
        extra,
        {"seed_seconds": round(seconds, 1), "trace_memory": args.trace_memory},
        Path(env["TRACED_SERVE_DIR"]) if args.trace_memory or args.cprofile else None,
    )


async def setup_floor(args: argparse.Namespace, run_id: str, work: Path) -> Target:
    database = f"onethread_bench_widget_floor_{run_id}"
    await ingest.admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    url = ingest.with_database(args.postgres_url, database)
    await ingest.admin_sql(url, TABLE_SQL)
    port = ingest.free_port()
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": ingest.asyncpg_dsn(url),
        "FLOOR_REDIS_URL": args.redis_url,
        "FLOOR_TOKEN": token,
        "FLOOR_CHANNEL": f"onethread-bench-floor-widget:{run_id}",
    }
    command = [
        sys.executable, str(BENCH_DIR / "floor_app.py"), "--port", str(port), "--log-level", args.server_log_level,
    ]  # fmt: skip
    server = ingest.start_server("floor", command, env, work)
    args.servers.append(server)
    await server.wait_healthy()
    threads = list(range(1, args.visitors + 1))
    ws = f"ws://127.0.0.1:{port}/widget/v1/ws?token="
    return Target("floor", server, [ws + str(thread) for thread in threads], threads, token)


# ------------------------------------------------------------------------------------------------
# holders
# ------------------------------------------------------------------------------------------------
class Holders:
    """The socket holder processes (``widget_sockets.holder_main``) of one phase."""

    def __init__(self, urls: list[tuple[int, str]], processes: int, concurrency: int, deflate: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns = []
        self.processes = []
        self.shares: list[set[int]] = []
        for share in split(urls, processes):
            self.shares.append({index for index, _ in share})
            parent, child = context.Pipe()
            process = context.Process(
                target=holder_main, args=(child, share, concurrency, deflate), daemon=True
            )
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)

    async def _replies(self, limit: float) -> list[dict[str, Any]]:
        async def one(conn: Any) -> dict[str, Any]:
            if not await asyncio.to_thread(conn.poll, limit):
                raise RuntimeError(f"a socket holder did not answer within {limit:.0f}s")
            kind, payload = conn.recv()
            if kind == "error":
                raise RuntimeError(f"a socket holder failed: {payload}")
            return dict(payload)

        return list(await asyncio.gather(*(one(conn) for conn in self.conns)))

    async def opened(self, limit: float) -> list[dict[str, Any]]:
        return await self._replies(limit)

    async def collect(self, visitors: list[int], idle: float, max_seconds: float) -> list[dict[str, Any]]:
        """Every holder's arrivals once it has one for each of ``visitors`` it holds (or waited
        ``idle`` s since the last, at most ``max_seconds``)."""
        for conn, share in zip(self.conns, self.shares, strict=True):
            conn.send(("collect", sum(1 for index in visitors if index in share), idle, max_seconds))
        return await self._replies(max_seconds + 30)

    async def stop(self) -> list[dict[str, Any]]:
        for conn in self.conns:
            with contextlib.suppress(Exception):
                conn.send(("stop",))
        try:
            return await self._replies(120)
        finally:
            for process in self.processes:
                await asyncio.to_thread(process.join, 10)
                if process.is_alive():
                    process.terminate()

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes if process.pid is not None]


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The holders' reports as one (sums, unions)."""
    out: dict[str, Any] = {"open": 0, "failed": 0, "duplicates": 0, "connect_ms": [], "failures": []}
    out.update(frames={}, closed={}, arrivals={}, cpu_seconds=0.0, rss_kib=0)
    for report in reports:
        for key in ("open", "failed", "duplicates", "cpu_seconds", "rss_kib"):
            out[key] += report[key]
        out["connect_ms"] += report["connect_ms"]
        out["failures"] += report["failures"]
        out["arrivals"].update(report["arrivals"])
        for key in ("frames", "closed"):
            for name, count in report[key].items():
                out[key][name] = out[key].get(name, 0) + count
    return out


# ------------------------------------------------------------------------------------------------
# phases
# ------------------------------------------------------------------------------------------------
def memory_mb(pid: int) -> dict[str, float]:
    return {key: round(value / 1024, 1) for key, value in process_memory_kib(pid).items()}


async def settle(pid: int, limit: float = 30.0) -> float:
    """Wait until ``pid`` uses under 5 % of a core for half a second (at most ``limit`` s)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = process_cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if process_cpu_seconds(pid) - before < 0.025:
            break
    return round(time.monotonic() - started, 1)


async def fan_out(
    args: argparse.Namespace, target: Target, holders: Holders, visitors: list[int], tag: str, rate: float
) -> dict[str, Any]:
    """One reply to each of ``visitors`` at ``rate``/s (open loop), matched to its frame."""
    encode = msgspec.json.encode
    receiver_of = dict(enumerate(visitors))

    def body(seq: int) -> loadgen.Request:
        thread = target.threads[receiver_of[seq]]
        text = f"Your parcel left our warehouse today. [{loadgen.marker(tag, seq)}]"
        return loadgen.Request(encode({"text": text}), path=f"/api/v1/threads/{thread}/messages")

    http = loadgen.Target("127.0.0.1", target.server.port, "/", target.agent_token)
    log = await loadgen.open_loop(
        http, body, rate=rate, seconds=len(visitors) / rate, max_connections=32, client_kind=args.client
    )
    got = merge(await holders.collect(visitors, ingest.ARRIVAL_IDLE_SECONDS, ingest.ARRIVAL_MAX_SECONDS))
    statuses: dict[str, int] = {}
    for status in log.status.values():
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    sent = {seq: at for seq, at in log.sent.items() if log.status.get(seq) in (200, 201, 202)}
    matched = match_fanout(sent, receiver_of, got["arrivals"])
    return {
        "replies": len(visitors),
        "rate": rate,
        "statuses": statuses,
        "errors": log.errors[:10],
        "post_ms": summary_ms([log.answered[seq] - log.sent[seq] for seq in log.answered]),
        "latency_ms": summary_ms(matched.latencies),
        "missing": len(matched.missing),
        "misrouted": matched.misrouted,
        "duplicates": got["duplicates"],
        "loadgen_cpu_seconds": round(log.cpu_seconds, 3),
    }


async def measure(args: argparse.Namespace, target: Target, probe: CpuProbe) -> dict[str, Any]:
    pid = target.server.process.pid
    out: dict[str, Any] = {"notes": target.notes}
    count = len(target.ws_urls)
    rng = random.Random(7)
    # Warm-up: a few sockets and replies through every code path, then the idle baseline.
    warm = list(range(max(0, count - args.warmup), count))
    if warm:
        holders = Holders(
            [(i, target.ws_urls[i]) for i in warm], 1, args.connect_concurrency, not args.no_deflate
        )
        merge(await holders.opened(120))
        await fan_out(args, target, holders, warm, f"w{args.run_id}", args.rate)
        await holders.stop()
    await settle(pid)
    await asyncio.sleep(1.0)
    out["idle"] = {"memory_mb": memory_mb(pid), "open_files": open_files(pid)}
    idle_probe = await target.memory_probe()
    print(f"  {target.name:9} idle: RSS {out['idle']['memory_mb'].get('rss')} MB", flush=True)

    # Hold: every visitor's socket.
    urls = list(enumerate(target.ws_urls))
    before = probe.snapshot()
    t0 = time.monotonic()
    holders = Holders(urls, args.holders, args.connect_concurrency, not args.no_deflate)
    probe.set_group("holders", holders.pids())
    opened = merge(await holders.opened(max(120.0, count / 20)))
    open_seconds = time.monotonic() - t0
    after_open = probe.snapshot()
    out["open"] = {
        "sockets": opened["open"],
        "failed": opened["failed"],
        "failures": opened["failures"][:5],
        "seconds": round(open_seconds, 1),
        "connect_ms": summary_ms([ms / 1000 for ms in opened["connect_ms"]]),
        "cpu_seconds": probe.delta(before, after_open),
        "server_cpu_ms_per_socket": round(
            1000
            * (after_open.components.get("server", 0) - before.components.get("server", 0))
            / max(1, opened["open"]),
            2,
        ),
    }
    print(
        f"  {target.name:9} opened {opened['open']}/{count} sockets in {open_seconds:.1f}s "
        f"({opened['failed']} failed); connect→ready p50 {ingest.fmt(out['open']['connect_ms']['p50'])} ms",
        flush=True,
    )
    hold_start = probe.snapshot()
    samples: list[float] = []
    deadline = time.monotonic() + args.hold_seconds
    while time.monotonic() < deadline:
        samples.append(process_memory_kib(pid).get("rss", 0) / 1024)
        await asyncio.sleep(1.0)
    hold_end = probe.snapshot()
    held = memory_mb(pid)
    seconds = max(hold_end.at - hold_start.at, 1e-9)
    cpu = probe.delta(hold_start, hold_end)
    out["hold"] = {
        "seconds": round(seconds, 1),
        "memory_mb": held,
        "rss_max_mb": round(max(samples or [0.0]), 1),
        "open_files": open_files(pid),
        "per_socket_kib": per_socket_kib(
            round(out["idle"]["memory_mb"].get("rss", 0) * 1024),
            round(held.get("rss", 0) * 1024),
            opened["open"],
        ),
        "server_cores": round(cpu.get("server", 0.0) / seconds, 3),
        "cpu_seconds": cpu,
        "holder_rss_mb": round(opened["rss_kib"] / 1024, 1),
    }
    print(
        f"  {target.name:9} holding {opened['open']}: RSS {held.get('rss')} MB "
        f"({out['hold']['per_socket_kib']} KiB/socket), server {out['hold']['server_cores']:.3f} cores while idle",
        flush=True,
    )
    held_probe = await target.memory_probe()
    if idle_probe is not None and held_probe is not None and target.traces is not None:
        out["memory_trace"] = memory_trace(target.traces, idle_probe, held_probe, opened["open"])
        print_memory_trace(out["memory_trace"])
    # Fan-out: replies to distinct held visitors.
    chosen = rng.sample(range(count), min(args.replies, count))
    fan_before = probe.snapshot()
    profile = BENCH_DIR / "results" / f"pyspy-widget-{target.name}-{args.run_id}.txt"
    async with (
        py_spy(pid, profile, len(chosen) / args.rate + 2)
        if args.profile
        else contextlib.nullcontext(False) as spying
    ):
        if args.cprofile and target.traces is not None:
            target.server.process.send_signal(signal.SIGUSR2)
        out["fanout"] = await fan_out(args, target, holders, chosen, f"f{args.run_id}", args.rate)
        if args.cprofile and target.traces is not None:
            out["fanout"]["cprofile"] = await cpu_profile(target, len(chosen))
    if spying:
        out["fanout"]["profile"] = str(profile.relative_to(REPO))
        print(f"  {target.name:9} py-spy profile of the fan-out (perturbs it): {profile.relative_to(REPO)}")
    out["fanout"]["cpu_seconds"] = probe.delta(fan_before, probe.snapshot())
    out["after_fanout"] = {"memory_mb": memory_mb(pid)}
    f = out["fanout"]
    print(
        f"  {target.name:9} fan-out {f['replies']} at {f['rate']:g}/s: p50 {ingest.fmt(f['latency_ms']['p50'])} "
        f"p99 {ingest.fmt(f['latency_ms']['p99'])} max {ingest.fmt(f['latency_ms']['max'])} ms; "
        f"missing {f['missing']} misrouted {f['misrouted']} statuses {f['statuses']}",
        flush=True,
    )
    stopped = merge(await holders.stop())
    out["frames"] = stopped["frames"]
    out["closed_by_server"] = stopped["closed"]
    await settle(pid)
    await asyncio.sleep(2.0)
    out["closed"] = {"memory_mb": memory_mb(pid), "open_files": open_files(pid)}
    return out


def memory_trace(traces: Path, idle: int, held: int, sockets: int, top: int = 30) -> dict[str, Any]:
    """What the held sockets allocated, by line (tracemalloc) and by type (live objects), per socket."""
    import tracemalloc

    before = tracemalloc.Snapshot.load(str(traces / f"snapshot-{idle}.tracemalloc"))
    after = tracemalloc.Snapshot.load(str(traces / f"snapshot-{held}.tracemalloc"))
    per = max(1, sockets)
    lines = [
        {
            "where": f"{stat.traceback[0].filename.split('site-packages/')[-1].replace(str(REPO) + '/', '')}:{stat.traceback[0].lineno}",
            "bytes_per_socket": round(stat.size_diff / per),
            "blocks_per_socket": round(stat.count_diff / per, 2),
        }
        for stat in after.compare_to(before, "lineno")[:top]
    ]
    traced = sum(stat.size for stat in after.statistics("filename")) - sum(
        stat.size for stat in before.statistics("filename")
    )
    counts_before = json.loads((traces / f"objects-{idle}.json").read_text())
    counts_after = json.loads((traces / f"objects-{held}.json").read_text())
    objects = sorted(
        ((name, count - counts_before.get(name, 0)) for name, count in counts_after.items()),
        key=lambda item: -item[1],
    )[:top]
    return {
        "traced_bytes_per_socket": round(traced / per),
        "by_line": lines,
        "objects_per_socket": [{"type": name, "per_socket": round(diff / per, 2)} for name, diff in objects],
    }


async def cpu_profile(target: Target, replies: int, top: int = 35) -> list[dict[str, Any]]:
    """Stop the server's CPU profile; the functions by inclusive CPU ms per reply (printed too)."""
    import pstats

    assert target.traces is not None
    target.server.process.send_signal(signal.SIGUSR2)
    done = target.traces / "cpu-done-1"
    deadline = time.monotonic() + 60
    while not done.exists() and time.monotonic() < deadline:  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.2)
    kept = BENCH_DIR / "results" / f"cprofile-widget-{target.traces.parent.name}.pstats"
    shutil.copy(target.traces / "cpu-1.pstats", kept)
    stats = pstats.Stats(str(kept))
    # Own time only: a coroutine's cumulative time also counts whatever ran while it was suspended.
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(values[2] for values in raw.values())
    rows = sorted(((func, values[2], values[1]) for func, values in raw.items()), key=lambda item: -item[1])[
        :top
    ]
    out = [
        {
            "function": f"{file.split('site-packages/')[-1].replace(str(REPO) + '/', '')}:{line}({name})",
            "own_ms_per_reply": round(1000 * own / max(1, replies), 3),
            "calls_per_reply": round(calls / max(1, replies), 1),
        }
        for (file, line, name), own, calls in rows
    ]
    print(
        f"    server CPU per reply under cProfile: {1000 * total / max(1, replies):.1f} ms; by own time ({kept.name}):"
    )
    for row in out:
        print(
            f"      {row['own_ms_per_reply']:>7.3f} ms  {row['calls_per_reply']:>7} calls  {row['function']}"
        )
    return out


def print_memory_trace(trace: dict[str, Any]) -> None:
    print(
        f"    Python heap traced per socket: {trace['traced_bytes_per_socket']:,} B; largest allocation sites:"
    )
    for line in trace["by_line"][:20]:
        print(
            f"      {line['bytes_per_socket']:>8,} B  {line['blocks_per_socket']:>6} blocks  {line['where']}"
        )
    print("    live objects per socket, by type:")
    for item in trace["objects_per_socket"][:20]:
        print(f"      {item['per_socket']:>8}  {item['type']}")


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
Row = tuple[str, Callable[[dict[str, Any]], float | str | None], bool]


def rows(args: argparse.Namespace) -> list[Row]:
    def rss(phase: str) -> Callable[[dict[str, Any]], float | None]:
        return lambda r: r[phase]["memory_mb"].get("rss")

    def lat(pct: str) -> Callable[[dict[str, Any]], float | None]:
        return lambda r: r["fanout"]["latency_ms"][pct]

    return [
        ("sockets held (failed)", lambda r: f"{r['open']['sockets']} ({r['open']['failed']})", False),
        ("seconds to open them all", lambda r: r["open"]["seconds"], True),
        ("connect→ready p50 ms", lambda r: r["open"]["connect_ms"]["p50"], True),
        ("connect→ready p99 ms", lambda r: r["open"]["connect_ms"]["p99"], True),
        ("server CPU ms per socket opened", lambda r: r["open"]["server_cpu_ms_per_socket"], True),
        ("RSS MB, idle (no socket)", rss("idle"), True),
        ("RSS MB, sockets held", rss("hold"), True),
        ("RSS KiB per socket", lambda r: r["hold"]["per_socket_kib"], True),
        ("anon (heap) MB, sockets held", lambda r: r["hold"]["memory_mb"].get("anon"), True),
        ("RSS MB, after the fan-out", rss("after_fanout"), True),
        ("RSS MB, all sockets closed", rss("closed"), True),
        ("server cores while holding", lambda r: r["hold"]["server_cores"], True),
        (f"fan-out p50 ms ({args.replies} at {args.rate:g}/s)", lat("p50"), True),
        ("fan-out p95 ms", lat("p95"), True),
        ("fan-out p99 ms", lat("p99"), True),
        ("fan-out max ms", lat("max"), True),
        ("POST→202 p50 ms", lambda r: r["fanout"]["post_ms"]["p50"], True),
        (
            "missing / misrouted / duplicate",
            lambda r: f"{r['fanout']['missing']}/{r['fanout']['misrouted']}/{r['fanout']['duplicates']}",
            False,
        ),
        ("cores taken by others (hold)", lambda r: r["hold"]["cpu_seconds"]["other_cores"], False),
    ]


def cell(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def print_table(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    names = [name for name in ("onethread", "floor") if name in results]
    table = rows(args)
    width = max(len(label) for label, _, _ in table) + 2
    both = len(names) == 2
    print()
    print(f"{'':{width}}" + "".join(f"{name:>14}" for name in names) + ("  OneThread/floor" if both else ""))
    for label, value, ratio in table:
        figures = [value(results[name]) for name in names]
        line = f"{label:{width}}" + "".join(f"{cell(figure):>14}" for figure in figures)
        if both and ratio and all(isinstance(f, int | float) for f in figures) and figures[1]:
            line += f"{figures[0] / figures[1]:>15.2f}x"
        print(line)
    verdict: dict[str, Any] = {}
    if "onethread" in results:
        r = results["onethread"]
        held, rss = r["open"]["sockets"], r["hold"]["memory_mb"].get("rss", 0.0)
        verdict = {
            "sockets": held,
            "rss_mb": rss,
            "met": held >= min(GOAL_SOCKETS, args.visitors) and rss < GOAL_RSS_MB,
        }
        print(
            f"\ngoal: {GOAL_SOCKETS:,} sockets under {GOAL_RSS_MB:g} MB RSS — held {held:,} at {rss} MB: "
            + ("met" if verdict["met"] else "NOT met")
            + ("" if args.visitors >= GOAL_SOCKETS else f" (only {args.visitors} visitors asked for)")
        )
    disturbed = [
        name for name in names if results[name]["hold"]["cpu_seconds"]["other_cores"] > ingest.DISTURBED_CORES
    ]
    if disturbed:
        print(
            f"WARNING: other work took more than {ingest.DISTURBED_CORES} of a core while {', '.join(disturbed)} held its sockets"
        )
    return verdict


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visitors", type=int, default=GOAL_SOCKETS, help="sockets to hold (default 5000)")
    parser.add_argument("--replies", type=int, default=200, help="agent replies in the fan-out phase")
    parser.add_argument("--rate", type=float, default=20.0, help="replies/s (open loop)")
    parser.add_argument(
        "--hold-seconds", type=float, default=30.0, help="idle hold (covers a 25 s heartbeat)"
    )
    parser.add_argument("--holders", type=int, default=2, help="client processes holding the sockets")
    parser.add_argument(
        "--connect-concurrency", type=int, default=32, help="sockets opening at once per holder"
    )
    parser.add_argument("--warmup", type=int, default=20, help="warm-up sockets and replies")
    parser.add_argument("--no-deflate", action="store_true", help="clients do not offer permessage-deflate")
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="OneThread under tracemalloc: per-socket allocations by line and object type (inflates RSS)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the server during the fan-out")
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile (CPU time) the server during the fan-out"
    )
    parser.add_argument("--shape", choices=["production", "embedded"], default="production")
    parser.add_argument("--only", choices=["both", "onethread", "floor"], default="both")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument(
        "--server-log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    ingest.add_service_options(parser)
    args = parser.parse_args(argv)
    ingest.check_service_options(parser, args)
    if args.visitors < 1 or args.replies < 0 or args.rate <= 0:
        parser.error("--visitors must be at least 1, --replies at least 0, --rate above 0")
    return args


async def main_async(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(4)
    args.run_id = run_id
    args.secret_key = secrets.token_urlsafe(32)
    args.created_databases = []
    args.servers = []
    started = datetime.now()
    results_dir = BENCH_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"onethread-bench-widget-{run_id}-"))
    soft, _ = raise_open_files_limit()
    if soft < args.visitors + 1000:
        print(
            f"open-files limit {soft} is too low for {args.visitors} sockets (raise `ulimit -n`)",
            file=sys.stderr,
        )
        return 2
    print(
        f"widget benchmark {run_id}: {args.visitors} visitors, {args.shape} shape, open-files limit {soft}; "
        f"{os.cpu_count()} cores shared; load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    probe = CpuProbe()
    probe.set_group("loadgen", [os.getpid()])
    results: dict[str, Any] = {}
    failed = False
    t0 = time.monotonic()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        if task is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            loop.add_signal_handler(sig, task.cancel)
    setups: list[Callable[[argparse.Namespace, str, Path], Awaitable[Target]]] = []
    if args.only in ("both", "onethread"):
        setups.append(setup_onethread)
    if args.only in ("both", "floor"):
        setups.append(setup_floor)
    try:
        for setup in setups:
            target = await setup(args, run_id, work)
            probe.set_group("server", [target.server.process.pid])
            probe.set_group("worker", [s.process.pid for s in target.extra])
            try:
                results[target.name] = await measure(args, target, probe)
            finally:
                for server in [target.server, *target.extra]:
                    await server.stop()
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
        if args.shape == "production":
            await ingest.drop_job_queue(args.redis_url, f"onethread:bench:{run_id}")
        if not args.keep_db:
            for database in args.created_databases:
                with contextlib.suppress(Exception):
                    await ingest.admin_sql(
                        args.postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                    )
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    verdict = print_table(results, args)
    problems = {server.name: server.log_problems()[:20] for server in args.servers}
    for name, lines in problems.items():
        for line in lines[:5]:
            print(f"{name} log: {line}")
    report = {
        "benchmark": "widget",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {
            key: value
            for key, value in vars(args).items()
            if key not in ("created_databases", "servers", "postgres_url", "secret_key")
        },
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "open_files_limit": soft,
            "load_average_after": os.getloadavg(),
            "git_commit": ingest._git_commit(),
        },
        "goal": verdict,
        "server_log_problems": problems,
        "results": results,
    }
    out = results_dir / f"widget-{started.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {out.relative_to(REPO)}  (whole run {report['seconds']:.0f}s)")
    clean = all(
        r["fanout"]["missing"] == 0 and r["fanout"]["misrouted"] == 0 and r["open"]["failed"] == 0
        for r in results.values()
    )
    return 0 if clean else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvloop

    try:
        return uvloop.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("widget benchmark interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
