"""The console's live socket against real ``onethread serve`` processes, as a browser holds it.

- Only a logged-in console page of this site gets a socket: no session, a cross-site ``Origin``
  or none at all is refused (cross-site websocket hijacking), on ``/live`` and on the API's
  ``/api/v1/events`` when the cookie is what authorizes it.
- An inbox page gets its thread's row, re-rendered, to put at the top when a customer writes; a
  filtered page is told to drop a row that no longer matches; a page resuming from its last
  event id gets what it missed.
- A thread page gets new messages to append and delivery updates to replace, and the collision
  notice when another agent views or types, across processes (PostgreSQL + Redis).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.inbox.actions import do_ingest
from integrations.types import ContactClaim, InboundMessage, InboundSender
from tests.conftest import RUN_ID, SECRET, truncate_postgres
from tests.fakes.graph_api import GraphApi
from tests.helpers import PASSWORD
from tests.integration.test_messenger_webhook import APP_SECRET, PAGE, signed
from tests.integration.test_realtime_processes import add_api_channel, direct_writer
from tests.processes import ServerGroup, ServerProcess, create_agent, live_servers, login

HEARTBEAT = 0.5


@dataclass
class Site:
    servers: list[ServerProcess]
    env: dict[str, str]
    channel: dict[str, Any]


def _env(tmp: Path) -> dict[str, str]:
    return {
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(tmp / "var"),
        "ONETHREAD_LOGIN_RATE_LIMIT": "10000",
        "ONETHREAD_WS_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "ONETHREAD_JOB_QUEUE": f"onethread:test:{RUN_ID}:{uuid.uuid4().hex[:6]}",
    }


async def _start(group: ServerGroup, env: dict[str, str], names: list[str]) -> Site:
    async def provision() -> dict[str, Any]:
        async with direct_writer(env) as writer:
            await do_create_agent(writer, email="bo@example.com", name="Bo Agent", password=PASSWORD)
        return await add_api_channel(env, "Shop")

    started = await asyncio.gather(
        *(group.start(env, name=name) for name in names),
        create_agent(env, "ada@example.com", PASSWORD, admin=True, name="Ada Agent"),
        provision(),
    )
    return Site(list(started[: len(names)]), env, started[-1])


@pytest.fixture(scope="module")
async def embedded(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("console-live-embedded")
    db = tmp / "onethread.db"
    shutil.copy(sqlite_template, db)
    env = {**_env(tmp), "ONETHREAD_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    group = ServerGroup(tmp / "logs")
    try:
        yield await _start(group, env, ["live-embedded"])
    finally:
        group.stop_all()


@pytest.fixture(scope="module")
async def production(
    pg_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    """Two app processes on one PostgreSQL and one Redis, as behind a load balancer."""
    await truncate_postgres(pg_url)
    tmp = tmp_path_factory.mktemp("console-live-production")
    env = {**_env(tmp), "ONETHREAD_DATABASE_URL": pg_url, "ONETHREAD_REDIS_URL": redis_url}
    group = ServerGroup(tmp / "logs")
    try:
        yield await _start(group, env, ["live-pg-a", "live-pg-b"])
    finally:
        group.stop_all()


@pytest.fixture(autouse=True)
def _server_logs_on_failure() -> Iterator[None]:
    yield
    for server in live_servers():
        print(f"===== {server.name} ({server.url}) {server.log_path}\n{server.log_tail(40)}")


class Browser:
    """One agent's browser on one server: the session and CSRF cookies, and pages fetched with them."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=15)

    async def login(self, email: str) -> Browser:
        page = await self.http.get("/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert token
        response = await self.http.post(
            "/login",
            data={"email": email, "password": PASSWORD, "_csrf_token": html.unescape(token.group(1))},
        )
        assert response.status_code == 303, response.text
        return self

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    async def live_url(self, path: str) -> str:
        """The page's ``ws-connect`` URL, as the htmx extension reads it."""
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'ws-connect="([^"]+)"', page.text)
        assert found, f"no live socket on {path}"
        return html.unescape(found.group(1))

    async def socket(self, path: str, *, origin: str | None = "same", cookies: bool = True) -> LivePage:
        headers = {"Cookie": self.cookie_header} if cookies else {}
        if origin == "same":
            origin = self.server.url
        if origin:
            headers["Origin"] = origin
        connection = await connect(f"{self.server.ws_url}{path}", additional_headers=headers, open_timeout=10)
        return LivePage(connection)


