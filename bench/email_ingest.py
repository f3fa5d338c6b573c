"""Email ingest benchmark: the raw-MIME webhook and the built-in SMTP server against a bare floor.

    python bench/email_ingest.py [--saturation-seconds S] [--concurrency N] [--paths webhook,smtp]

Two servers run side by side on fresh PostgreSQL databases and the shared Redis:

- ``onethread serve`` with ``ONETHREAD_SMTP_LISTEN`` set (the SMTP server runs on the web
  process's event loop) and an email account made by ``onethread channel add email``;
- ``floor_app.py`` with its email route and its aiosmtpd handler: bearer check, the stdlib parser
  (``policy.default``) for Message-ID, From, Subject and text, one ``INSERT … ON CONFLICT DO
  NOTHING``, one Redis ``PUBLISH``.

Mail comes from the .eml fixture corpus (``email_payloads.py``): every customer mail and
auto-reply fixture with a fresh Message-ID, one of ``--contacts`` senders, the account's address.
Per path (webhook, SMTP), OneThread then the floor: a warm-up (creates the customers; not
reported), then **saturation**: ``--concurrency`` closed-loop clients (keep-alive HTTP, or SMTP
sessions kept open across mails) for ``--saturation-seconds``, then a **fixed rate**: ``--rate``
mails/s for ``--duration`` s, open loop (the latency one mail sees when the server is not queueing). Measured: POST → 202 / DATA → 250
(what the sender waits for), POST / MAIL → the ``message.created`` frame on an agent websocket
(the agent's view), throughput, CPU per mail. Then, OneThread only, the **noise check**: every
bounce and read-receipt fixture ``--noise-copies`` times through each path: each must be accepted
(202 ``ignored`` / 250) and none stored or announced. Before the servers start, **parse only**: our
parser (``integrations.email.parse.parse_mail``) and the floor's stdlib reading over the mix,
in-process, mails/s on one core.

At the end the rows are read back: every mail accepted stored exactly once, auto-replies stored
marked automatic, nothing else ("sent N, stored N, duplicates 0, lost 0"); exit status 1 otherwise.
Results: a table on stdout and ``bench/results/email-<timestamp>.json``.
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(1, str(REPO))  # integrations: our parser, for the parse-only figure

import email_payloads as mails  # noqa: E402 - siblings, found through the line above
import ingest  # noqa: E402
import loadgen  # noqa: E402
from floor_app import TABLE_SQL, mail_facts  # noqa: E402
from sysstat import CpuProbe, process_cpu_seconds  # noqa: E402

from integrations.email.parse import parse_mail  # noqa: E402

PATHS = ("webhook", "smtp")
PHASES = ("warmup", "saturation", "rate")
OK_STATUS = {"webhook": 202, "smtp": 250}


@dataclass(slots=True)
class Deployment:
    """One server under test: its webhook and SMTP targets, agent websocket, stored rows."""

    name: str
    server: ingest.Server
    receiver: ingest.Receiver
    targets: dict[str, loadgen.Target]
    stream: mails.MailStream
    account_id: str
    stored: Callable[[], Awaitable[dict[str, bool]]]
    """``external_id`` → stored marked automatic, for every row of the account (duplicates
    counted by ``stored_count``)."""
    stored_count: Callable[[], Awaitable[int]]


@dataclass(slots=True)
class PhaseRun:
    summary: dict[str, Any]
    log: loadgen.SendLog
    tag: str


# ------------------------------------------------------------------------------------------------
# set-up
# ------------------------------------------------------------------------------------------------
def stored_queries(
    dsn: str, table: str, account_column: str, account_id: str, automatic_sql: str
) -> tuple[Callable[[], Awaitable[dict[str, bool]]], Callable[[], Awaitable[int]]]:
    where = f"WHERE {account_column} = $1 AND external_id LIKE 'otb.%'"

    async def stored() -> dict[str, bool]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows = await conn.fetch(
                f"SELECT external_id, {automatic_sql} AS automatic FROM {table} {where}", account_id
            )
        finally:
            await conn.close()
        return {row["external_id"]: bool(row["automatic"]) for row in rows}

    async def count() -> int:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return int(await conn.fetchval(f"SELECT count(*) FROM {table} {where}", account_id))
        finally:
            await conn.close()

    return stored, count


async def wait_port(host: str, port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port}") from None
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return


async def setup_onethread(args: argparse.Namespace, run_id: str, work: Path) -> Deployment:
    """A migrated database, an admin agent, an email account by the CLI, ``onethread serve`` with SMTP."""
    database = f"onethread_bench_mail_{run_id}"
    await ingest.admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    url = ingest.with_database(args.postgres_url, database)
    port, smtp_port = ingest.free_port(), ingest.free_port()
    support = f"support-{run_id}@{mails.DOMAIN}"
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
        "ONETHREAD_SMTP_LISTEN": f"127.0.0.1:{smtp_port}",
    }
    cli = [sys.executable, "-m", "app"]
    await ingest.run_cli([*cli, "migrate"], env)
    email, password = f"bench-{run_id}@example.com", secrets.token_urlsafe(16)
    _, added = await asyncio.gather(
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
            [
                *cli,
                "channel",
                "add",
                "email",
                "--name",
                f"bench-mail-{run_id}",
                "--address",
                support,
                "--json",
            ],
            env,
        ),
    )
    account = json.loads(added)
    serve = [*cli, "serve", "--port", str(port), "--log-level", args.server_log_level]
    server = ingest.start_server("onethread", serve, env, work)
    args.servers.append(server)
    await server.wait_healthy()
    await wait_port("127.0.0.1", smtp_port)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
        response.raise_for_status()
        agent_token = response.json()["token"]
    receiver = ingest.Receiver(f"ws://127.0.0.1:{port}/api/v1/events?token={agent_token}")
    await receiver.ready()
    stored, count = stored_queries(
        ingest.asyncpg_dsn(url),
        "messages",
        "channel_account_id",
        account["id"],
        "(meta->>'automatic') IS NOT NULL",
    )
    return Deployment(
        "onethread",
        server,
        receiver,
        targets(port, smtp_port, account["id"], account["token"], support),
        mails.MailStream(support, args.contacts, args.mix),
        account["id"],
        stored,
        count,
    )


async def setup_floor(args: argparse.Namespace, run_id: str, work: Path) -> Deployment:
    """A database with the floor's one table, ``floor_app.py`` with its SMTP server."""
    database = f"onethread_bench_mail_floor_{run_id}"
    await ingest.admin_sql(args.postgres_url, f'CREATE DATABASE "{database}"')
    args.created_databases.append(database)
    url = ingest.with_database(args.postgres_url, database)
    await ingest.admin_sql(url, TABLE_SQL)
    port, smtp_port = ingest.free_port(), ingest.free_port()
    support = f"support-{run_id}@{mails.DOMAIN}"
    account_id, token = secrets.token_hex(8), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": ingest.asyncpg_dsn(url),
        "FLOOR_REDIS_URL": args.redis_url,
        "FLOOR_TOKEN": token,
        "FLOOR_CHANNEL": f"onethread-bench-floor-mail:{run_id}",
        "FLOOR_SMTP_PORT": str(smtp_port),
        "FLOOR_EMAIL_ADDRESS": support,
        "FLOOR_EMAIL_ACCOUNT": account_id,
    }
    command = [
        sys.executable, str(BENCH_DIR / "floor_app.py"), "--port", str(port), "--log-level", args.server_log_level,
    ]  # fmt: skip
    server = ingest.start_server("floor", command, env, work)
    args.servers.append(server)
    await server.wait_healthy()
    await wait_port("127.0.0.1", smtp_port)
    receiver = ingest.Receiver(f"ws://127.0.0.1:{port}/api/v1/events")
    await receiver.ready()
    stored, count = stored_queries(
        ingest.asyncpg_dsn(url), "floor_messages", "account_id", account_id, "false"
    )
    return Deployment(
        "floor",
        server,
        receiver,
        targets(port, smtp_port, account_id, token, support),
        mails.MailStream(support, args.contacts, args.mix),
        account_id,
        stored,
        count,
    )


