"""``WS /widget/v1/ws`` against real ``onethread serve`` processes, as the widget holds it.

- The visitor's socket gets our answers live, in the widget's shape, and never an internal note;
  a visitor who had not written yet gets the answer to their first message too.
- After a drop the widget resumes from ``last_event_id`` and gets everything it missed, once.
- In production (PostgreSQL + Redis) the visitor may be on one app process and the agent on
  another; the answer and the agent's "seen" still arrive.
- A forged token is closed with 4401; another visitor's answers never reach this socket.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.db.models import utcnow
from app.domain.inbox.reads import do_mark_read
from tests.conftest import RUN_ID, SECRET, truncate_postgres
from tests.helpers import PASSWORD
from tests.integration.test_console_live import Browser
from tests.integration.test_realtime_processes import direct_writer
from tests.integration.widget_client import Visitor, WidgetSite, add_site
from tests.processes import ServerGroup, ServerProcess, create_agent, live_servers, login

HEARTBEAT = 0.5


@pytest.fixture(autouse=True)
def _server_logs_on_failure() -> Iterator[None]:
    yield
    for server in live_servers():
        print(f"===== {server.name} ({server.url}) {server.log_path}\n{server.log_tail(40)}")


@dataclass
class Deployment:
    servers: list[ServerProcess]
    env: dict[str, str]
    site: WidgetSite
    agent_token: str


async def _deploy(group: ServerGroup, env: dict[str, str], names: list[str]) -> Deployment:
    async def provision() -> WidgetSite:
        async with direct_writer(env) as writer:
            return await add_site(writer)

    started = await asyncio.gather(
        *(group.start(env, name=name) for name in names),
        create_agent(env, "ada@example.com", PASSWORD, admin=True, name="Ada Agent"),
        provision(),
    )
    servers: list[ServerProcess] = list(started[: len(names)])
    token = await login(servers[0], "ada@example.com", PASSWORD)
    return Deployment(servers, env, started[-1], token)


def _env(tmp: Path) -> dict[str, str]:
    return {
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(tmp / "var"),
        "ONETHREAD_LOGIN_RATE_LIMIT": "10000",
        "ONETHREAD_WS_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "ONETHREAD_JOB_QUEUE": f"onethread:test:{RUN_ID}:{uuid.uuid4().hex[:6]}",
        "ONETHREAD_REDIS_PREFIX": f"onethread-test-{RUN_ID}-{uuid.uuid4().hex[:6]}",
    }


@pytest.fixture(scope="module", params=["embedded", "production"])
async def deployment(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    tmp = tmp_path_factory.mktemp(f"widget-socket-{request.param}")
    group = ServerGroup(tmp / "logs")
    if request.param == "embedded":
        db = tmp / "onethread.db"
        shutil.copy(sqlite_template, db)
        env = {**_env(tmp), "ONETHREAD_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
        names = ["widget-embedded"]
    else:
        pg_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("redis_url")
        await truncate_postgres(pg_url)
        env = {**_env(tmp), "ONETHREAD_DATABASE_URL": pg_url, "ONETHREAD_REDIS_URL": redis_url}
        names = ["widget-pg-a", "widget-pg-b"]
    try:
        yield await _deploy(group, env, names)
    finally:
        group.stop_all()


class Agent:
    def __init__(self, deployment: Deployment) -> None:
        self.http = httpx.AsyncClient(
            base_url=deployment.servers[0].url,
            headers={"Authorization": f"Bearer {deployment.agent_token}"},
            timeout=15,
        )

    async def reply(self, thread_id: int, text: str) -> dict[str, Any]:
        response = await self.http.post(f"/api/v1/threads/{thread_id}/messages", json={"text": text})
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    async def note(self, thread_id: int, text: str) -> None:
        response = await self.http.post(f"/api/v1/threads/{thread_id}/notes", json={"text": text})
        assert response.status_code == 201, response.text


class WidgetSocket:
    """The widget's socket: frames as JSON, pings skipped."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, server: ServerProcess, token: str, last_event_id: int | None = None) -> WidgetSocket:
        query = f"token={token}" + (f"&last_event_id={last_event_id}" if last_event_id is not None else "")
        return cls(await connect(f"{server.ws_url}/widget/v1/ws?{query}"))

    async def next(self, within: float = 10) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError
            frame = json.loads(await asyncio.wait_for(self.connection.recv(), left))
            if frame["type"] != "ping":
                return frame  # type: ignore[no-any-return]

    async def messages(self, count: int, within: float = 10) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + within
        while len(frames) < count:
            frame = await self.next(max(0.01, deadline - asyncio.get_running_loop().time()))
            if frame["type"].startswith("message."):
                frames.append(frame)
        return frames

    async def quiet(self, seconds: float = 1.0) -> list[dict[str, Any]]:
        """Frames (not pings) that arrive within ``seconds``: what should be nothing."""
        frames: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            while True:
                frames.append(await self.next(max(0.01, deadline - asyncio.get_running_loop().time())))
        except TimeoutError:
            return frames

    async def close(self) -> None:
        await self.connection.close()


async def _visitor(server: ServerProcess, site: WidgetSite) -> tuple[Visitor, httpx.AsyncClient]:
    http = httpx.AsyncClient(base_url=server.url, timeout=15)
    visitor = Visitor(http, site)
    await visitor.open(origin=None)
    return visitor, http


