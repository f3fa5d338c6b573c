"""Delivery benchmark: how many outbound messages one ``onethread worker`` delivers per second.

    python bench/delivery.py [--messages 1000] [--customers 50] [--concurrency 16] [--keep-db]

A fresh PostgreSQL database, ``onethread migrate``, an admin agent and a Telegram account whose Bot
API URL is the local fake Bot API (``tests/fakes/telegram_bot_api.py``, a real HTTP server in this
process, answering ``sendMessage`` as Telegram does). ``onethread serve`` runs, the worker not yet:

1. ``--customers`` Telegram customers write once (webhook updates), making their threads;
2. ``--messages`` agent replies are posted round-robin to those threads (``POST
   /api/v1/threads/{id}/messages``): each is stored ``queued`` and its delivery job waits in Redis;
3. one ``onethread worker`` is started and the clock runs until the fake Bot API has acknowledged
   every reply (``sendMessage`` answered ``ok``).

Figures: **delivered/s** from the first acknowledgement to the last (the worker's steady rate, its
start-up left out), the time from the worker's start to the last one, replies posted/s, and the
check that every reply reached the fake exactly once and is stored ``sent``. The floor: the same
number of ``sendMessage`` calls posted straight to the fake by ``--concurrency`` httpx clients
(what the fake and the loopback allow at most). Results: a table and
``bench/results/delivery-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH_DIR))

from common import (  # noqa: E402 - siblings, found through the lines above
    Server,
    add_service_options,
    asyncpg_dsn,
    check_service_options,
    drop_job_queue,
    fmt,
    free_port,
    machine_info,
    run_cli,
    scratch_database,
    start_server,
    start_worker,
    text_table,
    write_report,
)
from sysstat import CpuProbe  # noqa: E402

from tests.fakes.telegram_bot_api import TelegramBotAPI  # noqa: E402

FIRST_USER = 7_100_000_000


def telegram_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A private-chat text message from ``user_id``, as Telegram posts it to a webhook."""
    user = {
        "id": user_id,
        "is_bot": False,
        "first_name": f"Customer{user_id % 10_000}",
        "language_code": "en",
    }
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
            "date": int(time.time()),
            "text": text,
        },
    }


async def post_all(
    http: httpx.AsyncClient, requests: list[tuple[str, dict[str, Any]]], concurrency: int
) -> list[int]:
    """POST every ``(url, json)`` with ``concurrency`` workers; the status codes."""
    queue = list(reversed(requests))
    statuses: list[int] = []

    async def one_client() -> None:
        while queue:
            url, body = queue.pop()
            statuses.append((await http.post(url, json=body)).status_code)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return statuses


async def measure_onethread(
    args: argparse.Namespace, run_id: str, work: Path, fake: TelegramBotAPI, probe: CpuProbe
) -> dict[str, Any]:
    database = f"onethread_bench_dl_{run_id}"
    servers: list[Server] = []
    async with scratch_database(args.postgres_url, database, keep=args.keep_db) as url:
        port = free_port()
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
        await run_cli([*cli, "migrate"], env)
        email, password = f"bench-{run_id}@example.com", secrets.token_urlsafe(16)
        bot_id = str(6_000_000_000 + secrets.randbelow(1_000_000_000))
        webhook_secret = secrets.token_urlsafe(32)
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
                    f"--password={password}",  # "=": a token may start with "-"
                    "--admin",
                ],
                env,
            ),
            run_cli(
                [
                    *cli,
                    "channel",
                    "add",
                    "telegram",
                    f"--name=bench-dl-{run_id}",
                    f"--token={bot_id}:AA{secrets.token_urlsafe(24)}",
                    f"--webhook-secret={webhook_secret}",
                    f"--api-url={fake.url}",
                    "--json",
                ],
                env,
            ),
        )
        account = json.loads(channel_out)["id"]
        server = start_server(
            "onethread", [*cli, "serve", "--port", str(port), "--log-level", "warning"], env, work
        )
        servers.append(server)
        try:
            await server.wait_healthy()
            return await _run(
                args,
                run_id,
                server,
                env,
                cli,
                work,
                fake,
                probe,
                servers,
                account,
                webhook_secret,
                email,
                password,
                url,
            )
        finally:
            for process in servers:
                await process.stop()
            await drop_job_queue(args.redis_url, f"onethread:bench:{run_id}")