def targets(
    port: int, smtp_port: int, account_id: str, token: str, support: str
) -> dict[str, loadgen.Target]:
    return {
        "webhook": loadgen.Target(
            "127.0.0.1", port, f"/webhooks/email/{account_id}", token, content_type="message/rfc822"
        ),
        "smtp": loadgen.Target("127.0.0.1", smtp_port, support, ""),
    }


# ------------------------------------------------------------------------------------------------
# phases
# ------------------------------------------------------------------------------------------------
def body_factory(stream: mails.MailStream, path: str, tag: str) -> loadgen.BodyFactory:
    def body(seq: int) -> bytes | loadgen.Request:
        raw = stream.generate(tag, seq)
        if path == "webhook":
            return raw
        return loadgen.Request(mails.smtp_data(raw), (("mail-from", stream.sender(seq)),))

    return body


def client_kind(path: str) -> str:
    return "smtp" if path == "smtp" else "raw"


def normalize(log: loadgen.SendLog, path: str) -> dict[str, int]:
    """The answers by code; the path's success code becomes 200 for ``ingest.summarize``, which
    counts 2xx as accepted (an SMTP 250 is not an HTTP status)."""
    codes: dict[str, int] = {}
    for seq, status in list(log.status.items()):
        codes[str(status)] = codes.get(str(status), 0) + 1
        log.status[seq] = 200 if status == OK_STATUS[path] else (500 if 200 <= status < 300 else status)
    return codes