class LivePage:
    """What a page's socket received: HTML fragments (htmx swaps them in by id)."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[str] = []

    async def until(self, predicate: Callable[[str], bool], within: float = 10) -> str:
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing matching within {within} s; got {self.received[-5:]}")
            try:
                raw = await asyncio.wait_for(self.connection.recv(), remaining)
            except TimeoutError:
                continue
            text = raw if isinstance(raw, str) else raw.decode()
            self.received.append(text)
            if predicate(text):
                return text

    async def ready(self) -> int:
        first = await self.until(lambda t: 'id="live-state"' in t)
        return last_event_id(first)

    async def close(self) -> None:
        await self.connection.close()


def last_event_id(fragment: str) -> int:
    found = re.search(r'id="live-state" hx-swap-oob="true" data-last-event-id="(\d+)"', fragment)
    assert found, fragment
    return int(found.group(1))


async def inbound(site: Site, text: str, *, contact: str, name: str, server: int = 0) -> None:
    async with httpx.AsyncClient(base_url=site.servers[server].url, timeout=15) as http:
        response = await http.post(
            f"/api/v1/channels/{site.channel['id']}/inbound",
            json={
                "external_id": uuid.uuid4().hex,
                "contact": {"external_id": contact, "name": name},
                "text": text,
            },
            headers={"Authorization": f"Bearer {site.channel['token']}"},
        )
    assert response.status_code == 202, response.text


async def thread_id_of(browser: Browser, name: str) -> int:
    threads = (await browser.http.get("/api/v1/threads/", params={"q": name})).json()["items"]
    return int(next(t["id"] for t in threads if t["contact"]["name"] == name))


@pytest.fixture
async def ada(embedded: Site) -> AsyncIterator[Browser]:
    browser = await Browser(embedded.servers[0]).login("ada@example.com")
    yield browser
    await browser.aclose()


async def test_no_socket_without_a_session_or_from_another_site(ada: Browser) -> None:
    url = await ada.live_url("/")
    for refused in (
        ada.socket(url, cookies=False),
        ada.socket(url, origin="https://evil.example"),
        ada.socket(url, origin=None),
        ada.socket(url, origin="null"),
        ada.socket("/api/v1/events", origin="https://evil.example"),
    ):
        with pytest.raises(InvalidStatus) as refusal:
            await refused
        assert refusal.value.response.status_code in (401, 403)
    # The same cookie from a page of this site: the API's event socket answers too.
    page = await ada.socket("/api/v1/events")
    assert '"type":"ready"' in await page.until(lambda t: "ready" in t)
    await page.close()


async def test_a_new_message_moves_its_row_to_the_top_of_the_inbox(embedded: Site, ada: Browser) -> None:
    await inbound(embedded, "first question", contact="live-a", name="Anna Live")
    page = await ada.socket(await ada.live_url("/"))
    try:
        await page.ready()
        await inbound(embedded, "<b>second</b> question", contact="live-a", name="Anna Live")
        fragment = await page.until(lambda t: "Anna Live" in t)
        thread_id = await thread_id_of(ada, "Anna Live")
        # The old row goes, the re-rendered one goes first in the list, marked unread, text escaped.
        assert f'<li id="thread-{thread_id}" hx-swap-oob="delete"></li>' in fragment
        top = fragment.index('hx-swap-oob="afterbegin:#thread-list"')
        assert fragment.index(f'id="thread-{thread_id}"', top) > top
        assert "thread-row--unread" in fragment and "&lt;b&gt;second&lt;/b&gt; question" in fragment
        assert last_event_id(fragment) > 0
    finally:
        await page.close()


async def test_a_filtered_inbox_drops_a_row_that_no_longer_matches(embedded: Site, ada: Browser) -> None:
    await inbound(embedded, "please close this", contact="live-r", name="Rita Resolved")
    thread_id = await thread_id_of(ada, "Rita Resolved")
    token = re.search(r'"X-CSRFToken": "([^"]+)"', html.unescape((await ada.http.get("/")).text))
    assert token
    patched = await ada.http.patch(
        f"/api/v1/threads/{thread_id}", json={"status": "resolved"}, headers={"X-CSRFToken": token.group(1)}
    )
    assert patched.status_code == 200, patched.text
    url = await ada.live_url("/?status=resolved")
    assert "status=resolved" in url
    page = await ada.socket(url)
    try:
        await page.ready()
        await inbound(embedded, "actually, one more thing", contact="live-r", name="Rita Resolved")
        fragment = await page.until(lambda t: f'id="thread-{thread_id}"' in t)
        assert fragment.startswith(f'<li id="thread-{thread_id}" hx-swap-oob="delete"></li>')
        assert "afterbegin" not in fragment  # reopened by the customer: not a resolved thread any more
    finally:
        await page.close()


async def test_a_page_that_reconnects_gets_what_it_missed(embedded: Site, ada: Browser) -> None:
    page = await ada.socket(await ada.live_url("/"))
    cursor = await page.ready()
    await page.close()
    await inbound(embedded, "while you were away", contact="live-m", name="Milo Missed")
    resumed = await ada.socket(f"/live?view=inbox&last_event_id={cursor}")
    try:
        fragment = await resumed.until(lambda t: "Milo Missed" in t)
        assert "while you were away" in fragment and last_event_id(fragment) > cursor
    finally:
        await resumed.close()


async def test_an_open_thread_gets_new_messages_and_catches_up_after_render(
    embedded: Site, ada: Browser
) -> None:
    await inbound(embedded, "hello", contact="live-t", name="Tess Thread")
    thread_id = await thread_id_of(ada, "Tess Thread")
    url = await ada.live_url(f"/threads/{thread_id}")
    assert url.startswith(f"/live?thread={thread_id}&after_message=")
    # A message arrives between the page's render and its socket: the socket brings it.
    await inbound(embedded, "sent before the socket opened", contact="live-t", name="Tess Thread")
    page = await ada.socket(url)
    try:
        caught_up = await page.until(lambda t: "sent before the socket opened" in t)
        assert 'hx-swap-oob="beforeend:#timeline"' in caught_up and "hello" not in caught_up
        await inbound(embedded, "<script>alert(1)</script> live", contact="live-t", name="Tess Thread")
        fragment = await page.until(lambda t: "live" in t and "#timeline" in t)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; live" in fragment and "<script>" not in fragment
        assert re.search(r'<li class="msg msg--text msg--in" id="m-\d+">', fragment)
        # Another thread's messages do not show up here: one on this thread sent after it arrives,
        # and by then the other one had long been delivered if it were coming at all.
        await inbound(embedded, "someone else", contact="live-o", name="Otto Other")
        await thread_id_of(ada, "Otto Other")  # committed before the sentinel
        await inbound(embedded, "sentinel after the other thread", contact="live-t", name="Tess Thread")
        await page.until(lambda t: "sentinel after the other thread" in t)
        assert not [t for t in page.received if "someone else" in t or "Otto Other" in t]
    finally:
        await page.close()
    # The agent saw it all live: the thread is not unread in their inbox.
    inbox = (await ada.http.get("/")).text
    row = re.search(rf'<li class="([^"]*)" id="thread-{thread_id}">', inbox)
    assert row and "thread-row--unread" not in row.group(1)


async def test_a_socket_for_a_thread_that_does_not_exist_is_closed_without_retry(
    embedded: Site, ada: Browser
) -> None:
    """Nothing is streamed; the 4404 close tells live.js's htmx extension not to reconnect."""
    for thread in ("999999", "not-a-number"):
        page = await ada.socket(f"/live?thread={thread}&after_message=1")
        with pytest.raises(ConnectionClosed) as closed:
            await page.until(lambda t: True)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
        assert page.received == []
    log = embedded.servers[0].log_tail(200)
    assert "never awaited" not in log and "Traceback" not in log


