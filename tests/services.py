"""Private infrastructure for the production-shape and fault tests: services a test may break.

The shared PostgreSQL (5432) and Redis (6379) serve every other test, so a test that stops its
database or its Redis needs its own. This module starts them as test-owned processes on free ports
in a temporary directory, with the same binaries production uses:

- :class:`PrivateRedis` — ``redis-server`` without persistence (a restart comes back empty, as a
  crashed cache does);
- :class:`PrivatePostgres` — a throw-away cluster (``initdb`` + ``postgres``; both refuse to run as
  root, so as root they run as the ``postgres`` user, as CI does);
- :class:`Nginx` — Debian's nginx load-balancing round robin over the app processes and passing
  websockets, configured as ``docker/`` deploys it (see :func:`nginx_conf`);
- :class:`WorkerProcess` — one ``onethread worker``.

:class:`ProductionShape` puts them together with two ``onethread serve`` processes (from
``tests.processes``): the deployment of DESIGN.md "Production shape", on one machine. Each piece can
be stopped, killed and started again; ``heal`` brings every piece back, so tests sharing one
module-scoped shape do not depend on each other's order.

A missing binary fails the test with the package to install; it never skips (CI installs them,
see ``.ci/run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from app.db.migrate import upgrade
from app.settings import Settings
from tests.conftest import SECRET
from tests.processes import (
    HOST,
    REPO_ROOT,
    ServerGroup,
    ServerProcess,
    _die_with_parent,
    command,
    free_port,
    process_env,
)

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
"""Debian keeps the server binaries (initdb, postgres) off PATH, one folder per major version."""


INITDB_FLAGS = ("--locale=C", "--no-sync", "--no-instructions")


def require_binary(name: str, package: str, *, search: list[Path] | None = None) -> str:
    """The path of ``name`` (on PATH or in ``search``); fails the test when it is not installed."""
    for folder in search or []:
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"{name} is required for these tests: apt-get install {package}", pytrace=False)
    return found


def _as_postgres() -> dict[str, str]:
    """``Popen`` arguments that run a PostgreSQL binary as ``postgres`` when we are root."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _spawn(argv: list[str], log: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    """A child in its own process group, output to ``log``, killed by the kernel if we die."""
    with log.open("ab") as out:
        return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            **kwargs,
        )


def _end(popen: subprocess.Popen[bytes] | None, sig: int, timeout: float = 15) -> None:
    if popen is None or popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, sig)
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


async def _until(check: object, what: str, within: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await check():  # type: ignore[operator]
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not ready within {within:.0f} s" + (f"; log:\n{_tail(log)}" if log else ""))


# --- Redis ----------------------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """``redis-server`` on a free port, no persistence: ``stop`` + ``start`` is a Redis that lost
    everything (pub/sub connections, job streams, locks)."""

    directory: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.directory / "redis.log"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    async def start(self) -> None:
        binary = require_binary("redis-server", "redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        self.popen = _spawn([*argv, "--dir", str(self.directory)], self.log)

        async def pong() -> bool:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                return bool(await client.ping())
            finally:
                await client.aclose()

        await _until(pong, f"redis-server on port {self.port}", 15, self.log)

    def stop(self) -> None:
        """SIGKILL: Redis gone at once, as a crashed or unplugged one is."""
        _end(self.popen, signal.SIGKILL)


# --- PostgreSQL -----------------------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of its own, in a directory the ``postgres`` user owns (trust auth)."""

    directory: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None
    database: str = "onethread"

    @classmethod
    def create(cls) -> PrivatePostgres:
        """``initdb`` a new cluster in a fresh directory under /tmp (the pytest tmp dirs are private
        to root, which the ``postgres`` user cannot enter)."""
        initdb = require_binary("initdb", "postgresql", search=PG_BIN_DIRS)
        directory = Path(tempfile.mkdtemp(prefix="onethread-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        done = subprocess.run(
            [
                initdb,
                "-D",
                str(directory / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                *INITDB_FLAGS,
            ],
            capture_output=True,
            text=True,
            check=False,
            **_as_postgres(),  # type: ignore[arg-type]
        )
        if done.returncode != 0:
            raise AssertionError(f"initdb failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return cls(directory)

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    @property
    def url(self) -> str:
        """The app's ``ONETHREAD_DATABASE_URL``."""
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{self.database}"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    async def start(self) -> None:
        postgres = require_binary("postgres", "postgresql", search=PG_BIN_DIRS)
        settings = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(self.directory),
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [postgres, "-D", str(self.directory / "data"), "-p", str(self.port)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.popen = _spawn(argv, self.log, **_as_postgres())

        async def accepts() -> bool:
            connection = await asyncpg.connect(self.admin_dsn, timeout=2)
            await connection.close()
            return True

        await _until(accepts, f"postgres on port {self.port}", 30, self.log)

    async def create_database(self) -> None:
        """The app's database, migrated to head (as ``onethread migrate`` leaves it)."""
        connection = await asyncpg.connect(self.admin_dsn)
        try:
            await connection.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await connection.close()
        await asyncio.to_thread(upgrade, Settings(database_url=self.url, secret_key=SECRET))

    def stop(self) -> None:
        """A fast shutdown (SIGINT): sessions are cut off, as on a restart or a failover."""
        _end(self.popen, signal.SIGINT, timeout=30)

    def destroy(self) -> None:
        _end(self.popen, signal.SIGQUIT)  # immediate shutdown: the cluster is thrown away
        shutil.rmtree(self.directory, ignore_errors=True)


# --- nginx ----------------------------------------------------------------------------------------

DOCKER_NGINX_CONF = REPO_ROOT / "docker" / "nginx.conf"
"""The proxy configuration production runs (``docker/compose.yml``); the tests run the same file."""

_FOR_LOOPBACK: list[tuple[str, str]] = [
    # Docker's DNS and the service name become the test's own processes on loopback.
    (r"^resolver .*;\n", ""),
    (r"server app:8000 resolve( [^;]*);", "{servers}"),
    (r"listen 80 default_server;", "listen {listen} default_server;"),
    (r"access_log /var/log/nginx/access\.log onethread;", "access_log {access_log} onethread;"),
]


def nginx_conf(directory: Path, listen: int, upstreams: list[int]) -> str:
    """``docker/nginx.conf`` pointed at the given app ports, inside a ``http`` block of our own.

    What the fault tests rely on is in that file: round robin with a failed replica left alone for
    two seconds, websockets passed through, and POSTs retried on another replica only where a
    repeat is stored once (webhooks and the custom channel's inbound). A rewrite that no longer
    finds its line fails here, so the tests never run a configuration production does not.
    """
    conf = DOCKER_NGINX_CONF.read_text()
    for pattern, replacement in _FOR_LOOPBACK:
        match = re.search(pattern, conf, flags=re.MULTILINE)
        assert match, f"docker/nginx.conf no longer has a line matching {pattern!r}"
        options = match.group(1) if match.groups() else ""
        value = replacement.format(
            servers="\n    ".join(f"server {HOST}:{port}{options};" for port in upstreams),
            listen=f"{HOST}:{listen}",
            access_log=directory / "access.log",
        )
        conf = conf[: match.start()] + value + conf[match.end() :]
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
{temp}
{conf}
}}
"""


@dataclass
class Nginx:
    directory: Path
    upstreams: list[int]
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    async def start(self) -> None:
        binary = require_binary("nginx", "nginx-light")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "nginx.conf"
        conf.write_text(nginx_conf(self.directory, self.port, self.upstreams))
        self.popen = _spawn(
            [binary, "-p", str(self.directory), "-c", str(conf), "-g", "daemon off;"],
            self.directory / "nginx.out",
        )

        async def listening() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise AssertionError(f"nginx exited:\n{_tail(self.directory / 'nginx.out')}")
            return port_open(self.port)

        await _until(listening, f"nginx on port {self.port}", 15, self.directory / "error.log")

    def stop(self) -> None:
        _end(self.popen, signal.SIGTERM)


# --- the worker -----------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """``onethread worker``: started, killed (SIGKILL), started again."""

    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    async def start(self, within: float = 30) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.popen = _spawn(command("worker"), self.log, env=process_env(self.env), cwd=REPO_ROOT)

        async def started() -> bool:
            if not self.running:
                raise AssertionError(f"the worker exited:\n{_tail(self.log)}")
            with self.log.open("rb") as file:
                file.seek(offset)
                return b"worker started" in file.read()

        await _until(started, "onethread worker", within, self.log)

    def kill(self) -> None:
        _end(self.popen, signal.SIGKILL)

    def stop(self) -> None:
        _end(self.popen, signal.SIGTERM, timeout=20)


# --- the whole deployment -------------------------------------------------------------------------


@dataclass
class ProductionShape:
    """Two ``onethread serve`` behind nginx, one ``onethread worker``, private PostgreSQL and Redis."""

    tmp: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    group: ServerGroup
    env: dict[str, str]
    servers: list[ServerProcess] = field(default_factory=list)
    nginx: Nginx | None = None
    worker: WorkerProcess | None = None

    @classmethod
    async def start(cls, tmp: Path, extra_env: Mapping[str, str] = ()) -> ProductionShape:  # type: ignore[assignment]
        postgres = PrivatePostgres.create()
        redis = PrivateRedis(tmp / "redis")
        await asyncio.gather(postgres.start(), redis.start())
        await postgres.create_database()
        env = {
            "ONETHREAD_DATABASE_URL": postgres.url,
            "ONETHREAD_REDIS_URL": redis.url,
            "ONETHREAD_VAR_DIR": str(tmp / "var"),
            **dict(extra_env),
        }
        shape = cls(tmp, postgres, redis, ServerGroup(tmp / "logs"), env)
        shape.servers = list(
            await asyncio.gather(*(shape.group.start(env, name=n) for n in ("app-a", "app-b")))
        )
        shape.nginx = Nginx(tmp / "nginx", [server.port for server in shape.servers])
        shape.worker = WorkerProcess(env, tmp / "logs" / "worker.log")
        await asyncio.gather(shape.nginx.start(), shape.worker.start())
        return shape

    @property
    def url(self) -> str:
        assert self.nginx is not None
        return self.nginx.url

    @property
    def ws_url(self) -> str:
        assert self.nginx is not None
        return self.nginx.ws_url

    async def heal(self) -> None:
        """Start again whatever a test stopped or killed, and wait until nginx reaches both apps."""
        if not self.postgres.running:
            await self.postgres.start()
        if not self.redis.running:
            await self.redis.start()
        for index, server in enumerate(self.servers):
            if not server.running:
                self.servers[index] = await self.group.restart(server)
        assert self.worker is not None
        if not self.worker.running:
            await self.worker.start()
        async with httpx.AsyncClient(timeout=5) as http:
            for server in self.servers:
                await _until(
                    lambda s=server: _ok(http, f"{s.url}/health"),
                    f"{server.name} /health",
                    30,
                    server.log_path,
                )
        await asyncio.sleep(2.1)  # nginx's fail_timeout: a server marked down is tried again

    def stop(self) -> None:
        """Everything ends at once (SIGKILL, PostgreSQL's immediate shutdown): nothing is kept."""
        if self.nginx is not None:
            self.nginx.stop()
        if self.worker is not None:
            self.worker.kill()
        for server in self.group.servers:
            server.kill()
        self.redis.stop()
        self.postgres.destroy()

    def logs(self) -> str:
        parts = [self.group.logs()]
        if self.worker is not None:
            parts.append(f"===== worker\n{_tail(self.worker.log, 40)}")
        if self.nginx is not None:
            parts.append(f"===== nginx\n{_tail(self.nginx.directory / 'error.log', 20)}")
        parts.append(f"===== postgres\n{_tail(self.postgres.log, 20)}")
        return "\n".join(parts)


async def _ok(http: httpx.AsyncClient, url: str) -> bool:
    return (await http.get(url)).status_code == 200
