"""Faults on the production shape: parts of the deployment fail under load, users notice nothing
they would mind (DESIGN.md "Failure behaviour").

The shape (``tests.services``): two ``onethread serve`` behind nginx, one ``onethread worker``, a
PostgreSQL and a Redis of this module's own (they are stopped and killed here, the shared ones
never are). Each test drives a steady stream of customer messages through nginx into the custom
channel's inbound endpoint, retrying like a platform does (a 503 or a dropped connection means
"try again"), while an agent's live socket, reconnecting with its cursor whenever it drops, counts
what it hears. It breaks one part mid-stream, brings it back, and ends with a count:

    sent N, stored N, delivered N, duplicates 0

- sent: distinct messages the load sent; stored: of those, rows in the database (every one that
  got a 2xx must be there, and with the platform's retries, all of them end up there);
- delivered: distinct messages the agent's socket received (``message.created``), or for outbound
  the messages the fake platform received; duplicates: any of those received twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.runtime import standalone_writer
from app.settings import Settings
from tests.conftest import RUN_ID, SECRET
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import PASSWORD
from tests.services import ProductionShape

RATE = 60
"""Customer messages a second during each fault."""
CUSTOMERS = 12
"""The load's messages come from this many customers."""


@dataclass
class Deployment:
    shape: ProductionShape
    agent_token: str
    channel_id: str
    channel_token: str