async def settle(dep: Deployment, limit: float) -> float:
    """Wait until the server is idle (under 5 % of a core for half a second), at most ``limit`` s."""
    pid = dep.server.process.pid
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = process_cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if process_cpu_seconds(pid) - before < 0.025:
            break
    return round(time.monotonic() - started, 1)


async def run_phase(
    args: argparse.Namespace, run_id: str, dep: Deployment, path: str, phase: str, probe: CpuProbe
) -> PhaseRun:
    tag = f"{dep.name[0]}{path[0]}{phase[0]}{run_id}"
    waited = await settle(dep, args.settle_seconds)
    before = probe.snapshot()
    warmup = phase == "warmup"
    rate: float | None = None
    if phase == "rate":
        rate = args.rate
        log = await loadgen.open_loop(
            dep.targets[path],
            body_factory(dep.stream, path, tag),
            rate=args.rate,
            seconds=args.duration,
            max_connections=args.concurrency * 4,
            drain_seconds=ingest.DRAIN_SECONDS,
            client_kind=client_kind(path),
        )
    else:
        log = await loadgen.closed_loop(
            dep.targets[path],
            body_factory(dep.stream, path, tag),
            concurrency=args.concurrency,
            max_messages=max(args.warmup, args.contacts) if warmup else 10_000_000,
            max_seconds=args.warmup_seconds if warmup else args.saturation_seconds,
            client_kind=client_kind(path),
        )
    after = probe.snapshot()
    codes = normalize(log, path)
    accepted = sum(1 for status in log.status.values() if status == 200)
    got = await dep.receiver.collect(tag, accepted)
    summary = ingest.summarize(
        phase, log, got, CpuProbe.delta(before, after), rate=rate, collected_at=time.monotonic()
    )
    summary["answers"] = codes
    summary["settled_before_s"] = waited
    summary["generator_cpu_ms_per_message"] = round(log.cpu_seconds * 1000 / max(len(log.status), 1), 3)
    return PhaseRun(summary, log, tag)