async def test_answers_arrive_live_without_notes_and_a_dropped_socket_resumes(deployment: Deployment) -> None:
    visitor_server = deployment.servers[-1]  # production: not the agent's process
    anna, http = await _visitor(visitor_server, deployment.site)
    agent = Agent(deployment)
    try:
        socket = await WidgetSocket.open(visitor_server, anna.token)
        ready = await socket.next()
        assert ready["type"] == "ready"
        # Her first message makes her thread; the socket that was open before it joins it.
        await anna.send("Do you ship to Belgium?")
        thread_id = int((await anna.open(origin=None)).json()["thread_id"])
        own = await socket.messages(1)
        assert own[0]["data"]["message"]["text"] == "Do you ship to Belgium?"

        await agent.note(thread_id, "internal: check the carrier")
        reply = await agent.reply(thread_id, "Yes, in 2 days.")
        [frame] = await socket.messages(1)
        assert frame["type"] == "message.created" and frame["data"]["message"]["id"] == reply["id"]
        shown = frame["data"]["message"]
        assert shown["text"] == "Yes, in 2 days." and shown["author"] == {
            "type": "agent",
            "name": "Ada Agent",
        }
        assert "meta" not in shown and "thread_id" not in shown  # the widget's shape, not the agents'
        later = [f for f in await socket.quiet(1.5) if f["type"].startswith("message.")]
        assert all("internal" not in json.dumps(f) for f in later)
        last_seen = max(f["id"] for f in [frame, *later])

        # The network drops; two answers come meanwhile; the widget reconnects from its cursor.
        await socket.close()
        first = await agent.reply(thread_id, "It left the warehouse.")
        second = await agent.reply(thread_id, "Track it with code 123.")
        socket = await WidgetSocket.open(visitor_server, anna.token, last_event_id=last_seen)
        replayed: list[dict[str, Any]] = []
        while True:
            frame = await socket.next()
            if frame["type"] == "ready":
                break
            replayed.append(frame)
        created = [f["data"]["message"]["id"] for f in replayed if f["type"] == "message.created"]
        assert created == [first["id"], second["id"]]
        ids = [f["id"] for f in replayed]
        assert ids == sorted(set(ids))  # in order, none twice
        more = [f for f in await socket.quiet(1.5) if f["type"] == "message.created"]
        assert more == []  # nothing again live
        await socket.close()
    finally:
        await http.aclose()
        await agent.http.aclose()


async def test_another_visitors_answers_never_reach_this_socket(deployment: Deployment) -> None:
    anna, http_a = await _visitor(deployment.servers[0], deployment.site)
    bob, http_b = await _visitor(deployment.servers[-1], deployment.site)
    agent = Agent(deployment)
    try:
        await anna.send("Anna asks")
        await bob.send("Bob asks")
        anna_thread = int((await anna.open(origin=None)).json()["thread_id"])
        socket = await WidgetSocket.open(deployment.servers[-1], bob.token)
        assert (await socket.next())["type"] == "ready"
        await agent.reply(anna_thread, "Only for Anna")
        frames = await socket.quiet(1.5)
        assert all("Only for Anna" not in json.dumps(f) for f in frames)
        await socket.close()
    finally:
        for client in (http_a, http_b, agent.http):
            await client.aclose()


async def test_a_forged_token_is_closed_with_4401(deployment: Deployment) -> None:
    socket = await WidgetSocket.open(deployment.servers[0], "not-a-token")
    with pytest.raises(ConnectionClosed) as closed:
        await socket.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_the_visitor_sees_when_an_agent_on_another_process_reads_their_message(
    deployment: Deployment,
) -> None:
    if "ONETHREAD_REDIS_URL" not in deployment.env:
        pytest.skip("one process: the browser test has the console page mark the thread read")
    anna, http = await _visitor(deployment.servers[-1], deployment.site)
    try:
        await anna.send("Anyone there?")
        thread_id = int((await anna.open(origin=None)).json()["thread_id"])
        socket = await WidgetSocket.open(deployment.servers[-1], anna.token)
        assert (await socket.next())["type"] == "ready"
        assert (await anna.messages())[-1]["status"] == "sent"
        # The agent's console (elsewhere) marks the thread read; Redis rings the widget's process.
        async with direct_writer(deployment.env) as writer:
            await do_mark_read(writer, agent_id=1, thread_id=thread_id, read_at=utcnow())
        assert await socket.next() == {"type": "seen"}
        assert (await anna.messages())[-1]["status"] == "seen"
        await socket.close()
    finally:
        await http.aclose()


async def test_agent_and_customer_see_each_other_type_and_the_agent_sees_the_customer_is_here(
    deployment: Deployment,
) -> None:
    anna, http = await _visitor(deployment.servers[-1], deployment.site)
    ada = await Browser(deployment.servers[0]).login("ada@example.com")
    try:
        await anna.send("Hello?", client_id="presence-0001")
        thread_id = int((await anna.open(origin=None)).json()["thread_id"])
        page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
        await page.ready()
        assert "is on the site" not in " ".join(page.received)  # her widget is closed

        widget = await WidgetSocket.open(deployment.servers[-1], anna.token)
        assert (await widget.next())["type"] == "ready"
        here = await page.until(lambda t: "is on the site" in t)
        assert "The customer is on the site (web chat)" in here

        await widget.connection.send('{"type": "typing"}')
        assert "The customer is typing…" in await page.until(lambda t: "customer is typing" in t)

        # Typing an internal note is for agents only.
        await page.connection.send('{"type": "typing", "note": true}')
        assert [f for f in await widget.quiet(1.5) if f["type"] == "typing"] == []
        await page.connection.send('{"type": "typing"}')
        assert await widget.next() == {"type": "typing", "name": "Ada Agent"}

        await widget.close()
        gone = await page.until(lambda t: 'id="presence"' in t and "customer" not in t)
        assert "presence--on" not in gone
        await page.close()
    finally:
        await http.aclose()
        await ada.aclose()