async def test_a_message_the_page_was_not_shown_stays_unread(embedded: Site, ada: Browser) -> None:
    """A read mark is the newest customer message the agent was shown, not the time of writing it."""
    await inbound(embedded, "are you there?", contact="live-u", name="Una Unread")
    thread_id = await thread_id_of(ada, "Una Unread")
    inbox = await ada.socket(await ada.live_url("/"))
    try:
        await inbox.ready()
        url = await ada.live_url(f"/threads/{thread_id}")  # the page renders "are you there?"
        await inbound(embedded, "hello??", contact="live-u", name="Una Unread")
        cursor = last_event_id(await inbox.until(lambda t: "hello??" in t))
    finally:
        await inbox.close()

    async def unread() -> bool:
        inbox_page = (await ada.http.get("/")).text
        row = re.search(rf'<li class="([^"]*)" id="thread-{thread_id}">', inbox_page)
        assert row, inbox_page
        return "thread-row--unread" in row.group(1)

    # The page's socket resumes after "hello??" was published without having shown it (as after a
    # lost frame): connecting is no reason to count it read.
    page = await ada.socket(f"{url}&last_event_id={cursor}")
    try:
        await page.ready()
        await page.until(lambda t: 'id="live-state"' in t)  # a heartbeat: the socket is past start
        assert not [t for t in page.received if "hello??" in t]
    finally:
        await page.close()
    assert await unread()
    # A socket that sends it (catching up from the page's last message) marks it read.
    page = await ada.socket(url)
    try:
        await page.until(lambda t: "hello??" in t)
        await page.until(lambda t: 'id="live-state"' in t and "hello??" not in t)
    finally:
        await page.close()
    assert not await unread()