async def run_noise(args: argparse.Namespace, run_id: str, dep: Deployment, path: str) -> dict[str, Any]:
    """Every bounce and read receipt of the corpus, ``--noise-copies`` times: accepted, never stored."""
    noise = [t for t in args.templates if t.kind not in mails.STORED_KINDS]
    tag = f"{dep.name[0]}{path[0]}n{run_id}"
    target = dep.targets[path]
    answers: dict[str, int] = {}
    sent: list[str] = []
    client = loadgen.make_client("smtp", target) if path == "smtp" else None
    try:
        async with httpx.AsyncClient(base_url=f"http://{target.host}:{target.port}", timeout=30) as http:
            for seq in range(len(noise) * args.noise_copies):
                template = noise[seq % len(noise)]
                raw = mails.rewrite(
                    template, mid=mails.message_id(tag, seq), support=dep.stream.support, customer=seq
                )
                sent.append(mails.message_id(tag, seq))
                if client is not None:
                    sender = "" if template.kind == "bounce" else mails.customer_address(seq)
                    answer = str(await client.post(mails.smtp_data(raw), (("mail-from", sender),)))
                else:
                    response = await http.post(
                        target.path,
                        content=raw,
                        headers={"Authorization": f"Bearer {target.token}", "Content-Type": "message/rfc822"},
                    )
                    answer = f"{response.status_code} {response.json().get('outcome')}"
                key = f"{template.kind}: {answer}"
                answers[key] = answers.get(key, 0) + 1
    finally:
        if client is not None:
            await client.aclose()
    await asyncio.sleep(ingest.ARRIVAL_IDLE_SECONDS)
    got = await dep.receiver.collect(tag, 0)
    stored = await dep.stored()
    expected = {"webhook": "202 ignored", "smtp": "250"}[path]
    wrong = sum(count for key, count in answers.items() if not key.endswith(": " + expected))
    stored_noise = sum(1 for key in sent if key in stored)
    return {
        "sent": len(sent),
        "answers": answers,
        "wrong_answers": wrong,
        "stored": stored_noise,
        "events": len(got["arrivals"]),
        "ok": wrong == 0 and stored_noise == 0 and not got["arrivals"],
    }


async def check_stored(dep: Deployment, path: str, runs: dict[str, PhaseRun]) -> dict[str, Any]:
    """Every mail accepted stored once; auto-replies marked automatic (OneThread); nothing else."""
    accepted: dict[str, str] = {}
    uncertain: set[str] = set()
    for run in runs.values():
        for seq in run.log.due:
            key = mails.message_id(run.tag, seq)
            status = run.log.status.get(seq)
            if status == 200:
                accepted[key] = dep.stream.template(seq).kind
            elif status is None:
                uncertain.add(key)
    tags = tuple(f"otb.{run.tag}." for run in runs.values())
    stored_all = await dep.stored()
    stored = {key: automatic for key, automatic in stored_all.items() if key.startswith(tags)}
    total_rows = await dep.stored_count()
    other_rows = len(stored_all) - sum(1 for key in stored_all if key.startswith(tags))
    duplicate_rows = max(0, total_rows - len(stored_all))
    repeated_events = sum(run.summary["duplicate_events"] for run in runs.values())
    lost = len(set(accepted) - set(stored))
    unexpected = len(set(stored) - set(accepted) - uncertain)
    misclassified = (
        sum(1 for key, kind in accepted.items() if key in stored and stored[key] != (kind == "auto_reply"))
        if dep.name == "onethread"
        else 0
    )
    duplicates = duplicate_rows + repeated_events
    return {
        "sent": len(accepted) + len(uncertain),
        "accepted": len(accepted),
        "auto_replies": sum(1 for kind in accepted.values() if kind == "auto_reply"),
        "unanswered": len(uncertain),
        "stored": len(stored),
        "stored_other_paths": other_rows,
        "lost": lost,
        "unexpected": unexpected,
        "duplicate_rows": duplicate_rows,
        "duplicate_events": repeated_events,
        "duplicates": duplicates,
        "misclassified": misclassified,
        "ok": lost == 0 and unexpected == 0 and duplicates == 0 and misclassified == 0,
    }


def integrity_line(c: dict[str, Any]) -> str:
    line = f"sent {c['sent']}, stored {c['stored']}, duplicates {c['duplicates']}, lost {c['lost']}"
    if c["unanswered"]:
        line += f" ({c['unanswered']} not answered before the sender's deadline)"
    if c["unexpected"]:
        line += f", {c['unexpected']} stored that were never accepted"
    if c["misclassified"]:
        line += f", {c['misclassified']} auto-replies/mails stored with the wrong mark"
    return line