@pytest.fixture(scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    tmp = tmp_path_factory.mktemp("faults")
    env = {
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_LOGIN_RATE_LIMIT": "10000",
        "ONETHREAD_WS_HEARTBEAT_SECONDS": "1",
        "ONETHREAD_JOB_QUEUE": f"onethread:faults:{RUN_ID}",
        "ONETHREAD_DELIVERY_BACKOFF_BASE": "0.2",
        "ONETHREAD_DELIVERY_BACKOFF_CAP": "1",
        "ONETHREAD_DELIVERY_LEASE_SECONDS": "2",
    }
    shape = await ProductionShape.start(tmp, env)
    try:
        settings = Settings(database_url=shape.postgres.url, redis_url=shape.redis.url, secret_key=SECRET)
        async with standalone_writer(settings) as writer:
            await do_create_agent(
                writer, email="agent@example.com", name="Agnes Agent", password=PASSWORD, role="agent"
            )
            created = await do_add_channel_account(writer, channel="api", name="Order system", config={})
        async with httpx.AsyncClient(base_url=shape.url, timeout=10) as http:
            response = await http.post(
                "/api/v1/auth/token", json={"email": "agent@example.com", "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
        yield Deployment(
            shape, response.json()["token"], str(created.account.id), created.secrets["inbound_token"]
        )
    finally:
        shape.stop()


@pytest.fixture
async def live(deployment: Deployment) -> AsyncIterator[Deployment]:
    """The deployment with every part running again (whatever the previous test broke)."""
    await deployment.shape.heal()
    yield deployment


@pytest.fixture(autouse=True)
def _logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """The processes' log tails, printed after each test (pytest shows them when it failed)."""
    yield
    if "deployment" in request.fixturenames:
        print(request.getfixturevalue("deployment").shape.logs())


# --- the customers' side: a steady stream, retried like a platform retries -----------------------


@dataclass
class Load:
    """What the stream sent and what it was answered."""

    tag: str
    sent: list[str] = field(default_factory=list)
    """External ids, one per message."""
    acknowledged: set[str] = field(default_factory=set)
    """Those answered 2xx (the message is stored, says the answer)."""
    statuses: Counter[int | str] = field(default_factory=Counter)
    """Every answer: HTTP status, or the transport error's name."""
    retry_after: set[str] = field(default_factory=set)
    """``Retry-After`` values of the 503 answers."""

    def text(self, external_id: str) -> str:
        return f"{self.tag} message {external_id.rsplit('-', 1)[1]}"


async def stream_messages(deployment: Deployment, load: Load, count: int, rate: int = RATE) -> None:
    """POST ``count`` messages through nginx at ``rate`` a second; each is retried until it gets a
    2xx (a 503 or a lost connection: after a short pause, as Telegram or a shop's system would)."""
    headers = {"Authorization": f"Bearer {deployment.channel_token}"}
    url = f"{deployment.shape.url}/api/v1/channels/{deployment.channel_id}/inbound"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)

    async def one(http: httpx.AsyncClient, number: int) -> None:
        external_id = f"{load.tag}-{number}"
        body = {
            "external_id": external_id,
            "contact": {"external_id": f"{load.tag}-customer-{number % CUSTOMERS}"},
            "text": load.text(external_id),
        }
        for _ in range(200):
            try:
                response = await http.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:
                load.statuses[type(exc).__name__] += 1
            else:
                load.statuses[response.status_code] += 1
                if response.is_success:
                    load.acknowledged.add(external_id)
                    return
                if response.status_code == 503:
                    load.retry_after.add(response.headers.get("retry-after", ""))
                elif response.status_code not in (502, 504):
                    return  # an answer a platform would not retry: counted, and the test fails on it
            await asyncio.sleep(0.25)

    async with httpx.AsyncClient(timeout=15, limits=limits) as http:
        # Each customer's first message, one at a time: the faults are the subject here, not
        # several first messages of one new customer racing to create them (see the report).
        for number in range(CUSTOMERS):
            load.sent.append(f"{load.tag}-{number}")
            await one(http, number)
        tasks = []
        start = time.monotonic()
        for number in range(CUSTOMERS, count):
            load.sent.append(f"{load.tag}-{number}")
            tasks.append(asyncio.create_task(one(http, number)))
            await asyncio.sleep(max(0.0, start + (number - CUSTOMERS + 1) / rate - time.monotonic()))
        await asyncio.gather(*tasks)


async def stored_external_ids(deployment: Deployment, tag: str) -> Counter[str]:
    """How many rows each of the load's messages has in the database."""
    connection = await asyncpg.connect(deployment.shape.postgres.url.replace("+asyncpg", ""))
    try:
        rows = await connection.fetch(
            "SELECT external_id FROM messages WHERE direction = 'in' AND external_id LIKE $1", f"{tag}-%"
        )
    finally:
        await connection.close()
    return Counter(row["external_id"] for row in rows)


# --- the agent's side: a live socket through nginx that reconnects with its cursor --------------


@dataclass
class LiveClient:
    """An agent's ``WS /api/v1/events`` through nginx, as the console keeps it: on any close it
    reconnects (after 0.2 s) with ``last_event_id`` = the last event it got."""

    deployment: Deployment
    last_event_id: int | None = None
    texts: Counter[str] = field(default_factory=Counter)
    ids: list[int] = field(default_factory=list)
    connections: int = 0
    resyncs: int = 0
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _heard: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 20)

    async def _run(self) -> None:
        while True:
            query = f"token={self.deployment.agent_token}"
            if self.last_event_id is not None:
                query += f"&last_event_id={self.last_event_id}"
            try:
                async with connect(
                    f"{self.deployment.shape.ws_url}/api/v1/events?{query}", open_timeout=5
                ) as ws:
                    self.connections += 1
                    async for raw in ws:
                        self._on(json.loads(raw))
            except (OSError, TimeoutError, WebSocketException):
                pass
            await asyncio.sleep(0.2)

    def _on(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind in ("ready", "resync"):
            self.resyncs += kind == "resync"
            self.last_event_id = frame["last_event_id"]
            self._ready.set()
            return
        if not isinstance(frame.get("id"), int):
            return  # ping, presence
        self.ids.append(frame["id"])
        self.last_event_id = frame["id"]
        if kind == "message.created":
            self.texts[frame["data"]["message"]["text"]] += 1
            self._heard.set()

    async def wait_for(self, texts: list[str], within: float = 30) -> None:
        """Until every text was heard (or ``within`` seconds: the count line then shows what is missing)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while any(text not in self.texts for text in texts):
                    self._heard.clear()
                    await self._heard.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@contextlib.asynccontextmanager
async def agent_socket(deployment: Deployment) -> AsyncIterator[LiveClient]:
    client = LiveClient(deployment)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def count_line(deployment: Deployment, load: Load, client: LiveClient) -> tuple[int, int, int, int]:
    """Wait for the socket to hear every message, then print and return the count."""
    texts = [load.text(external_id) for external_id in load.sent]
    await client.wait_for(texts)
    rows = await stored_external_ids(deployment, load.tag)
    stored = sum(1 for external_id in load.sent if rows[external_id] >= 1)
    delivered = sum(1 for text in texts if client.texts[text] >= 1)
    duplicates = sum(count - 1 for count in rows.values()) + sum(
        client.texts[text] - 1 for text in texts if client.texts[text] > 1
    )
    print(
        f"sent {len(load.sent)}, stored {stored}, delivered {delivered}, duplicates {duplicates} "
        f"(answers {dict(load.statuses)}, socket connections {client.connections})"
    )
    return len(load.sent), stored, delivered, duplicates


def assert_event_ids_in_order_once(client: LiveClient) -> None:
    assert all(a < b for a, b in itertools.pairwise(client.ids)), "event ids repeated or out of order"


def every_acknowledged_is_stored(load: Load, rows: Counter[str]) -> None:
    missing = sorted(load.acknowledged - {external_id for external_id, n in rows.items() if n})
    assert not missing, f"answered 2xx but not stored: {missing[:10]}"


# --- the tests -----------------------------------------------------------------------------------


async def test_the_shape_serves_through_nginx(live: Deployment) -> None:
    """Sanity: nginx spreads requests over both apps; a message reaches the agent's socket."""
    load = Load(f"smoke{uuid.uuid4().hex[:4]}")
    async with agent_socket(live) as client:
        await stream_messages(live, load, 20)
        sent, stored, delivered, duplicates = await count_line(live, load, client)
    assert (sent, stored, delivered, duplicates) == (20, 20, 20, 0)
    assert set(load.statuses) == {202}
    assert all("POST /api/v1/channels" in server.log_text() for server in live.shape.servers)


async def test_an_app_process_killed_mid_load(live: Deployment) -> None:
    load = Load(f"kill{uuid.uuid4().hex[:4]}")
    victim = live.shape.servers[0]
    async with agent_socket(live) as client:
        stream = asyncio.create_task(stream_messages(live, load, RATE * 6))
        await asyncio.sleep(2)
        victim.kill()
        await stream
        sent, stored, delivered, duplicates = await count_line(live, load, client)

    assert (stored, delivered, duplicates) == (sent, sent, 0)
    # nginx passed every request the dead process had taken (or refused) to the other one: no
    # answer but 202 (a client-side keep-alive race may still cost a retry, as anywhere).
    assert {status for status in load.statuses if isinstance(status, int)} == {202}, load.statuses
    assert client.connections >= 1
    assert_event_ids_in_order_once(client)
    assert not victim.running


async def test_redis_stopped_mid_load_and_restarted(live: Deployment) -> None:
    load = Load(f"redis{uuid.uuid4().hex[:4]}")
    async with agent_socket(live) as client:
        stream = asyncio.create_task(stream_messages(live, load, RATE * 7))
        await asyncio.sleep(2)
        live.shape.redis.stop()
        await asyncio.sleep(2.5)
        await live.shape.redis.start()  # empty: no subscriptions, no job stream, no locks
        await stream
        sent, stored, delivered, duplicates = await count_line(live, load, client)
        rows = await stored_external_ids(live, load.tag)

    every_acknowledged_is_stored(load, rows)
    assert (stored, delivered, duplicates) == (sent, sent, 0)
    # The database is the record: a message is answered 2xx once stored, whatever Redis does;
    # a refusal is a 503 the platform retries, never a 500.
    assert set(load.statuses) <= {202, 503}, load.statuses
    assert_event_ids_in_order_once(client)


async def test_postgres_stopped_then_started(live: Deployment) -> None:
    load = Load(f"pg{uuid.uuid4().hex[:4]}")
    postgres = live.shape.postgres
    readiness: list[tuple[int, dict[str, Any]]] = []
    async with agent_socket(live) as client, httpx.AsyncClient(base_url=live.shape.url, timeout=10) as http:
        stream = asyncio.create_task(stream_messages(live, load, RATE * 7))
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres.stop)
        down = await http.get("/ready")
        readiness.append((down.status_code, down.json()))
        threads = await http.get("/api/v1/threads", headers={"Authorization": f"Bearer {live.agent_token}"})
        await asyncio.sleep(2)
        await postgres.start()
        await stream
        sent, stored, delivered, duplicates = await count_line(live, load, client)
        rows = await stored_external_ids(live, load.tag)
        up = await http.get("/ready")
        readiness.append((up.status_code, up.json()))

    every_acknowledged_is_stored(load, rows)
    assert (stored, delivered, duplicates) == (sent, sent, 0)
    # While the database was down: 503 with Retry-After, never a 500, never a hang (the client's
    # 15 s timeout would show as ReadTimeout); afterwards the same processes serve again.
    assert 503 in load.statuses and set(load.statuses) <= {202, 503}, load.statuses
    assert load.retry_after == {"5"}
    assert threads.status_code == 503, threads.text
    status, body = readiness[0]
    assert status == 503 and body["checks"]["redis"] == "ok", body
    assert body["checks"]["database"] != "ok" and "database" in body["detail"], body
    assert readiness[1] == (200, {"status": "ok", "checks": {"database": "ok", "redis": "ok"}})
    assert all(server.running for server in live.shape.servers)
    assert_event_ids_in_order_once(client)


TELEGRAM_TOKEN = "7000042:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TELEGRAM_SECRET = "tg-faults-secret-0123456789"


async def final_statuses(deployment: Deployment, ids: list[int], within: float = 60) -> list[asyncpg.Record]:
    """The replies' rows once none is queued any more."""
    connection = await asyncpg.connect(deployment.shape.postgres.url.replace("+asyncpg", ""))
    try:
        deadline = time.monotonic() + within
        while True:
            rows = await connection.fetch(
                "SELECT id, delivery_status, delivery_error FROM messages WHERE id = ANY($1::int[])", ids
            )
            if all(row["delivery_status"] != "queued" for row in rows) or time.monotonic() > deadline:
                return list(rows)
            await asyncio.sleep(0.2)
    finally:
        await connection.close()


async def test_worker_killed_while_delivering(live: Deployment) -> None:
    tag = uuid.uuid4().hex[:4]
    shape = live.shape
    assert shape.worker is not None
    agent = {"Authorization": f"Bearer {live.agent_token}"}
    async with TelegramBotAPI() as telegram, httpx.AsyncClient(base_url=shape.url, timeout=15) as http:
        settings = Settings(database_url=shape.postgres.url, redis_url=shape.redis.url, secret_key=SECRET)
        async with standalone_writer(settings) as writer:
            account = await do_add_channel_account(
                writer,
                channel="telegram",
                name=f"Shop bot {tag}",
                config={"api_url": telegram.url},
                secrets={"bot_token": TELEGRAM_TOKEN, "webhook_secret": TELEGRAM_SECRET},
            )
        threads = []
        for number, customer in enumerate(range(4)):
            chat = 880_000_000 + customer
            update = {
                "update_id": 700_000 + number,
                "message": {
                    "message_id": 10 + number,
                    "from": {"id": chat, "is_bot": False, "first_name": f"Customer {customer}"},
                    "chat": {"id": chat, "type": "private", "first_name": f"Customer {customer}"},
                    "date": 1_764_000_000,
                    "text": f"Where is order {tag}-{customer}?",
                },
            }
            response = await http.post(
                f"/webhooks/telegram/{account.account.id}",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
            )
            assert response.status_code == 200, response.text
            threads.append(await thread_of(live, response.json()["message_id"]))

        # The platform answers the first 40 sends (a little slowly), then holds every later one:
        # the worker is killed with all its sends in flight, at the platform, unanswered.
        telegram.latency = 0.05
        telegram.hold(after=40)
        texts = [f"{tag} reply {number}" for number in range(200)]
        semaphore = asyncio.Semaphore(20)

        async def reply(number: int) -> int:
            async with semaphore:
                response = await http.post(
                    f"/api/v1/threads/{threads[number % 4]}/messages",
                    json={"text": texts[number]},
                    headers=agent,
                )
            assert response.status_code == 202, response.text
            return int(response.json()["id"])

        ids = list(await asyncio.gather(*(reply(number) for number in range(200))))
        await settled(lambda: len(telegram.calls_to("sendMessage")), above=40)
        in_flight = len(telegram.calls_to("sendMessage")) - 40
        shape.worker.kill()
        telegram.release()
        await shape.worker.start()  # a new worker: its start and its sweep find what is left
        rows = await final_statuses(live, ids)

    shown = telegram.shown()
    delivered = sum(1 for text in texts if any(t == text for _, t in shown))
    duplicates = sum(count - 1 for (_, text), count in shown.items() if text in texts)
    unconfirmed = sum(1 for row in rows if (row["delivery_error"] or "").startswith("unconfirmed"))
    statuses = Counter(row["delivery_status"] for row in rows)
    print(
        f"sent {len(ids)}, stored {len(rows)}, delivered {delivered}, duplicates {duplicates} "
        f"(in flight at the kill {in_flight}, marked unconfirmed {unconfirmed}, statuses {dict(statuses)})"
    )
    assert (len(rows), delivered, duplicates) == (200, 200, 0)
    assert statuses == {"sent": 200}
    # Exactly the sends the dead worker had in flight are the ones it could not confirm.
    assert in_flight > 0 and unconfirmed == in_flight


async def thread_of(deployment: Deployment, message_id: int) -> int:
    """The thread a stored message is in."""
    connection = await asyncpg.connect(deployment.shape.postgres.url.replace("+asyncpg", ""))
    try:
        return int(await connection.fetchval("SELECT thread_id FROM messages WHERE id = $1", message_id))
    finally:
        await connection.close()


async def settled(count: Any, *, above: int, quiet: float = 1.0, within: float = 30) -> None:
    """Wait until ``count()`` is above ``above`` and has not changed for ``quiet`` seconds."""
    deadline = time.monotonic() + within
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif now > above and time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the count never settled above {above} (last {last})")
