"""Real ``onethread`` processes for tests: start, wait for ``/health``, capture logs, stop for sure.

The in-process ``app``/``client`` fixtures prove the code; this module proves the deployment: several
``onethread serve`` processes sharing one database and one Redis, as production runs them.

Typical use, through a fixture that owns a :class:`ServerGroup`::

    @pytest.fixture
    async def servers(tmp_path):
        group = ServerGroup(tmp_path / "logs")
        yield group
        group.stop_all()          # always runs, even when the test failed

    async def test_something(servers):
        env = {"ONETHREAD_DATABASE_URL": ..., "ONETHREAD_REDIS_URL": ..., "ONETHREAD_SECRET_KEY": ...}
        a = await servers.start(env, name="a")
        b = await servers.start(env, name="b")
        out = await cli(env, "channel", "add", "api", "--name", "Shop", "--json")
        ...

Each server gets a free port picked at start (retried if another process grabs it first), runs in
a process group of its own, writes stdout and stderr to ``<log_dir>/<name>.log``, and is stopped
with SIGTERM, then SIGKILL. Servers still running when the interpreter exits are killed too, and on
Linux the kernel kills them if the test process itself is killed (they are spawned from the
event loop's thread, which lives as long as the test session).

:class:`EventSocket` is the client half: a ``websockets`` connection to ``/api/v1/events`` with the
reads tests need (until ``ready``, the next N events, "nothing more arrives").
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

_LIVE: set[ServerProcess] = set()
_OK_REQUEST = re.compile(r'" 2\d\d( |$)')


_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec: no imports, no locks
    """Linux: have the kernel SIGKILL the server if the test process dies (even by SIGKILL)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the kernel's pick; a race is retried by ``start``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def process_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``ONETHREAD_*`` variable, plus ``overrides``.

    A developer's own ``ONETHREAD_*`` settings never leak into a test server.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("ONETHREAD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.update(overrides)
    return env


def command(*args: str) -> list[str]:
    """The argv for ``onethread ARGS`` with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "app.cli", *args]


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 60) -> str:
    """Run ``onethread ARGS`` with ``env`` (see :func:`process_env`) and return its stdout.

    A non-zero exit fails the calling test with the command's stderr.
    """
    done = subprocess.run(
        command(*args),
        env=process_env(env),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"`onethread {' '.join(args)}` exited {done.returncode}:\n{done.stderr}{done.stdout}"
        )
    return done.stdout


async def cli(env: Mapping[str, str], *args: str, time_limit: float = 60) -> str:
    """:func:`run_cli` without blocking the test's event loop (its sockets keep being served)."""
    return await asyncio.to_thread(run_cli, env, *args, timeout=time_limit)


async def cli_json(env: Mapping[str, str], *args: str) -> Any:
    """``onethread ARGS --json`` parsed."""
    return json.loads(await cli(env, *args, "--json"))


@dataclass(eq=False)
class ServerProcess:
    """One running ``onethread serve``: where it listens, its log, and how to stop it."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    host: str = HOST

    @property
    def url(self) -> str:
        """``http://host:port`` — the base for HTTP calls."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` — the base for websocket connections."""
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        """Everything the process printed so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60, *, skip_ok_requests: bool = True) -> str:
        """The last ``lines`` lines of the log, by default without access lines of 2xx answers."""
        kept = [
            line
            for line in self.log_text().splitlines()
            if not (skip_ok_requests and _OK_REQUEST.search(line))
        ]
        return "\n".join(kept[-lines:])

    async def wait_healthy(self, within: float = 30) -> None:
        """Poll ``GET /health`` until it answers 200; raise with the log tail if it never does."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    raise ServerStartError(self, f"exited with status {self.popen.returncode}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise ServerStartError(self, f"did not answer /health within {within:.0f} s")

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the server's process group (no-op once it has exited)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL, no goodbye (fault tests: a crashed instance)."""
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        _LIVE.discard(self)

    def stop(self, timeout: float = 5) -> int | None:
        """SIGTERM and wait up to ``timeout`` seconds, then SIGKILL. Returns the exit status."""
        if self.running:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=10)
        _LIVE.discard(self)
        return self.popen.returncode


class ServerStartError(RuntimeError):
    def __init__(self, server: ServerProcess, reason: str) -> None:
        self.server = server
        super().__init__(f"server {server.name!r} on port {server.port} {reason}; log:\n{server.log_tail()}")

    @property
    def port_taken(self) -> bool:
        return "address already in use" in self.server.log_text().lower()