async def test_agents_on_one_thread_see_each_other_view_and_type_across_processes(production: Site) -> None:
    await inbound(production, "who is there?", contact="live-p", name="Pia Presence")
    ada = await Browser(production.servers[0]).login("ada@example.com")
    bo = await Browser(production.servers[1]).login("bo@example.com")
    try:
        thread_id = await thread_id_of(ada, "Pia Presence")
        ada_page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
        await ada_page.ready()
        bo_page = await bo.socket(await bo.live_url(f"/threads/{thread_id}"))
        await bo_page.ready()
        assert "Bo Agent is viewing" in await ada_page.until(lambda t: "is viewing" in t)
        assert "Ada Agent is viewing" in await bo_page.until(lambda t: "is viewing" in t)

        await bo_page.connection.send('{"type": "typing"}')
        typing = await ada_page.until(lambda t: "is typing" in t)
        assert "Bo Agent is typing…" in typing and "Bo Agent is viewing" not in typing
        # Typing lapses on its own when Bo stops.
        assert "Bo Agent is viewing" in await ada_page.until(lambda t: "is viewing" in t, within=10)

        await bo_page.close()
        gone = await ada_page.until(lambda t: 'id="presence"' in t and "Bo Agent" not in t)
        assert "presence--on" not in gone
        await ada_page.close()
    finally:
        await ada.aclose()
        await bo.aclose()


