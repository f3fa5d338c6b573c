"""Operating OneThread: readiness, Prometheus metrics, request ids in JSON logs.

What an operator relies on, proven on real processes where it matters (a process's own registry,
its own log): ``/ready`` says which dependency is missing, ``/metrics`` moves when customers write,
the bot decides, a delivery fails and an agent connects, and the log ties a request to its id
without ever printing the token it carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.core import create_app
from app.domain.accounts.actions import do_create_agent
from app.domain.bot.rule_actions import do_import_rules
from app.domain.channels.accounts import do_add_channel_account
from app.runtime import standalone_writer
from app.settings import Settings
from tests.conftest import SECRET, base_settings
from tests.fakes.callback_server import free_port
from tests.integration.bot_helpers import DEMO
from tests.processes import (
    REPO_ROOT,
    EventSocket,
    ServerGroup,
    ServerProcess,
    _die_with_parent,
    command,
    login,
    process_env,
)

ADMIN, PASSWORD = "ops@example.com", "correct horse battery staple"
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Series:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, got), v in series.items() if n == name and wanted <= set(got))


async def scrape(url: str, token: str | None = None) -> Series:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def eventually(read: Callable[[], Any], until: Callable[[Any], bool], within: float = 20) -> Any:
    deadline = time.monotonic() + within
    while True:
        got = await read()
        if until(got) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------------------------
# readiness, in process
# ------------------------------------------------------------------------------------------------
async def test_ready_says_ok_with_each_dependency(client: httpx.AsyncClient, shape: str) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200, response.text
    expected = {"database": "ok", "redis": "ok"} if shape == "production" else {"database": "ok"}
    assert response.json() == {"status": "ok", "checks": expected}
    assert (await client.get("/health")).json() == {"status": "ok"}


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says a word (a hung Redis)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_ready_answers_503_naming_what_is_down_or_hangs(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    async def ready_with(redis_url: str, database_url: str = pg_url) -> httpx.Response:
        settings = base_settings(database_url=database_url, redis_url=redis_url, var_dir=tmp_path / "var")
        app = create_app(settings)  # not started: its jobs would need Redis too
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
                return await http.get("/ready")
        finally:
            await app.state.readiness.aclose()
            await app.state.writer.aclose()

    down = await ready_with(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    async with silent_server() as port:
        hung = await ready_with(f"redis://127.0.0.1:{port}/0")

    for response in (down, hung):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "5"
        body = response.json()
        assert body["type"].endswith("/not-ready")
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"] != "ok"
        assert body["detail"].startswith("redis: ")
    assert down.json()["checks"]["redis"].startswith("unreachable")
    assert hung.json()["checks"]["redis"].startswith("no answer within")

    # And the database's turn: PostgreSQL unreachable, Redis fine.
    no_database = await ready_with(redis_url, pg_url.rsplit("@", 1)[0] + f"@127.0.0.1:{free_port()}/x")
    assert no_database.status_code == 503, no_database.text
    assert no_database.json()["checks"] == {
        "database": no_database.json()["checks"]["database"],
        "redis": "ok",
    }
    assert no_database.json()["checks"]["database"] != "ok"
    assert no_database.json()["detail"].startswith("database: ")


# ------------------------------------------------------------------------------------------------
# metrics, on real processes (each has its own registry)
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerGroup]:
    group = ServerGroup(tmp_path / "logs")
    yield group
    group.stop_all()


def shape_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of processes on the test's shape (its database, Redis, queue, keys)."""
    env = {
        "ONETHREAD_DATABASE_URL": settings.database_url,
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(settings.var_dir),
        "ONETHREAD_JOB_QUEUE": settings.job_queue,
        "ONETHREAD_REDIS_PREFIX": settings.redis_prefix,
        "ONETHREAD_DELIVERY_BACKOFF_BASE": "0.05",
        "ONETHREAD_DELIVERY_BACKOFF_CAP": "0.1",
        "ONETHREAD_DELIVERY_MAX_ATTEMPTS": "2",
        **extra,
    }
    if settings.redis_url:
        env["ONETHREAD_REDIS_URL"] = settings.redis_url
    return env


def _spawn_worker(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command("worker"),
            env=process_env(
                {**env, "ONETHREAD_HOST": "127.0.0.1", "ONETHREAD_WORKER_METRICS_PORT": str(port)}
            ),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


@contextlib.asynccontextmanager
async def worker_process(env: dict[str, str], log_path: Path) -> AsyncIterator[str]:
    """``onethread worker`` with its status port; yields the port's base URL."""
    port = free_port()
    popen = _spawn_worker(env, port, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:

            async def ready() -> int:
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get(f"{url}/ready")).status_code
                return 0

            status = await eventually(ready, lambda status: status == 200, within=30)
            assert status == 200, await asyncio.to_thread(log_path.read_text)
        yield url
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=10)


async def provision(settings: Settings) -> dict[str, str]:
    """An admin, the demo bot rules and an API channel whose replies go to a callback nobody
    answers (every delivery attempt fails), written as the CLI would (without its start-up time)."""
    async with standalone_writer(settings) as writer:
        await do_create_agent(writer, email=ADMIN, name="Ops", password=PASSWORD, role="admin")
        await do_import_rules(writer, DEMO)
        created = await do_add_channel_account(
            writer, channel="api", name="Shop", config={"callback_url": f"http://127.0.0.1:{free_port()}/cb"}
        )
    return {"id": created.account.id, "token": created.secrets["inbound_token"]}