async def measure(
    args: argparse.Namespace, run_id: str, dep: Deployment, path: str, probe: CpuProbe
) -> dict[str, Any]:
    probe.set_group("server", [dep.server.process.pid])
    probe.set_group("loadgen_receiver", [dep.receiver.process.pid or 0])
    runs: dict[str, PhaseRun] = {}
    out: dict[str, Any] = {}
    for phase in PHASES:
        run = await run_phase(args, run_id, dep, path, phase, probe)
        runs[phase] = run
        out[phase] = s = run.summary
        print(
            f"  {path:7} {dep.name:9} {phase:10} sent {s['sent']:6} events {s['events']:6} "
            f"({s['events_per_s']:7.1f}/s)  answer p50 {ingest.fmt(s['response_ms']['p50'])} "
            f"p99 {ingest.fmt(s['response_ms']['p99'])} ms  →event p50 {ingest.fmt(s['latency_ms']['p50'])} "
            f"p99 {ingest.fmt(s['latency_ms']['p99'])} ms  answers {s['answers']}",
            flush=True,
        )
    await settle(dep, args.settle_seconds)
    out["integrity"] = await check_stored(dep, path, runs)
    print(f"  {path:7} {dep.name:9} {integrity_line(out['integrity'])}", flush=True)
    if dep.name == "onethread" and args.noise_copies > 0:
        out["noise"] = noise = await run_noise(args, run_id, dep, path)
        print(
            f"  {path:7} {dep.name:9} noise: {noise['sent']} bounces/read receipts, answers {noise['answers']}, "
            f"stored {noise['stored']}, events {noise['events']}",
            flush=True,
        )
    return out


# ------------------------------------------------------------------------------------------------
# parse only
# ------------------------------------------------------------------------------------------------
def parse_only(templates: list[mails.Template], mix: list[mails.Template], seconds: float) -> dict[str, Any]:
    """Mails/s of our parser and of the floor's stdlib reading, in this process on one core, over
    the throughput mix; and our parser per fixture (µs), to show which mail costs what."""
    stream = mails.MailStream(f"support@{mails.DOMAIN}", 500, mix)
    corpus = [stream.generate("parse", seq) for seq in range(len(mix) * 4)]

    def rate(function: Callable[[bytes], object], budget: float) -> float:
        done, started = 0, time.process_time()
        while time.process_time() - started < budget:
            for raw in corpus:
                function(raw)
            done += len(corpus)
        return round(done / (time.process_time() - started), 1)

    per_fixture: dict[str, float] = {}
    for template in templates:
        raw = mails.rewrite(template, mid=mails.message_id("parse", 0), support=stream.support, customer=1)
        rounds, started = 0, time.process_time()
        while time.process_time() - started < 0.2:
            parse_mail(raw)
            rounds += 1
        per_fixture[template.name] = round((time.process_time() - started) * 1e6 / rounds, 1)
    return {
        "parse_mail_per_s": rate(parse_mail, seconds),
        "floor_stdlib_per_s": rate(mail_facts, seconds / 2),
        "parse_mail_us_per_fixture": per_fixture,
        "mean_bytes": round(sum(len(raw) for raw in corpus) / len(corpus)),
    }


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
Row = tuple[str, Callable[[dict[str, Any]], float | str | None], bool]


