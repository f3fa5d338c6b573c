"""Attacks that need their own settings, a fake mail server or a real server process.

- Login brute force: limited per client address (rotating ``X-Forwarded-For`` buys nothing) and per
  account (many addresses guessing one password), at both doors, 429 with ``Retry-After``; the
  real user gets in once the window has passed. Both shapes (memory counters; Redis counters).
- Header injection into outgoing mail: CR/LF in the customer's subject and name, the agent's name
  and the reply's text never become a header of the message the SMTP server receives.
- Slow clients: a slowloris (sockets that send their headers a byte at a time) does not hold up
  anyone else on a real ``onethread serve``. What protects us: uvicorn serves each connection as
  its own task on the event loop, so an unfinished request costs a socket and a little memory,
  never a worker; h11 caps an unfinished request head at 64 KiB (``h11_max_incomplete_event_size``)
  and ``--timeout-keep-alive`` closes idle kept-alive connections. uvicorn has no timeout for a
  request head that never finishes: in production the proxy in front (nginx's
  ``client_header_timeout`` / ``client_body_timeout``, 60 s by default) cuts those off.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from app.core import create_app
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.settings import Settings
from tests.conftest import SECRET, running
from tests.fakes.smtp_sink import SmtpSink
from tests.helpers import PASSWORD
from tests.processes import ServerGroup, process_env
from tests.security.world import World, csrf_field, seeded_world

# --- login brute force ---------------------------------------------------------------------------

LIMIT, WINDOW = 3, 2


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(
        settings.with_overrides(login_rate_limit_per_minute=LIMIT, login_rate_window_seconds=WINDOW)
    )
    async with running(app):
        await do_create_agent(app.state.writer, email="ada@example.com", name="Ada", password=PASSWORD)
        await do_create_agent(app.state.writer, email="bo@example.com", name="Bo", password=PASSWORD)
        yield app


def _from(app: Litestar, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


async def _token(client: httpx.AsyncClient, email: str, password: str, **headers: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", json={"email": email, "password": password}, headers=headers
    )


async def test_login_guessing_is_limited_per_address_and_per_account(limited: Litestar) -> None:
    async with _from(limited, "203.0.113.7") as attacker:
        codes = []
        for i in range(LIMIT + 2):
            # A different account each time, and a made-up forwarded address: still one client.
            answer = await _token(
                attacker, f"guess{i}@example.com", "123456", **{"X-Forwarded-For": f"198.51.100.{i}"}
            )
            codes.append(answer.status_code)
        assert codes == [401] * LIMIT + [429, 429]
        assert answer.json()["type"].endswith("rate-limited")
        assert 1 <= int(answer.headers["Retry-After"]) <= WINDOW
        # The right password from that address is refused too while the window lasts.
        assert (await _token(attacker, "bo@example.com", PASSWORD)).status_code == 429

    # A botnet: one guess per address, all at Ada's account.
    codes = []
    for i in range(LIMIT + 1):
        async with _from(limited, f"192.0.2.{i + 1}") as bot:
            codes.append((await _token(bot, "ada@example.com", "letmein")).status_code)
    assert codes == [401] * LIMIT + [429]
    # The console's form counts against the same account: the page says so, with Retry-After.
    async with _from(limited, "192.0.2.200") as browser:
        page = await browser.get("/login")
        refused = await browser.post(
            "/login",
            data={"email": "ADA@example.com", "password": PASSWORD, "_csrf_token": csrf_field(page.text)},
        )
        assert refused.status_code == 429
        assert "Too many login attempts" in refused.text and "Retry-After" in refused.headers
        assert "onethread_session" not in refused.headers.get("set-cookie", "")

    await asyncio.sleep(WINDOW + 0.2)  # the window passes: Ada herself gets in
    async with _from(limited, "192.0.2.1") as ada:
        assert (await _token(ada, "ada@example.com", PASSWORD)).status_code == 200


# --- header injection into outgoing mail ---------------------------------------------------------


@pytest.fixture(scope="module")
def mail_world(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, SmtpSink]]:
    with seeded_world(sqlite_template, tmp_path_factory.mktemp("mail")) as world:
        sink = SmtpSink()
        world.call(sink.__aenter__)
        try:
            yield world, sink
        finally:
            world.call(sink.__aexit__)


def test_line_breaks_never_add_a_header_to_outgoing_mail(mail_world: tuple[World, SmtpSink]) -> None:
    world, sink = mail_world
    account = world.call(
        do_add_channel_account,
        world.writer,
        channel="email",
        name="Shop\r\nBcc: evil@attacker.example",
        config={"address": "help@shop.example"},
        secrets={"smtp_url": sink.url},
    )
    agent = world.call(
        do_create_agent,
        world.writer,
        email="crlf@example.com",
        name="Eve\r\nBcc: evil@attacker.example",
        password=PASSWORD,
    )
    token = world.client.post("/api/v1/auth/token", json={"email": "crlf@example.com", "password": PASSWORD})
    assert token.status_code == 200 and agent.id
    auth = {"Authorization": f"Bearer {token.json()['token']}"}

    # Encoded words decode to CR/LF: the parser must not turn them into headers of ours later.
    mail = (
        b"From: =?utf-8?q?Sam=0D=0ABcc:_evil@attacker.example?= <sam@example.net>\r\n"
        b"To: help@shop.example\r\n"
        b"Subject: =?utf-8?q?Order=0D=0ABcc:_evil@attacker.example=0D=0AX-Injected:_1?=\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@example.net>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Where is my parcel?\r\n"
    )
    answer = world.client.post(
        f"/webhooks/email/{account.account.id}",
        content=mail,
        headers={
            "Authorization": f"Bearer {account.secrets['inbound_token']}",
            "Content-Type": "message/rfc822",
        },
    )
    assert answer.status_code == 202, answer.text
    thread = answer.json()["thread_id"]
    # A recipient address with a line break never gets onto the contact.
    contact = world.client.get(f"/api/v1/threads/{thread}", headers=auth).json()["thread"]["contact"]["id"]
    bad_email = world.client.patch(
        f"/api/v1/contacts/{contact}",
        json={"email": "sam@example.net\r\nBcc: evil@attacker.example"},
        headers=auth,
    )
    assert bad_email.status_code in (400, 422), bad_email.text

    reply = world.client.post(
        f"/api/v1/threads/{thread}/messages",
        json={"text": "Hi Sam\r\nBcc: evil@attacker.example\r\n\r\nit left today", "channel": "email"},
        headers=auth,
    )
    assert reply.status_code in (200, 201, 202), reply.text
    received = world.call(sink.wait_for, 1)
    assert received[0].rcpt_tos == ("sam@example.net",)
    raw = received[0].raw
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    names = [line.split(b":", 1)[0].lower() for line in head.splitlines() if line and not line[:1].isspace()]
    assert b"bcc" not in names and b"x-injected" not in names, head.decode(errors="replace")
    assert names.count(b"subject") == 1 and names.count(b"from") == 1 and names.count(b"to") == 1


# --- slow clients --------------------------------------------------------------------------------


@pytest.fixture
async def server_group(tmp_path: Path) -> AsyncIterator[ServerGroup]:
    group = ServerGroup(tmp_path / "logs")
    yield group
    group.stop_all()


async def test_a_slowloris_does_not_hold_up_other_clients(
    server_group: ServerGroup, sqlite_template: Path, tmp_path: Path
) -> None:
    db = tmp_path / "slow.db"
    shutil.copy(sqlite_template, db)
    env = process_env(
        {
            "ONETHREAD_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "ONETHREAD_SECRET_KEY": SECRET,
            "ONETHREAD_VAR_DIR": str(tmp_path / "var"),
        }
    )
    server = await server_group.start(env, name="slow")
    stop = asyncio.Event()
    opened: list[asyncio.StreamWriter] = []

    async def drip() -> None:
        _reader, writer = await asyncio.open_connection(server.host, server.port)
        opened.append(writer)
        head = (
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nX-Pad: "
            + b"a" * 10_000
        )
        for byte in head:
            if stop.is_set():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    drips = [asyncio.create_task(drip()) for _ in range(50)]
    try:
        await asyncio.sleep(1.0)  # every slow socket is open and mid-header
        assert len(opened) == 50
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for _ in range(10):
                answer = await client.get("/health")
                assert answer.status_code == 200
            login = await client.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "y"})
            assert login.status_code == 401
    finally:
        stop.set()
        await asyncio.gather(*drips, return_exceptions=True)
        for writer in opened:
            writer.close()
    assert server.running