@dataclass
class ServerGroup:
    """Starts servers and remembers them, so one ``stop_all`` (in a fixture's teardown) ends them all."""

    log_dir: Path
    servers: list[ServerProcess] = field(default_factory=list)

    async def start(
        self,
        env: Mapping[str, str],
        *,
        name: str | None = None,
        args: Iterable[str] = (),
        ready_within: float = 30,
        attempts: int = 3,
    ) -> ServerProcess:
        """Start ``onethread serve`` with ``env`` on a free port and wait until it is healthy.

        ``env`` holds the ``ONETHREAD_*`` settings (``ONETHREAD_PORT`` is chosen here); ``args``
        are extra ``serve`` arguments such as ``--migrate``.
        """
        name = name or f"server-{len(self.servers) + 1}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            server = self._spawn(env, name, list(args))
            try:
                await server.wait_healthy(ready_within)
            except ServerStartError as exc:
                server.stop()
                if exc.port_taken and attempt < attempts:
                    continue
                raise
            return server
        raise AssertionError("unreachable")

    async def restart(self, server: ServerProcess, *, ready_within: float = 30) -> ServerProcess:
        """Stop ``server`` and start it again on the same port, as a deploy or a crash-restart does
        (clients that reconnect to the same address find it again)."""
        server.stop()
        again = self._spawn(server.env, server.name, [], port=server.port)
        await again.wait_healthy(ready_within)
        return again

    def _spawn(
        self, env: Mapping[str, str], name: str, args: list[str], *, port: int | None = None
    ) -> ServerProcess:
        port = port or free_port()
        full_env = process_env({**env, "ONETHREAD_HOST": HOST, "ONETHREAD_PORT": str(port)})
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            log.write(f"--- onethread serve on port {port}\n".encode())
            log.flush()
            popen = subprocess.Popen(
                command("serve", "--host", HOST, "--port", str(port), *args),
                env=full_env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: signals reach it and any children
                preexec_fn=_die_with_parent,
            )
        server = ServerProcess(name=name, port=port, env=dict(env), log_path=log_path, popen=popen)
        self.servers.append(server)
        _LIVE.add(server)
        return server

    def stop_all(self) -> None:
        """Stop every server this group started (those already stopped are skipped)."""
        for server in self.servers:
            server.stop()

    def logs(self) -> str:
        """Each server's log tail, for a failing test's report."""
        return "\n".join(f"===== {s.name} ({s.url})\n{s.log_tail()}" for s in self.servers)


def live_servers() -> list[ServerProcess]:
    """Every server started by this module that has not been stopped yet (any group)."""
    return sorted(_LIVE, key=lambda server: server.name)


@atexit.register
def _kill_leftovers() -> None:
    for server in list(_LIVE):
        server.kill()


# --- the client side -------------------------------------------------------------------------


async def login(server: ServerProcess, email: str, password: str) -> str:
    """``POST /api/v1/auth/token`` on ``server``; returns the bearer token."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def create_agent(
    env: Mapping[str, str], email: str, password: str, *, admin: bool = False, name: str | None = None
) -> None:
    """``onethread agent create`` with ``env`` (no server needed: it writes to the database)."""
    await cli(
        env,
        "agent",
        "create",
        "--email",
        email,
        "--name",
        name or email.split("@")[0],
        "--password",
        password,
        *(["--admin"] if admin else []),
    )


class EventSocket:
    """An agent's ``WS /api/v1/events`` connection, with reads that time out instead of hanging.

    Heartbeats (``{"type": "ping"}``) are counted in ``pings`` and otherwise skipped by the
    ``next_*`` readers; everything received is kept in ``frames``.
    """

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []
        self.pings = 0

    @classmethod
    async def open(
        cls, server: ServerProcess, token: str | None, *, last_event_id: int | None = None
    ) -> EventSocket:
        """Connect (token as ``?token=``, as browsers must). Raises ``InvalidStatus`` if refused."""
        params = []
        if token is not None:
            params.append(f"token={token}")
        if last_event_id is not None:
            params.append(f"last_event_id={last_event_id}")
        query = ("?" + "&".join(params)) if params else ""
        connection = await connect(f"{server.ws_url}/api/v1/events{query}", open_timeout=10)
        return cls(connection)

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> EventSocket:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def next_frame(self, within: float = 10, *, skip_pings: bool = True) -> dict[str, Any]:
        """The next frame; ``TimeoutError`` if none arrives within ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no frame within {within} s")
            raw = await asyncio.wait_for(self.connection.recv(), remaining)
            frame = json.loads(raw)
            self.frames.append(frame)
            if frame.get("type") == "ping":
                self.pings += 1
                if skip_pings:
                    continue
            return dict(frame)

    async def until_ready(self, within: float = 10) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Frames before the ``ready`` frame (replay, ``resync``) and the ``ready`` frame itself."""
        before: list[dict[str, Any]] = []
        while True:
            frame = await self.next_frame(within)
            if frame.get("type") == "ready":
                return before, frame
            before.append(frame)

    async def events(
        self, count: int, *, type_: str | None = None, within: float = 10
    ) -> list[dict[str, Any]]:
        """Read until ``count`` events (of ``type_``, if given) have arrived; returns every event read."""
        got: list[dict[str, Any]] = []
        matched = 0
        deadline = time.monotonic() + within
        while matched < count:
            remaining = deadline - time.monotonic()
            try:
                frame = await self.next_frame(max(remaining, 0.001))
            except TimeoutError:
                raise TimeoutError(
                    f"{matched} of {count} {type_ or 'event'} frame(s) within {within} s; got "
                    f"{[(f.get('id'), f.get('type')) for f in got]}"
                ) from None
            got.append(frame)
            if type_ is None or frame.get("type") == type_:
                matched += 1
        return got

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Everything but pings that arrives within ``seconds`` (a test asserts it is empty)."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                got.append(await self.next_frame(remaining))
            except TimeoutError:
                break
        return got