def rows(path: str, rate: float) -> list[Row]:
    answer = "POST→202" if path == "webhook" else "DATA→250"
    start = "POST" if path == "webhook" else "MAIL"

    def lat(kind: str, pct: str, phase: str = "saturation") -> Callable[[dict[str, Any]], float | None]:
        return lambda r: r[phase][kind][pct]

    def cpu(name: str) -> Callable[[dict[str, Any]], float | None]:
        return lambda r: r["saturation"]["cpu_ms_per_message"].get(name)

    return [
        ("msgs/s at saturation (events)", lambda r: r["saturation"]["events_per_s"], True),
        ("  msgs/s in warm-up (new customers)", lambda r: r["warmup"]["events_per_s"], True),
        (f"{answer} p50 ms, saturation", lat("response_ms", "p50"), True),
        (f"{answer} p99 ms, saturation", lat("response_ms", "p99"), True),
        (f"{start}→event p50 ms, saturation", lat("latency_ms", "p50"), True),
        (f"{start}→event p99 ms, saturation", lat("latency_ms", "p99"), True),
        (f"{answer} p50 ms at {rate:g}/s", lat("response_ms", "p50", "rate"), True),
        (f"{answer} p99 ms at {rate:g}/s", lat("response_ms", "p99", "rate"), True),
        (f"{start}→event p50 ms at {rate:g}/s", lat("latency_ms", "p50", "rate"), True),
        (f"{start}→event p99 ms at {rate:g}/s", lat("latency_ms", "p99", "rate"), True),
        (f"kept up with {rate:g}/s", lambda r: "yes" if r["rate"]["kept_up"] else "NO", False),
        ("server CPU ms/msg", cpu("server"), True),
        ("postgres CPU ms/msg", cpu("postgres"), True),
        ("redis CPU ms/msg", cpu("redis"), True),
        ("generator CPU ms/msg", lambda r: r["saturation"]["generator_cpu_ms_per_message"], False),
        (
            "cores taken by others (sat/rate)",
            lambda r: (
                f"{r['saturation']['cpu_seconds']['other_cores']:.2f}/{r['rate']['cpu_seconds']['other_cores']:.2f}"
            ),
            False,
        ),
        (
            "sent / stored / duplicates / lost",
            lambda r: (
                f"{r['integrity']['sent']}/{r['integrity']['stored']}/"
                f"{r['integrity']['duplicates']}/{r['integrity']['lost']}"
            ),
            False,
        ),
        ("  of which auto-replies", lambda r: str(r["integrity"]["auto_replies"]), False),
    ]