async def _run(
    args: argparse.Namespace,
    run_id: str,
    server: Server,
    env: dict[str, str],
    cli: list[str],
    work: Path,
    fake: TelegramBotAPI,
    probe: CpuProbe,
    servers: list[Server],
    account: str,
    webhook_secret: str,
    email: str,
    password: str,
    url: str,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http:
        token = (await http.post("/api/v1/auth/token", json={"email": email, "password": password})).json()[
            "token"
        ]
        # 1. the customers write once: one thread each
        statuses = await post_all(
            httpx.AsyncClient(
                base_url=server.base_url,
                timeout=30,
                headers={"X-Telegram-Bot-Api-Secret-Token": webhook_secret},
                limits=limits,
            ),
            [
                (
                    f"/webhooks/telegram/{account}",
                    telegram_update(n + 1, FIRST_USER + n, f"Hello, order {n}?"),
                )
                for n in range(args.customers)
            ],
            args.concurrency,
        )
        if any(status != 200 for status in statuses):
            raise RuntimeError(f"webhook answers: {sorted(set(statuses))}")
        conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
        try:
            threads = [row["id"] for row in await conn.fetch("SELECT id FROM threads ORDER BY id")]
        finally:
            await conn.close()
        if len(threads) != args.customers:
            raise RuntimeError(f"{len(threads)} threads for {args.customers} customers")
        # 2. the replies, queued while no worker runs
        http.headers["Authorization"] = f"Bearer {token}"
        t0 = time.monotonic()
        statuses = await post_all(
            http,
            [
                (
                    f"/api/v1/threads/{threads[n % len(threads)]}/messages",
                    {"text": f"Reply {n} [dl-{run_id}-{n}]"},
                )
                for n in range(args.messages)
            ],
            args.concurrency,
        )
        queued_seconds = time.monotonic() - t0
    if any(not 200 <= status < 300 for status in statuses):
        raise RuntimeError(f"reply answers: {sorted(set(statuses))}")
    before_calls = len(fake.calls_to("sendMessage"))
    # 3. one worker delivers the backlog
    before = probe.snapshot()
    worker_start = time.monotonic()
    worker = start_worker([*cli, "worker"], env, work)
    servers.append(worker)
    probe.set_group("worker", [worker.process.pid])
    probe.set_group("server", [server.process.pid])
    deadline = worker_start + args.timeout
    while len(fake.calls_to("sendMessage")) - before_calls < args.messages and time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")
        await asyncio.sleep(0.05)
    after = probe.snapshot()
    cpu = CpuProbe.delta(before, after)
    calls = fake.calls_to("sendMessage")[before_calls:]
    stamps = sorted(call.received_at for call in calls)
    texts = [call.params.get("text", "") for call in calls]
    ours = [t for t in texts if f"[dl-{run_id}-" in t]
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        await asyncio.sleep(0.5)  # the last acknowledgement's status update
        by_status = {
            row["delivery_status"]: row["n"]
            for row in await conn.fetch(
                "SELECT delivery_status, count(*) AS n FROM messages WHERE direction = 'out' GROUP BY 1"
            )
        }
    finally:
        await conn.close()
    delivered = len(calls)
    steady = (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    return {
        "messages": args.messages,
        "customers": args.customers,
        "queued_per_s": round(args.messages / max(queued_seconds, 1e-9), 1),
        "delivered": delivered,
        "duplicates": len(ours) - len(set(ours)),
        "stored_status": by_status,
        "worker_start_to_first_ack_s": round(stamps[0] - worker_start, 2) if stamps else None,
        "worker_start_to_last_ack_s": round(stamps[-1] - worker_start, 2) if stamps else None,
        "delivered_per_s": round((delivered - 1) / steady, 1) if steady else None,
        "cpu_seconds": cpu,
        "worker_cpu_ms_per_message": round(cpu.get("worker", 0.0) * 1000 / max(delivered, 1), 2),
        "timed_out": delivered < args.messages,
        "worker_log_problems": worker.log_problems()[:10],
    }


async def measure_floor(args: argparse.Namespace, fake: TelegramBotAPI) -> dict[str, Any]:
    """The same number of ``sendMessage`` form posts straight to the fake (its ceiling, not ours)."""
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    before = len(fake.calls_to("sendMessage"))
    # The fake answers one request per connection, as the worker's client meets it too.
    async with httpx.AsyncClient(
        base_url=fake.url, timeout=30, limits=limits, headers={"Connection": "close"}
    ) as http:
        queue = list(range(args.messages))

        async def one_client() -> None:
            while queue:
                n = queue.pop()
                await http.post(
                    "/bot6000000001:AAfloor/sendMessage",
                    data={"chat_id": str(FIRST_USER), "text": f"floor {n}"},
                )

        t0 = time.monotonic()
        await asyncio.gather(*(one_client() for _ in range(args.concurrency)))
        seconds = time.monotonic() - t0
    return {
        "delivered": len(fake.calls_to("sendMessage")) - before,
        "delivered_per_s": round(args.messages / max(seconds, 1e-9), 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000, help="replies queued, then delivered")
    parser.add_argument("--customers", type=int, default=50, help="Telegram customers (threads) they go to")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP clients posting the replies")
    parser.add_argument("--timeout", type=float, default=180.0, help="longest wait for the deliveries")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor")
    add_service_options(parser)
    args = parser.parse_args(argv)
    check_service_options(parser, args)
    if args.messages < 2 or args.customers < 1:
        parser.error("--messages must be at least 2, --customers at least 1")
    return args


async def main_async(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(4)
    started = datetime.now()
    work = Path(tempfile.mkdtemp(prefix=f"onethread-bench-dl-{run_id}-"))
    probe = CpuProbe()
    probe.set_group("bench", [os.getpid()])
    t0 = time.monotonic()
    print(
        f"delivery benchmark {run_id}: {args.messages} replies to {args.customers} Telegram customers",
        flush=True,
    )
    async with TelegramBotAPI() as fake:
        result = await measure_onethread(args, run_id, work, fake, probe)
        floor = None if args.no_floor else await measure_floor(args, fake)
    shutil.rmtree(work, ignore_errors=True)
    cpu = result["cpu_seconds"]
    rows = [
        [
            "delivered/s, 1 worker (first→last ack)",
            fmt(result["delivered_per_s"]),
            fmt(floor and floor["delivered_per_s"]),
        ],
        ["worker start → last ack, s", fmt(result["worker_start_to_last_ack_s"], 2), ""],
        ["worker start → first ack, s", fmt(result["worker_start_to_first_ack_s"], 2), ""],
        ["worker CPU ms/message", fmt(result["worker_cpu_ms_per_message"], 2), ""],
        ["replies queued/s (POST, no worker)", fmt(result["queued_per_s"]), ""],
        ["delivered / duplicates", f"{result['delivered']} / {result['duplicates']}", ""],
        [
            "stored status",
            ", ".join(f"{k} {v}" for k, v in sorted(result["stored_status"].items(), key=str)),
            "",
        ],
        ["cores taken by others", f"{cpu.get('other_cores', 0):.2f}", ""],
    ]
    print()
    print(text_table(["", "OneThread", "floor (fake's ceiling)"], rows))
    ok = (
        not result["timed_out"]
        and result["duplicates"] == 0
        and result["stored_status"].get("sent", 0) + result["stored_status"].get("delivered", 0)
        == args.messages
    )
    if not ok:
        print("CHECK FAILED: not every reply was delivered exactly once and stored as sent", file=sys.stderr)
    for problem in result["worker_log_problems"]:
        print(f"worker log: {problem}")
    report = {
        "benchmark": "delivery",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {k: v for k, v in vars(args).items() if k != "postgres_url"},
        "machine": machine_info(),
        "check_passed": ok,
        "results": {"onethread": result, "floor": floor},
    }
    out = write_report("delivery", started, report)
    print(f"results: {out.relative_to(REPO)}  (whole run {report['seconds']:.0f}s)")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
