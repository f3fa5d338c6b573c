"""Realtime with real processes: ``onethread serve`` instances, real sockets, PostgreSQL + Redis.

What a user of ``WS /api/v1/events`` must be able to count on (DESIGN.md "Real time", API.md
"Events"), checked the way they would notice it:

- an event written through one app process reaches a socket held by another (production shape);
- a client that reconnects with its cursor gets exactly what it missed, in order, once, and then
  the live stream carries on;
- many writers on several processes at once still give every client every event once, in order;
- a cursor the log cannot serve gets ``resync``; heartbeats keep idle sockets talking;
- no token, no socket; agents never see admin-only events;
- another deployment publishing on the same Redis never shows up in this one's inbox.

Servers are started once per module (starting one costs seconds) and tests take their cursors
from the ``ready`` frame, so they do not depend on what earlier tests wrote.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url
from websockets.exceptions import InvalidStatus

from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.realtime.publisher import channel_name, log_namespace
from app.domain.realtime.writer import Writer
from app.runtime import standalone_writer
from app.settings import Settings
from tests.conftest import RUN_ID, SECRET, truncate_postgres
from tests.helpers import PASSWORD
from tests.processes import (
    EventSocket,
    ServerGroup,
    ServerProcess,
    create_agent,
    live_servers,
    login,
)

HEARTBEAT = 0.4


@dataclass
class Deployment:
    """Running servers on one database, with an admin, an agent and a custom channel account."""

    servers: list[ServerProcess]
    env: dict[str, str]
    admin_token: str
    agent_token: str
    channel: dict[str, Any]
    database_url: str


def _common_env(tmp: Path) -> dict[str, str]:
    return {
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(tmp / "var"),
        "ONETHREAD_LOGIN_RATE_LIMIT": "10000",
        "ONETHREAD_WS_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "ONETHREAD_JOB_QUEUE": f"onethread:test:{RUN_ID}:{uuid.uuid4().hex[:6]}",
    }


@asynccontextmanager
async def direct_writer(env: dict[str, str]) -> AsyncIterator[Writer]:
    """The writer the CLI and the worker use (Redis publisher in production), in the test process.

    Same code path as ``onethread channel add`` and friends, without a process's start-up cost.
    """
    settings = Settings(
        database_url=env["ONETHREAD_DATABASE_URL"],
        redis_url=env.get("ONETHREAD_REDIS_URL", ""),
        secret_key=SECRET,
    )
    async with standalone_writer(settings) as writer:
        yield writer


async def add_api_channel(env: dict[str, str], name: str) -> dict[str, Any]:
    """A custom channel account, as ``onethread channel add api --json`` prints it (id, token)."""
    async with direct_writer(env) as writer:
        created = await do_add_channel_account(writer, channel="api", name=name, config={})
    return {"id": str(created.account.id), "token": created.secrets["inbound_token"]}


async def _deploy(group: ServerGroup, env: dict[str, str], names: list[str], database_url: str) -> Deployment:
    """Start the servers; meanwhile create the admin with the CLI, and an agent and a channel."""

    async def provision() -> dict[str, Any]:
        async with direct_writer(env) as writer:
            await do_create_agent(
                writer, email="agent@example.com", name="Agnes Agent", password=PASSWORD, role="agent"
            )
        return await add_api_channel(env, "Order system")

    started = await asyncio.gather(
        *(group.start(env, name=name) for name in names),
        create_agent(env, "admin@example.com", PASSWORD, admin=True),
        provision(),
    )
    servers: list[ServerProcess] = list(started[: len(names)])
    channel: dict[str, Any] = started[-1]
    admin_token, agent_token = await asyncio.gather(
        login(servers[0], "admin@example.com", PASSWORD),
        login(servers[-1], "agent@example.com", PASSWORD),
    )
    return Deployment(servers, env, admin_token, agent_token, channel, database_url)


@pytest.fixture(scope="module")
async def production(
    pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    """Two app processes on one PostgreSQL database and one Redis, as behind a load balancer."""
    await truncate_postgres(pg_url)
    tmp = tmp_path_factory.mktemp("realtime-production")
    env = {**_common_env(tmp), "ONETHREAD_DATABASE_URL": pg_url, "ONETHREAD_REDIS_URL": redis_url}
    group = ServerGroup(tmp / "logs")
    try:
        yield await _deploy(group, env, ["pg-a", "pg-b"], pg_url)
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
async def embedded(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    """One app process on a SQLite file with in-process channels: no PostgreSQL, no Redis."""
    tmp = tmp_path_factory.mktemp("realtime-embedded")
    db = tmp / "onethread.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    env = {**_common_env(tmp), "ONETHREAD_DATABASE_URL": url}
    group = ServerGroup(tmp / "logs")
    try:
        yield await _deploy(group, env, ["embedded"], url)
    finally:
        group.stop_all()


@pytest.fixture(autouse=True)
def _server_logs_on_failure() -> Iterator[None]:
    """Print the servers' log tails after each test; pytest shows them only when the test failed."""
    yield
    for server in live_servers():
        print(f"===== {server.name} ({server.url}) {server.log_path}\n{server.log_tail(40)}")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=20)) as client:
        yield client