async def test_a_delivery_update_replaces_the_message_in_place(embedded: Site, ada: Browser) -> None:
    """A reply's status changes (queued → sent) on the open page, in place, not as a new entry."""

    async def receiver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nX-Message-Id: ext-1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    callback = await asyncio.start_server(receiver, "127.0.0.1", 0)
    port = callback.sockets[0].getsockname()[1]
    try:
        async with direct_writer(embedded.env) as writer:
            created = await do_add_channel_account(
                writer,
                channel="api",
                name="Callback shop",
                config={"callback_url": f"http://127.0.0.1:{port}/cb"},
            )
        site = Site(
            embedded.servers,
            embedded.env,
            {"id": str(created.account.id), "token": created.secrets["inbound_token"]},
        )
        await inbound(site, "can you confirm?", contact="live-d", name="Dora Delivery")
        thread_id = await thread_id_of(ada, "Dora Delivery")
        page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
        try:
            await page.ready()
            token = await login(ada.server, "ada@example.com", PASSWORD)
            async with httpx.AsyncClient(base_url=ada.server.url, timeout=15) as http:
                sent = await http.post(
                    f"/api/v1/threads/{thread_id}/messages",
                    json={"text": "Confirmed!"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert sent.status_code == 202, sent.text
            message_id = sent.json()["id"]
            appended = await page.until(lambda t: f'id="m-{message_id}"' in t and "#timeline" in t)
            assert "Confirmed!" in appended
            updated = await page.until(lambda t: f'id="m-{message_id}" hx-swap-oob="outerHTML"' in t)
            assert re.search(r'class="delivery delivery--(sent|delivered)"', updated)
        finally:
            await page.close()
    finally:
        callback.close()


async def test_another_agents_status_change_redraws_the_open_threads_head(
    embedded: Site, ada: Browser
) -> None:
    """Bo marks the thread pending through the API: Ada's open page shows it without a reload."""
    await inbound(embedded, "is my refund through?", contact="live-h", name="Hanna Head")
    thread_id = await thread_id_of(ada, "Hanna Head")
    page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
    try:
        await page.ready()
        token = await login(ada.server, "bo@example.com", PASSWORD)
        async with httpx.AsyncClient(base_url=ada.server.url, timeout=15) as http:
            changed = await http.patch(
                f"/api/v1/threads/{thread_id}",
                json={"status": "pending"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert changed.status_code == 200, changed.text
        head = await page.until(lambda t: 'id="thread-head" hx-swap-oob="true"' in t)
        assert 'class="status status--pending"' in head
    finally:
        await page.close()


async def test_a_customer_who_moves_to_another_channel_is_announced_live(
    embedded: Site, ada: Browser
) -> None:
    """The open thread shows "Customer continued on Telegram" as the message arrives, not on reload."""
    async with httpx.AsyncClient(base_url=embedded.servers[0].url, timeout=15) as http:
        first = await http.post(
            f"/api/v1/channels/{embedded.channel['id']}/inbound",
            json={
                "external_id": uuid.uuid4().hex,
                "contact": {"external_id": "live-s", "name": "Sven Switch", "email": "sven@example.com"},
                "text": "ordered on the website",
            },
            headers={"Authorization": f"Bearer {embedded.channel['token']}"},
        )
    assert first.status_code == 202, first.text
    thread_id = first.json()["thread_id"]
    page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
    try:
        await page.ready()
        # The same customer (the same verified address) writes on Telegram. Written by a writer in
        # this process, so the server hears of it with its next frame: the API message below.
        async with direct_writer(embedded.env) as writer:
            telegram = await do_add_channel_account(writer, channel="telegram", name="Shop bot")
            await do_ingest(
                writer,
                InboundMessage(
                    channel="telegram",
                    account_id=str(telegram.account.id),
                    external_id=uuid.uuid4().hex,
                    sender=InboundSender(
                        "telegram", "tg-77", "Sven Switch", (ContactClaim("email", "sven@example.com", True),)
                    ),
                    text="writing from Telegram now",
                ),
            )
        await inbound(embedded, "and back on the website", contact="live-s", name="Sven Switch")
        fragment = await page.until(lambda t: "and back on the website" in t)
        text = html.unescape(fragment)
        assert text.index("Customer continued on Telegram") < text.index("writing from Telegram now")
        assert text.index("Customer continued on API") < text.index("and back on the website")
    finally:
        await page.close()


async def test_a_messenger_customers_name_from_meta_retitles_the_open_thread(
    embedded: Site, ada: Browser
) -> None:
    """A new Messenger customer's page opens as "Unknown customer"; Meta's answer to the profile
    lookup (a background job) puts her name in the title without a reload."""
    psid = "7770001112223334"
    async with GraphApi() as graph:
        graph.add_profile(psid, first_name="Lena", last_name="Lind")
        graph.latency = 3.0  # Meta answers once the agent has the thread open
        async with direct_writer(embedded.env) as writer:
            page_account = await do_add_channel_account(
                writer,
                channel="messenger",
                name="Shop page",
                config={"page_id": PAGE, "graph_url": graph.url},
                secrets={"page_token": "EAAB-live", "app_secret": APP_SECRET, "verify_token": "v"},
            )
        event = {
            "sender": {"id": psid},
            "recipient": {"id": PAGE},
            "timestamp": int(time.time() * 1000),
            "message": {"mid": f"m.live.{uuid.uuid4().hex}", "text": "Hello from Messenger"},
        }
        body = json.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": [event]}]}).encode()
        response = await ada.http.post(
            f"/webhooks/messenger/{page_account.account.id}", content=body, headers=signed(body)
        )
        assert response.status_code == 200, response.text
        threads = (await ada.http.get("/api/v1/threads/", params={"channel": "messenger"})).json()["items"]
        [thread] = [t for t in threads if t["last_message_preview"] == "Hello from Messenger"]
        assert thread["contact"]["name"] is None
        page = await ada.socket(await ada.live_url(f"/threads/{thread['id']}"))
        try:
            await page.ready()
            head = await page.until(lambda t: 'id="thread-head" hx-swap-oob="true"' in t)
            assert '<h1 id="thread-title">Lena Lind</h1>' in head
        finally:
            await page.close()


async def test_a_customers_edit_redraws_the_message_in_place(embedded: Site, ada: Browser) -> None:
    """A Telegram customer corrects a message: the open page replaces it, marked edited."""
    secret = "live-edit-webhook-secret"
    async with direct_writer(embedded.env) as writer:
        created = await do_add_channel_account(
            writer,
            channel="telegram",
            name="Live bot",
            secrets={"bot_token": "7000009:AAA", "webhook_secret": secret},
        )

    async def telegram(update: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=ada.server.url, timeout=15) as http:
            return await http.post(
                f"/webhooks/telegram/{created.account.id}",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": secret},
            )

    person = {"id": 770001, "is_bot": False, "first_name": "Edda", "last_name": "Edit"}
    chat = {"id": 770001, "type": "private", "first_name": "Edda"}
    sent = {"message_id": 5, "from": person, "chat": chat, "date": int(time.time()), "text": "meet at 10"}
    message_id = (await telegram({"update_id": 1, "message": sent})).json()["message_id"]
    thread_id = await thread_id_of(ada, "Edda Edit")
    page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
    try:
        await page.ready()
        edited = {**sent, "text": "meet at 11", "edit_date": int(time.time())}
        assert (await telegram({"update_id": 2, "edited_message": edited})).json()["edited"] is True
        fragment = await page.until(lambda t: f'id="m-{message_id}" hx-swap-oob="outerHTML"' in t)
        assert "meet at 11" in fragment and 'class="msg-edited"' in fragment
        assert '<details class="msg-earlier">' in fragment and "meet at 10" in fragment
    finally:
        await page.close()


async def test_an_erased_customer_leaves_the_open_pages(embedded: Site, ada: Browser) -> None:
    """An admin erases the customer (GDPR): the inbox redraws or drops their row, an open thread reloads."""
    await inbound(embedded, "deliver to Elmstraat 5 please", contact="live-erase", name="Erin Erase")
    thread_id = await thread_id_of(ada, "Erin Erase")
    thread_page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
    inbox_page = await ada.socket(await ada.live_url("/"))
    try:
        await thread_page.ready()
        await inbox_page.ready()
        token = await login(ada.server, "ada@example.com", PASSWORD)
        async with httpx.AsyncClient(base_url=ada.server.url, timeout=15) as http:
            auth = {"Authorization": f"Bearer {token}"}
            detail = (await http.get(f"/api/v1/threads/{thread_id}", headers=auth)).json()
            contact_id = detail["thread"]["contact"]["id"]
            erased = await http.post(f"/api/v1/contacts/{contact_id}/erase", json={}, headers=auth)
        assert erased.status_code == 200, erased.text
        await thread_page.until(lambda t: 'data-resync="1"' in t)
        row = await inbox_page.until(lambda t: f'id="thread-{thread_id}"' in t)
        assert "Erin Erase" not in row and "Elmstraat" not in row
    finally:
        await thread_page.close()
        await inbox_page.close()
