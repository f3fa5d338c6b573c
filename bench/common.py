"""What every benchmark script shares: service options, scratch databases, servers, figures, results.

The scripts are run as files (``python bench/x.py``) and import their siblings through
``sys.path``; this module imports nothing of theirs. ``ingest.py`` re-exports the helpers it used to
define (``ingest.fmt``, ``ingest.Server``, …) so code written against it keeps working.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


# ------------------------------------------------------------------------------------------------
# options
# ------------------------------------------------------------------------------------------------
def add_service_options(parser: argparse.ArgumentParser, *, keep_db_help: str | None = None) -> None:
    """``--keep-db --postgres-url --redis-url``, defaulting to ``ONETHREAD_BENCH_*_URL`` / local."""
    parser.add_argument("--keep-db", action="store_true", help=keep_db_help or "keep the benchmark databases")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ONETHREAD_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an admin connection used to create the databases",
    )
    parser.add_argument("--redis-url", default=os.environ.get("ONETHREAD_BENCH_REDIS_URL", DEFAULT_REDIS_URL))


def check_service_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a non-PostgreSQL URL; give a plain ``postgresql://`` URL the asyncpg driver."""
    if not args.postgres_url.startswith("postgresql"):
        parser.error("--postgres-url must be a postgresql:// or postgresql+asyncpg:// URL")
    if not args.postgres_url.startswith("postgresql+asyncpg://"):
        args.postgres_url = args.postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1)


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (``None`` when empty)."""
    if not sorted_values:
        return None
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))  # ceil without importing math
    return sorted_values[min(rank, len(sorted_values)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def asyncpg_dsn(url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy form) → ``postgresql://…`` (asyncpg form)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


async def admin_sql(admin_url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(asyncpg_dsn(admin_url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, name: str, *, keep: bool = False) -> AsyncIterator[str]:
    """A fresh database ``name`` for the block (its SQLAlchemy URL); dropped after unless ``keep``."""
    await admin_sql(admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        if not keep:
            with contextlib.suppress(Exception):
                await admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_cli(args: list[str], env: dict[str, str], limit: float = 60.0) -> str:
    """Run a command to completion (within ``limit`` seconds); its stdout, or an error with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[1:4])} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return out.decode()


async def drop_job_queue(redis_url: str, prefix: str) -> None:
    """Delete the run's job stream and its keys (jobs the benchmark made that nobody needs now)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
    except Exception as exc:
        print(f"note: could not delete the job queue {prefix}: {exc}", file=sys.stderr)
    finally:
        await redis.aclose()


# ------------------------------------------------------------------------------------------------
# servers
# ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Server:
    """One process under test (uvicorn, or ``onethread worker`` with ``port`` 0)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_problems(self) -> list[str]:
        """Error lines and tracebacks from the server's log (the benchmark must not hide failures)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if "ERROR" in line or "Traceback" in line or "Exception" in line]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_healthy(self, limit: float = 30.0) -> None:
        """Poll ``/health`` until it answers 200; fail with the log's tail if the process dies first."""
        import httpx

        deadline = time.monotonic() + limit
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.base_url}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /health within {limit:.0f}s:\n{self.log_tail()}")

    async def stop(self) -> None:
        """Graceful stop (SIGINT, which also lets cProfile write its file), killed after 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)


def start_worker(command: list[str], env: dict[str, str], log_dir: Path, name: str = "worker") -> Server:
    """``onethread worker`` beside a server (its log in ``<name>.log``); a ``Server`` without a port."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return Server(name=name, port=0, process=process, log_path=log_path)


def start_server(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Server:
    """Start ``args`` (which carry ``--port N``), its output in ``<log_dir>/<name>.log``."""
    port = int(args[args.index("--port") + 1])
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return Server(name=name, port=port, process=process, log_path=log_path)


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
def git_commit() -> str | None:
    """The commit measured, with ``+dirty`` when app/ or integrations/ have uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "app", "integrations"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def machine_info() -> dict[str, Any]:
    """The machine a result was measured on (cores, Python, load) and the commit."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_after": os.getloadavg(),
        "git_commit": git_commit(),
    }


def write_report(name: str, started: datetime, report: dict[str, Any], suffix: str = "json") -> Path:
    """``bench/results/<name>-<timestamp>.<suffix>`` (git-ignored): JSON for dicts, text otherwise."""
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{name}-{started.strftime('%Y%m%d-%H%M%S')}.{suffix}"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return out


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table in Markdown (figures right-aligned)."""
    head = "| " + " | ".join(headers) + " |"
    rule = "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"
    body = ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])