async def post_inbound(
    http: httpx.AsyncClient,
    server: ServerProcess,
    channel: dict[str, Any],
    text: str,
    *,
    contact_id: str = "c-1",
) -> dict[str, Any]:
    """A customer's message through the custom channel's inbound endpoint of ``server``."""
    response = await http.post(
        f"{server.url}/api/v1/channels/{channel['id']}/inbound",
        json={"external_id": uuid.uuid4().hex, "contact": {"external_id": contact_id}, "text": text},
        headers={"Authorization": f"Bearer {channel['token']}"},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def texts_of(frames: list[dict[str, Any]]) -> list[str]:
    return [f["data"]["message"]["text"] for f in frames if f.get("type") == "message.created"]


def assert_in_order_once(frames: list[dict[str, Any]], after: int) -> list[int]:
    """Every event frame has an id past ``after``; ids strictly increase (so none came twice)."""
    ids = [f["id"] for f in frames if "id" in f]
    assert all(i > after for i in ids), (after, ids)
    assert all(a < b for a, b in itertools.pairwise(ids)), ids
    return ids


# --- the key proof: one process writes, another one's socket hears ---------------------------------


async def test_message_posted_to_one_server_reaches_a_socket_on_the_other(
    production: Deployment, http: httpx.AsyncClient
) -> None:
    a, b = production.servers
    async with await EventSocket.open(b, production.admin_token) as socket:
        _, ready = await socket.until_ready()
        accepted = await post_inbound(
            http, a, production.channel, "Where is my parcel?", contact_id="two-process"
        )
        frames = await socket.events(1, type_="message.created", within=10)
    created = frames[-1]
    assert created["data"]["message"]["text"] == "Where is my parcel?"
    assert created["data"]["message"]["id"] == accepted["message_id"]
    assert created["thread_id"] == accepted["thread_id"]
    assert created["id"] > ready["last_event_id"]
    assert "audience" not in created


# --- resuming from a cursor ------------------------------------------------------------------------


@pytest.fixture(params=["embedded", "production"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    return request.getfixturevalue(str(request.param))  # type: ignore[no-any-return]


async def test_reconnect_gets_exactly_the_missed_events_then_live_ones(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    # In production the client comes back to another process than the one it left, and the
    # messages it missed were written through both: any process can serve any cursor.
    first, second = deployment.servers[0], deployment.servers[-1]
    async with await EventSocket.open(first, deployment.agent_token) as socket:
        _, ready = await socket.until_ready()
    cursor = ready["last_event_id"]

    missed = [f"missed message {i}" for i in range(50)]
    for i, text in enumerate(missed):
        server = deployment.servers[i % len(deployment.servers)]
        await post_inbound(http, server, deployment.channel, text, contact_id=f"reconnect-{i % 5}")

    async with await EventSocket.open(second, deployment.agent_token, last_event_id=cursor) as socket:
        replay, ready = await socket.until_ready()
        assert texts_of(replay) == missed
        ids = assert_in_order_once(replay, after=cursor)
        assert ready["last_event_id"] == ids[-1]

        await post_inbound(http, first, deployment.channel, "and one more", contact_id="reconnect-0")
        live = await socket.events(1, type_="message.created")
        live += await socket.quiet(0.5)
    assert texts_of(live) == ["and one more"]
    assert_in_order_once(live, after=ready["last_event_id"])


async def test_reconnect_with_the_last_received_id_repeats_nothing(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    server = deployment.servers[0]
    async with await EventSocket.open(server, deployment.agent_token) as socket:
        await socket.until_ready()
        await post_inbound(http, server, deployment.channel, "seen live", contact_id="cursor-1")
        seen = await socket.events(1, type_="message.created")
    last_seen = seen[-1]["id"]
    await post_inbound(http, server, deployment.channel, "missed while away", contact_id="cursor-1")
    async with await EventSocket.open(server, deployment.agent_token, last_event_id=last_seen) as socket:
        replay, _ = await socket.until_ready()
    assert texts_of(replay) == ["missed while away"]
    assert_in_order_once(replay, after=last_seen)


# --- many writers at once --------------------------------------------------------------------------


async def test_concurrent_writes_on_two_servers_reach_every_client_once_in_order(
    production: Deployment, http: httpx.AsyncClient
) -> None:
    a, b = production.servers
    sockets = [
        await EventSocket.open(a, production.admin_token),
        await EventSocket.open(b, production.admin_token),
    ]
    try:
        cursors = [(await socket.until_ready())[1]["last_event_id"] for socket in sockets]
        texts = [f"concurrent {i}" for i in range(100)]
        accepted = await asyncio.gather(
            *(
                post_inbound(http, (a, b)[i % 2], production.channel, text, contact_id=f"busy-{i % 10}")
                for i, text in enumerate(texts)
            )
        )
        received = [await socket.events(100, type_="message.created", within=30) for socket in sockets]
        for socket, frames in zip(sockets, received, strict=True):
            frames += await socket.quiet(0.5)
    finally:
        for socket in sockets:
            await socket.close()

    logged = await event_ids(production.database_url, after=min(cursors))
    for cursor, frames in zip(cursors, received, strict=True):
        ids = assert_in_order_once(frames, after=cursor)
        # An admin sees everything: exactly the log's rows past the cursor, none missing.
        assert ids == [i for i in logged if i > cursor]
        assert sorted(texts_of(frames)) == sorted(texts)
        message_ids = [f["data"]["message"]["id"] for f in frames if f["type"] == "message.created"]
        assert sorted(message_ids) == sorted(r["message_id"] for r in accepted)


async def event_ids(database_url: str, *, after: int) -> list[int]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT id FROM events WHERE id > $1 ORDER BY id", after)
    finally:
        await conn.close()
    return [int(row["id"]) for row in rows]


# --- a shared Redis ----------------------------------------------------------------------------------


async def test_frames_from_another_deployment_on_the_same_redis_never_reach_the_inbox(
    production: Deployment, http: httpx.AsyncClient, redis_url: str
) -> None:
    server = production.servers[0]
    ours = log_namespace(make_url(production.database_url))
    async with await EventSocket.open(server, production.agent_token) as socket:
        _, ready = await socket.until_ready()
        cursor = ready["last_event_id"]

        def intruder(event_id: int, text: str) -> str:
            message = {"id": 1, "thread_id": 1, "text": text}
            return json.dumps(
                {"id": event_id, "type": "message.created", "thread_id": 1, "data": {"message": message}}
            )

        redis = aioredis.Redis.from_url(redis_url)
        try:
            # Another deployment, on another database, sharing this Redis: its ids mean nothing here.
            await redis.publish(channel_name("agents", "someone_elses_db"), intruder(cursor + 1, "theirs"))
            await redis.publish(channel_name("agents"), intruder(cursor + 1, "unnamespaced"))
            # Even on our channel, a frame our log does not hold (or garbage) is not passed on,
            # and does not move the cursor past events still to come.
            await redis.publish(channel_name("agents", ours), intruder(cursor + 1000, "far ahead"))
            await redis.publish(channel_name("agents", ours), b"\x00 not json")
        finally:
            await redis.aclose()

        await post_inbound(http, server, production.channel, "the real one", contact_id="shared-redis")
        frames = await socket.events(1, type_="message.created")
        frames += await socket.quiet(0.5)
    assert texts_of(frames) == ["the real one"]
    assert_in_order_once(frames, after=cursor)
    assert frames[0]["id"] == cursor + 1


# --- who may listen, and to what -------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "ot_not-a-real-token", "channel-token"])
async def test_socket_without_an_agent_token_is_refused(production: Deployment, token: str | None) -> None:
    if token == "channel-token":  # a valid token, but a channel's, not an agent's
        token = production.channel["token"]
    with pytest.raises(InvalidStatus) as refused:
        await EventSocket.open(production.servers[0], token)
    assert refused.value.response.status_code == 403


async def test_bearer_header_is_accepted_too(production: Deployment) -> None:
    from websockets.asyncio.client import connect

    url = f"{production.servers[0].ws_url}/api/v1/events"
    headers = {"Authorization": f"Bearer {production.agent_token}"}
    async with connect(url, additional_headers=headers, open_timeout=10) as connection:
        _, ready = await EventSocket(connection).until_ready()
    assert ready["type"] == "ready"


async def test_tokens_given_in_the_url_stay_out_of_server_logs(production: Deployment) -> None:
    server = production.servers[0]
    async with await EventSocket.open(server, production.agent_token) as socket:
        await socket.until_ready()
    await asyncio.sleep(0.2)  # the log line is written by the server process
    assert production.agent_token not in server.log_text()


async def test_agents_do_not_see_admin_events_admins_do(
    production: Deployment, http: httpx.AsyncClient
) -> None:
    a, b = production.servers
    async with (
        await EventSocket.open(a, production.admin_token) as admin,
        await EventSocket.open(b, production.agent_token) as agent,
    ):
        _, ready = await agent.until_ready()
        await admin.until_ready()
        cursor = ready["last_event_id"]

        # Connecting a channel is admin business; the CLI's writer publishes it through Redis.
        added = await add_api_channel(production.env, "Audit trail")
        admin_frames = await admin.events(1, type_="channel_account.created")
        assert admin_frames[-1]["data"]["account_id"] == added["id"]

        await post_inbound(http, a, added, "hello from the new channel", contact_id="audience-1")
        admin_frames += await admin.events(1, type_="message.created")
        agent_frames = await agent.events(1, type_="message.created")
        agent_frames += await agent.quiet(0.3)

    assert texts_of(agent_frames) == ["hello from the new channel"]
    assert texts_of(admin_frames) == ["hello from the new channel"]
    assert not [f for f in agent_frames if f["type"] == "channel_account.created"]

    # The same holds for what a reconnecting agent is replayed from the log.
    async with await EventSocket.open(a, production.agent_token, last_event_id=cursor) as agent:
        replay, _ = await agent.until_ready()
    async with await EventSocket.open(a, production.admin_token, last_event_id=cursor) as admin:
        admin_replay, _ = await admin.until_ready()
    assert [f["type"] for f in replay] == [f["type"] for f in agent_frames]
    assert "channel_account.created" in [f["type"] for f in admin_replay]
    assert texts_of(replay) == texts_of(admin_replay) == ["hello from the new channel"]


# --- heartbeats --------------------------------------------------------------------------------------


async def test_idle_socket_gets_heartbeats(deployment: Deployment) -> None:
    async with await EventSocket.open(deployment.servers[0], deployment.agent_token) as socket:
        await socket.until_ready()
        frames = [await socket.next_frame(HEARTBEAT * 3, skip_pings=False) for _ in range(3)]
    assert frames == [{"type": "ping"}] * 3


# --- cursors the log cannot serve -------------------------------------------------------------------


async def test_cursor_past_the_end_of_the_log_gets_resync(
    deployment: Deployment, http: httpx.AsyncClient
) -> None:
    server = deployment.servers[-1]
    async with await EventSocket.open(server, deployment.admin_token) as socket:
        _, ready = await socket.until_ready()
    head = ready["last_event_id"]

    async with await EventSocket.open(server, deployment.admin_token, last_event_id=head) as socket:
        before, _ = await socket.until_ready()
    assert before == []  # up to date: nothing to replay, no resync

    async with await EventSocket.open(server, deployment.admin_token, last_event_id=head + 1) as socket:
        before, ready = await socket.until_ready()
        assert [f["type"] for f in before] == ["resync"]
        # After a resync the socket is live from the head of the log.
        await post_inbound(http, server, deployment.channel, "after resync", contact_id="resync-1")
        live = await socket.events(1, type_="message.created")
    assert texts_of(live) == ["after resync"]
    assert_in_order_once(live, after=ready["last_event_id"])


async def test_cursor_older_than_retention_gets_resync(
    production: Deployment, http: httpx.AsyncClient
) -> None:
    server = production.servers[0]
    async with await EventSocket.open(server, production.admin_token) as socket:
        _, ready = await socket.until_ready()
        start = ready["last_event_id"]
        for i in range(3):
            await post_inbound(http, server, production.channel, f"old {i}", contact_id="retention-1")
        frames = await socket.events(3, type_="message.created")
    ids = assert_in_order_once(frames, after=start)
    newest = ids[-1]
    # Retention removed everything before the newest event.
    conn = await asyncpg.connect(production.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DELETE FROM events WHERE id < $1", newest)
    finally:
        await conn.close()

    async with await EventSocket.open(server, production.admin_token, last_event_id=newest - 1) as socket:
        replay, _ = await socket.until_ready()
    assert [f["id"] for f in replay] == [newest]  # the oldest kept event follows the cursor: no loss

    async with await EventSocket.open(server, production.admin_token, last_event_id=start) as socket:
        before, ready = await socket.until_ready()
    assert [f["type"] for f in before] == ["resync"]
    assert ready["last_event_id"] == newest
