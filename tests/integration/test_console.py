"""The agent console over HTTP, as a browser uses it: login, pages, forms, CSRF, escaping.

Runs on both shapes: sessions live in files (embedded) or Redis (production).
"""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import httpx
from litestar import Litestar

from app.core import create_app
from app.domain.accounts.actions import do_create_agent
from app.domain.console.sessions import SESSION_COOKIE
from app.settings import Settings
from tests.conftest import running
from tests.console import csrf_from, http_client, login
from tests.helpers import PASSWORD, Api

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


async def test_pages_redirect_to_login_without_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/", "/threads/1", "/?status=open"):
        response = await client.get(path)
        assert response.status_code == 303, (path, response.text)
        assert response.headers["location"].startswith("/login")
    assert (await client.get("/threads/1")).headers["location"] == "/login?next=/threads/1"
    assert (await client.head("/")).status_code in (303, 405)
    htmx = await client.get("/", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login"


async def test_login_with_good_credentials_starts_a_session_under_a_new_id(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    client.cookies.set(SESSION_COOKIE, "planted-by-an-attacker", domain="testserver.local")
    page = await client.get("/login?next=/threads/7")
    response = await client.post(
        "/login",
        data={
            "email": "ADA@example.com",
            "password": PASSWORD,
            "next": "/threads/7",
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/threads/7"
    session_id = client.cookies.get(SESSION_COOKIE)
    assert session_id and session_id != "planted-by-an-attacker"
    inbox = await client.get("/")
    assert inbox.status_code == 200
    assert "Ada Agent" in inbox.text
    again = await client.get("/login?next=/threads/7")
    assert again.status_code == 303 and again.headers["location"] == "/threads/7"


async def test_login_refuses_wrong_credentials_clearly(client: httpx.AsyncClient, app: Litestar) -> None:
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    for email, password in (("ada@example.com", "not the password"), ("nobody@example.com", PASSWORD)):
        response = await login(client, email, password)
        assert response.status_code == 400
        assert "Wrong email or password." in response.text
        assert SESSION_COOKIE not in client.cookies
    assert (await client.get("/")).status_code == 303


async def test_login_never_redirects_off_site(client: httpx.AsyncClient, app: Litestar) -> None:
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": "ada@example.com",
            "password": PASSWORD,
            "next": "//evil.example/",
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert response.headers["location"] == "/"


async def test_posts_without_the_csrf_token_are_refused(client: httpx.AsyncClient, app: Litestar) -> None:
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    await client.get("/login")
    refused = await client.post("/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert refused.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert (await login(client)).status_code == 303
    assert (await client.post("/logout")).status_code == 403
    assert (await client.post("/threads/1/compose", data={"text": "hi", "mode": "note"})).status_code == 403
    forged = await client.post("/logout", headers={"X-CSRFToken": "forged"}, data={"_csrf_token": "forged"})
    assert forged.status_code == 403
    assert (await client.get("/")).status_code == 200  # still logged in


async def test_logout_ends_the_session(agent_client: httpx.AsyncClient) -> None:
    client = agent_client
    page = await client.get("/")
    old_session = client.cookies.get(SESSION_COOKIE)
    response = await client.post("/logout", data={"_csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert (await client.get("/")).status_code == 303
    # The old id is dead server-side too, not just forgotten by this browser.
    client.cookies.set(SESSION_COOKIE, old_session or "", domain="testserver.local")
    assert (await client.get("/")).status_code == 303


async def test_api_keeps_working_with_bearer_tokens_and_no_csrf(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    api = await Api.login(client, app)
    channel = await api.add_api_channel()
    await api.inbound(channel, "hello", name="Bo")
    threads = await api.get("/api/v1/threads/")
    note = await api.post(f"/api/v1/threads/{threads['items'][0]['id']}/notes", {"text": "n"}, expect=201)
    assert note.json()["kind"] == "note"
    assert (await client.get("/health")).status_code == 200


async def test_inbox_and_thread_show_customer_text_escaped(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    for text in XSS:
        await api.inbound(channel, text, contact_id="x-1", name="<b>Mallory</b>")
    inbox = await client.get("/")
    assert inbox.status_code == 200
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in inbox.text and "<b>Mallory</b>" not in inbox.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in inbox.text
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    page = await client.get(f"/threads/{thread_id}")
    assert page.status_code == 200
    for text in XSS:
        assert text not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<script>" not in page.text.replace("<script src=", "")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


async def test_inbox_lists_threads_newest_first_and_filters_by_status(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "first customer", contact_id="a", name="Anna")
    await api.inbound(channel, "second customer", contact_id="b", name="Bram")
    page = (await client.get("/")).text
    assert page.index("Bram") < page.index("Anna")
    assert "second customer" in page and "API" in page
    anna = next(t for t in (await api.get("/api/v1/threads/"))["items"] if t["contact"]["name"] == "Anna")
    await api.patch(f"/api/v1/threads/{anna['id']}", {"status": "resolved"})
    resolved = (await client.get("/?status=resolved")).text
    assert "Anna" in resolved and "Bram" not in resolved


async def test_note_and_reply_through_the_composer(agent_client: httpx.AsyncClient, app: Litestar) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()  # no callback URL: replies cannot be delivered
    await api.inbound(channel, "where is my order?", name="Cleo")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    page = await client.get(f"/threads/{thread_id}")
    token = csrf_from(page.text)
    htmx = {"HX-Request": "true", "X-CSRFToken": token}

    note = await client.post(
        f"/threads/{thread_id}/compose", data={"mode": "note", "text": "VIP <customer>"}, headers=htmx
    )
    assert note.status_code == 201, note.text
    assert "msg--note" in note.text and "VIP &lt;customer&gt;" in note.text
    assert 'hx-swap-oob="true"' in note.text  # a fresh composer comes along

    refused = await client.post(
        f"/threads/{thread_id}/compose",
        data={"mode": "reply", "text": "on its way", "channel": "api"},
        headers=htmx,
    )
    assert refused.status_code == 409
    assert refused.headers["hx-retarget"] == "#composer"
    assert "no callback URL" in refused.text and "on its way" in refused.text

    plain = await client.post(
        f"/threads/{thread_id}/compose", data={"mode": "note", "text": "without js", "_csrf_token": token}
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith(f"/threads/{thread_id}#m-")
    timeline = await api.timeline(thread_id)
    assert [m["text"] for m in timeline if m["kind"] == "note"] == ["VIP <customer>", "without js"]
    assert not [m for m in timeline if m["direction"] == "out" and m["kind"] == "text"]


async def test_reply_is_queued_on_a_channel_that_can_deliver(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel(callback_url="http://127.0.0.1:9/unreachable")
    await api.inbound(channel, "hello?", name="Dirk")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    token = csrf_from((await client.get(f"/threads/{thread_id}")).text)
    reply = await client.post(
        f"/threads/{thread_id}/compose",
        data={"mode": "reply", "text": "Hi Dirk", "channel": "api"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert reply.status_code == 202, reply.text
    assert "Hi Dirk" in reply.text and "msg--out" in reply.text
    page = (await client.get(f"/threads/{thread_id}")).text
    assert "Hi Dirk" in page and "Ada Agent" in page


async def test_static_assets_are_served_cache_busted(agent_client: httpx.AsyncClient) -> None:
    page = (await agent_client.get("/")).text
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert {u.split("?")[0] for u in urls} >= {
        "/static/console.css",
        "/static/vendor/htmx.min.js",
        "/static/vendor/htmx-ext-ws.min.js",
    }
    for url in urls:
        assert re.search(r"\?v=[0-9a-f]{12}$", unescape(url)), url
        response = await agent_client.get(unescape(url))
        assert response.status_code == 200
        assert "max-age=31536000" in response.headers["cache-control"]


async def test_login_form_is_rate_limited_with_a_message(settings: Settings) -> None:
    limited = create_app(dataclasses.replace(settings, login_rate_limit_per_minute=3))
    async with running(limited), http_client(limited) as client:
        await do_create_agent(limited.state.writer, email="ada@example.com", name="Ada", password=PASSWORD)
        codes = [(await login(client, password="wrong password")).status_code for _ in range(3)]
        assert codes == [400, 400, 400]
        refused = await login(client)
        assert refused.status_code == 429
        assert "Too many login attempts" in refused.text
        assert SESSION_COOKIE not in client.cookies


async def test_sessions_survive_a_restart(settings: Settings) -> None:
    """Embedded: a file store under var/; production: Redis. Either way a new process knows the id."""
    first = create_app(settings)
    async with running(first), http_client(first) as client:
        await do_create_agent(first.state.writer, email="ada@example.com", name="Ada", password=PASSWORD)
        assert (await login(client)).status_code == 303
        session_id = client.cookies.get(SESSION_COOKIE)
    second = create_app(settings)
    async with running(second), http_client(second) as client:
        client.cookies.set(SESSION_COOKIE, session_id or "", domain="testserver.local")
        assert (await client.get("/")).status_code == 200


async def test_thread_shows_phone_notes_and_system_lines(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    await api.post(
        "/api/v1/phone-notes",
        {
            "phone": "+31 20 123 4567",
            "text": "Asked about <returns>",
            "direction": "inbound",
            "duration_seconds": 125,
        },
        expect=201,
    )
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    await api.patch(f"/api/v1/threads/{thread_id}", {"status": "resolved"})
    page = (await client.get(f"/threads/{thread_id}")).text
    assert "Phone call, incoming · +31201234567 · 2 min 05 s" in page
    assert "Asked about &lt;returns&gt;" in page
    assert "msg--system" in page
    inbox = (await client.get("/")).text
    assert "Resolved" in inbox and "phone" in inbox


async def test_composer_refuses_nul_and_explains_empty_text(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "hi", name="Eve")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    token = csrf_from((await client.get(f"/threads/{thread_id}")).text)
    htmx = {"HX-Request": "true", "X-CSRFToken": token}
    nul = await client.post(
        f"/threads/{thread_id}/compose", data={"mode": "note", "text": "a\x00b"}, headers=htmx
    )
    assert nul.status_code == 422 and "invisible NUL character" in nul.text
    empty = await client.post(
        f"/threads/{thread_id}/compose", data={"mode": "note", "text": "  "}, headers=htmx
    )
    assert empty.status_code == 422 and "a note needs text" in empty.text
    assert [m["kind"] for m in await api.timeline(thread_id)] == ["text"]


async def test_thread_page_pages_back_through_older_history(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "message 0", name="Finn")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    for i in range(1, 52):
        await api.post(f"/api/v1/threads/{thread_id}/notes", {"text": f"note {i}"}, expect=201)
    newest = (await client.get(f"/threads/{thread_id}")).text
    assert "note 51" in newest and "note 2<" in newest and "message 0" not in newest
    older = re.search(r'href="(/threads/\d+\?before=\d+)">Older messages', newest)
    assert older, "no link to older history"
    page = (await client.get(unescape(older.group(1)))).text
    assert "message 0" in page and "note 1<" in page and "note 2<" not in page
    assert "Older messages" not in page