async def test_metrics_move_with_messages_bot_turns_failed_deliveries_and_sockets(
    settings: Settings, servers: ServerGroup, tmp_path: Path
) -> None:
    production = bool(settings.redis_url)
    env = shape_env(settings)
    if production:
        env["ONETHREAD_WORKER_IN_PROCESS"] = ""  # jobs run in `onethread worker`, as deployed
    server, channel = await asyncio.gather(servers.start(env, name="app"), provision(settings))
    token = await login(server, ADMIN, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        jobs_url = (
            await stack.enter_async_context(worker_process(env, tmp_path / "worker.log"))
            if production
            else server.url
        )
        before = await scrape(server.url)
        jobs_before = await scrape(jobs_url)

        # An agent connects: the gauge counts the open socket, and drops when it closes.
        socket = await EventSocket.open(server, token)
        await socket.until_ready()
        assert value(await scrape(server.url), "onethread_websocket_connections", kind="agent") == (
            value(before, "onethread_websocket_connections", kind="agent") + 1
        )
        await socket.close()
        after_close = await eventually(
            lambda: scrape(server.url),
            lambda s: (
                value(s, "onethread_websocket_connections", kind="agent")
                == value(before, "onethread_websocket_connections", kind="agent")
            ),
        )
        assert value(after_close, "onethread_websocket_connections", kind="agent") == value(
            before, "onethread_websocket_connections", kind="agent"
        )

        # A customer writes: stored (counted by channel), the bot decides, its answer fails to go out.
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            response = await http.post(
                f"/api/v1/channels/{channel['id']}/inbound",
                json={
                    "external_id": "m-1",
                    "contact": {"external_id": "c-1"},
                    "text": "Wat zijn de verzendkosten?",
                },
                headers={"Authorization": f"Bearer {channel['token']}"},
            )
            assert response.status_code == 202, response.text
            repeat = await http.post(
                f"/api/v1/channels/{channel['id']}/inbound",
                json={
                    "external_id": "m-1",
                    "contact": {"external_id": "c-1"},
                    "text": "Wat zijn de verzendkosten?",
                },
                headers={"Authorization": f"Bearer {channel['token']}"},
            )
            assert repeat.status_code in (200, 202), repeat.text
        after = await scrape(server.url)
        assert value(after, "onethread_messages_ingested_total", channel="api") == (
            value(before, "onethread_messages_ingested_total", channel="api") + 1
        )  # the repeat of m-1 is not a second message
        inbound_template = "/api/v1/channels/{account_id}/inbound"  # the route, not the id
        assert value(after, "onethread_http_requests_total", path=inbound_template) >= 2, [
            k for k in after if k[0] == "onethread_http_requests_total"
        ]
        assert not [labels for (_, labels) in after if any(channel["id"] in v for _, v in labels)]

        jobs_after = await eventually(
            lambda: scrape(jobs_url),
            lambda s: (
                value(s, "onethread_delivery_failures_total", channel="api", reason="exhausted")
                > value(jobs_before, "onethread_delivery_failures_total", channel="api", reason="exhausted")
            ),
        )
        assert (
            value(jobs_after, "onethread_bot_outcomes_total")
            == value(jobs_before, "onethread_bot_outcomes_total") + 1
        )
        for reason in ("temporary", "exhausted"):  # two attempts: one retried, the last given up
            assert value(jobs_after, "onethread_delivery_failures_total", channel="api", reason=reason) == (
                value(jobs_before, "onethread_delivery_failures_total", channel="api", reason=reason) + 1
            )
        assert value(jobs_after, "onethread_job_queue_depth", state="waiting") == 0


# ------------------------------------------------------------------------------------------------
# JSON logs with request ids, and the metrics token
# ------------------------------------------------------------------------------------------------
async def test_json_log_lines_carry_the_request_id_and_never_the_token(
    servers: ServerGroup, tmp_path: Path, sqlite_template: Path
) -> None:
    db = tmp_path / "json.db"
    await asyncio.to_thread(shutil.copy, sqlite_template, db)
    env = {
        "ONETHREAD_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(tmp_path / "var"),
        "ONETHREAD_LOG_FORMAT": "json",
        "ONETHREAD_METRICS_TOKEN": "metrics-secret-1",
    }
    server: ServerProcess = await servers.start(env, name="json")
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        refused = await http.get(
            "/api/v1/threads?token=tok-in-query-1", headers={"X-Request-ID": "ops-req-1"}
        )
        assert refused.status_code == 401
        assert refused.headers["x-request-id"] == "ops-req-1"
        unsafe = await http.get("/ready", headers={"X-Request-ID": "no spaces allowed"})
        assert unsafe.status_code == 200
        assert (
            unsafe.headers["x-request-id"] != "no spaces allowed"
            and len(unsafe.headers["x-request-id"]) == 32
        )
        # The metrics token, when set, is required.
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (
            await http.get("/metrics", headers={"Authorization": "Bearer metrics-secret-1"})
        ).status_code == 200
    with pytest.raises(InvalidStatus):
        await connect(
            f"{server.ws_url}/api/v1/events?token=tok-in-query-2",
            additional_headers={"X-Request-ID": "ops-req-2"},
            open_timeout=10,
        )
    server.stop()

    text = server.log_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines, text
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
    [access] = [line for line in lines if line["request_id"] == "ops-req-1"]
    assert access["logger"] == "app.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/v1/threads", 401)
    assert isinstance(access["duration_ms"], float)
    assert [line for line in lines if line["request_id"] == "ops-req-2"]  # the refused websocket
    for secret in ("tok-in-query-1", "tok-in-query-2", "metrics-secret-1"):
        assert secret not in text
    # Nothing but the marker line of the test harness is written outside the JSON format.
    assert [line for line in text.splitlines() if not line.startswith("{")] == [
        line for line in text.splitlines() if line.startswith("--- onethread serve")
    ]