def cell(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def print_table(results: dict[str, dict[str, Any]], parse: dict[str, Any] | None, rate: float) -> None:
    for path, by_target in results.items():
        table = rows(path, rate)
        width = max(len(label) for label, _, _ in table) + 2
        names = [name for name in ("onethread", "floor") if name in by_target]
        both = len(names) == 2
        print()
        print(
            f"{path:{width}}"
            + "".join(f"{name:>16}" for name in names)
            + ("  OneThread/floor" if both else "")
        )
        for label, value, ratio in table:
            figures = [value(by_target[name]) for name in names]
            line = f"{label:{width}}" + "".join(f"{cell(figure):>16}" for figure in figures)
            if both and ratio and all(isinstance(f, int | float) for f in figures) and figures[1]:
                line += f"{figures[0] / figures[1]:>15.2f}x"  # type: ignore[operator]
            print(line)
    if parse:
        print()
        print(
            f"parse only (in-process, one core, mean {parse['mean_bytes']:,} bytes): parse_mail "
            f"{parse['parse_mail_per_s']:,.0f} mails/s; the floor's stdlib reading "
            f"{parse['floor_stdlib_per_s']:,.0f} mails/s"
        )
        slowest = sorted(parse["parse_mail_us_per_fixture"].items(), key=lambda item: -item[1])[:4]
        print(
            "  slowest fixtures (µs): "
            + ", ".join(f"{name.split('__')[0]} {us:,.0f}" for name, us in slowest)
        )
    print()
    for path, by_target in results.items():
        for name, figures in by_target.items():
            verdict = "OK" if figures["integrity"]["ok"] else "PROBLEM"
            print(f"{path} {name}: {integrity_line(figures['integrity'])}: {verdict}")
            if "noise" in figures:
                noise = figures["noise"]
                print(
                    f"{path} {name}: noise: {noise['sent']} bounces/read receipts accepted "
                    f"{noise['answers']}, stored {noise['stored']}, events {noise['events']}: "
                    f"{'OK' if noise['ok'] else 'PROBLEM'}"
                )
    disturbed = [
        f"{path} {name}"
        for path, by_target in results.items()
        for name, figures in by_target.items()
        if max(figures[phase]["cpu_seconds"]["other_cores"] for phase in ("saturation", "rate"))
        > ingest.DISTURBED_CORES
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
    parser.add_argument("--saturation-seconds", type=float, default=20.0, help="saturation run (default 20)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients / SMTP sessions")
    parser.add_argument("--rate", type=float, default=20.0, help="mails/s of the fixed-rate run (default 20)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of the fixed-rate run")
    parser.add_argument("--warmup", type=int, default=600, help="warm-up mails (at least --contacts)")
    parser.add_argument("--warmup-seconds", type=float, default=30.0, help="longest warm-up")
    parser.add_argument("--contacts", type=int, default=500, help="distinct senders, round-robin")
    parser.add_argument("--noise-copies", type=int, default=10, help="copies of each bounce/read receipt")
    parser.add_argument("--parse-seconds", type=float, default=3.0, help="CPU seconds of the parse-only run")
    parser.add_argument(
        "--paths",
        default=",".join(PATHS),
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="webhook,smtp (default both)",
    )
    parser.add_argument("--only", choices=["both", "onethread", "floor"], default="both")
    parser.add_argument("--settle-seconds", type=float, default=120.0, help="longest wait for an idle server")
    parser.add_argument(
        "--server-log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    ingest.add_service_options(parser)
    args = parser.parse_args(argv)
    ingest.check_service_options(parser, args)
    if not args.paths or any(path not in PATHS for path in args.paths):
        parser.error(f"--paths: choose from {', '.join(PATHS)}")
    return args


async def main_async(args: argparse.Namespace) -> int:
    run_id = secrets.token_hex(4)
    started = datetime.now()
    results_dir = BENCH_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"onethread-bench-mail-{run_id}-"))
    args.created_databases = []
    args.servers = []
    args.templates = mails.load_templates()
    args.mix = mails.throughput_mix(args.templates)
    probe = CpuProbe()
    probe.set_group("loadgen_sender", [os.getpid()])
    deployments: list[Deployment] = []
    results: dict[str, dict[str, Any]] = {}
    failed = False
    print(
        f"email benchmark {run_id}: {len(args.templates)} fixtures, mix of {len(args.mix)} "
        f"({sum(t.kind == 'auto_reply' for t in args.mix)} auto-replies); {os.cpu_count()} cores; "
        f"load average before: {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    t0 = time.monotonic()
    parse = parse_only(args.templates, args.mix, args.parse_seconds) if args.parse_seconds > 0 else None
    if parse:
        print(
            f"  parse only: parse_mail {parse['parse_mail_per_s']:,.0f}/s, floor {parse['floor_stdlib_per_s']:,.0f}/s"
        )
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
        # Path by path, OneThread then the floor: a row's two figures are measured minutes apart.
        for path in args.paths:
            results[path] = {}
            for dep in deployments:
                results[path][dep.name] = await measure(args, run_id, dep, path, probe)
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
        await ingest.drop_job_queue(args.redis_url, f"onethread:bench:{run_id}")
        if not args.keep_db:
            for database in args.created_databases:
                with contextlib.suppress(Exception):
                    await ingest.admin_sql(
                        args.postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                    )
        if not failed:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, parse, args.rate)
    problems = {server.name: server.log_problems()[:20] for server in args.servers}
    for name, lines in problems.items():
        for line in lines[:5]:
            print(f"{name} log: {line}")
    report = {
        "benchmark": "email",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 1),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "config": {
            key: value
            for key, value in vars(args).items()
            if key not in ("created_databases", "servers", "postgres_url", "templates", "mix")
        },
        "fixtures": {t.name: t.kind for t in args.templates},
        "mix": [t.name for t in args.mix],
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_after": os.getloadavg(),
            "git_commit": ingest._git_commit(),
        },
        "server_log_problems": problems,
        "parse_only": parse,
        "results": results,
    }
    out = results_dir / f"email-{started.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: {out.relative_to(REPO)}  (whole run {report['seconds']:.0f}s)")
    ok = all(
        figures["integrity"]["ok"] and figures.get("noise", {"ok": True})["ok"]
        for by_target in results.values()
        for figures in by_target.values()
    )
    return 0 if ok and results else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import uvloop

    try:
        return uvloop.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("email benchmark interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
