"""The inbox list over HTTP, as a browser uses it: filters, unread marks, pages by cursor, HTMX
partials; and the JSON API with the console's session cookie instead of a bearer token.

Runs on both shapes (embedded SQLite, production PostgreSQL + Redis).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from app.domain.inbox.reads import do_mark_read
from tests.console import CSRF_COOKIE, csrf_from, http_client, login
from tests.helpers import PASSWORD, Api


@pytest.fixture
async def api(agent_client: httpx.AsyncClient, app: Litestar) -> Api:
    return await Api.login(agent_client, app, email="admin@example.com")


def names_in_order(html: str) -> list[str]:
    return re.findall(
        r'<span class="thread-name">(?:<span[^>]*></span><span[^>]*>[^<]*</span>)?([^<]+)</span>', html
    )


def unread_names(html: str) -> list[str]:
    rows = re.findall(r'<li class="thread-row[^"]*thread-row--unread"[^>]*>.*?</li>', html, re.S)
    return [name for row in rows for name in names_in_order(row)]


async def test_filters_by_channel_assignee_and_text(agent_client: httpx.AsyncClient, api: Api) -> None:
    client = agent_client
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "my parcel is late", contact_id="a", name="Anna")
    await api.inbound(shop, "invoice please", contact_id="b", name="Bram", email="bram@example.com")
    await api.inbound(shop, "hello there", contact_id="c", name="Cleo")
    threads = {t["contact"]["name"]: t for t in (await api.get("/api/v1/threads/"))["items"]}
    me = (await client.get("/api/v1/me")).json()  # the console's cookie works on the API too
    await api.patch(f"/api/v1/threads/{threads['Bram']['id']}", {"assignee_id": me["id"]})

    assert names_in_order((await client.get("/")).text) == ["Cleo", "Bram", "Anna"]
    assert names_in_order((await client.get("/?assignee=me")).text) == ["Bram"]
    assert names_in_order((await client.get("/?assignee=unassigned")).text) == ["Cleo", "Anna"]
    assert names_in_order((await client.get("/?q=PARCEL")).text) == ["Anna"]
    assert names_in_order((await client.get("/?q=bram%40example")).text) == ["Bram"]
    assert names_in_order((await client.get("/?channel=api")).text) == ["Cleo", "Bram", "Anna"]
    none = (await client.get("/?channel=telegram")).text
    assert names_in_order(none) == [] and "No threads match these filters." in none
    # Unknown values are ignored, never an error page.
    assert (await client.get("/?status=bogus&channel=fax&assignee=x")).status_code == 200


async def test_filter_form_with_htmx_swaps_the_results_and_keeps_filters_live(
    agent_client: httpx.AsyncClient, api: Api
) -> None:
    client = agent_client
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "my parcel is late", contact_id="a", name="Anna")
    await api.inbound(shop, "hello", contact_id="b", name="Bram")
    response = await client.get(
        "/?q=parcel&status=open", headers={"HX-Request": "true", "HX-Target": "inbox-results"}
    )
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<div id="inbox-results"') and "<html" not in html
    assert names_in_order(html) == ["Anna"]
    # The live socket of the swapped results follows the same filters.
    connect = re.search(r'ws-connect="([^"]+)"', html)
    assert connect and "view=inbox" in connect.group(1) and "q=parcel" in connect.group(1)
    assert "status=open" in connect.group(1) and "last_event_id=" in connect.group(1)


async def test_pages_by_cursor_with_a_sentinel_and_a_plain_link(
    agent_client: httpx.AsyncClient, api: Api, app: Litestar
) -> None:
    client = agent_client
    shop = await api.add_api_channel("Shop")
    for n in range(53):
        await api.inbound(shop, f"message {n}", contact_id=f"c{n}", name=f"Customer {n:02d}")
    first = (await client.get("/")).text
    assert len(names_in_order(first)) == 50 and names_in_order(first)[0] == "Customer 52"
    sentinel = re.search(r'<li id="thread-list-more"[^>]*hx-get="([^"]+)"[^>]*hx-trigger="revealed"', first)
    link = re.search(r'<a href="(/\?cursor=[^"]+)">Older threads</a>', first)
    assert sentinel and link
    more = await client.get(
        sentinel.group(1).replace("&amp;", "&"),
        headers={"HX-Request": "true", "HX-Target": "thread-list-more"},
    )
    rows = more.text
    assert "<ul" not in rows and "<html" not in rows
    assert names_in_order(rows) == ["Customer 02", "Customer 01", "Customer 00"]
    assert "thread-list-more" not in rows  # the last page has no sentinel
    # Without JavaScript the link shows the next page in full (without a live socket: it is old).
    older = (await client.get(link.group(1).replace("&amp;", "&"))).text
    assert names_in_order(older) == ["Customer 02", "Customer 01", "Customer 00"]
    assert "ws-connect" not in older


async def test_unread_until_the_agent_opens_the_thread_and_again_on_a_new_message(
    agent_client: httpx.AsyncClient, api: Api, app: Litestar
) -> None:
    client = agent_client
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "first", contact_id="a", name="Anna")
    await api.inbound(shop, "second", contact_id="b", name="Bram")
    threads = {t["contact"]["name"]: t for t in (await api.get("/api/v1/threads/"))["items"]}
    page = (await client.get("/")).text
    assert unread_names(page) == ["Bram", "Anna"] and page.count("Unread:") == 2

    assert (await client.get(f"/threads/{threads['Anna']['id']}")).status_code == 200
    assert unread_names((await client.get("/")).text) == ["Bram"]
    # Another agent has their own marks: Anna is still unread for them.
    await do_create_agent(app.state.writer, email="bo@example.com", name="Bo", password=PASSWORD)
    async with http_client(app) as other:
        assert (await login(other, "bo@example.com")).status_code == 303
        assert unread_names((await other.get("/")).text) == ["Bram", "Anna"]

    # The agent's own reply does not make it unread; the customer writing again does.
    await api.post(f"/api/v1/threads/{threads['Anna']['id']}/notes", {"text": "checking"}, expect=201)
    assert unread_names((await client.get("/")).text) == ["Bram"]
    await api.inbound(shop, "third", contact_id="a", name="Anna")
    assert unread_names((await client.get("/")).text) == ["Anna", "Bram"]


async def test_a_read_mark_never_moves_back(agent_client: httpx.AsyncClient, api: Api, app: Litestar) -> None:
    """Two tabs marking at once: the one that rendered earlier (an older message) writes last."""
    client = agent_client
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "first", contact_id="a", name="Anna")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    assert (await client.get(f"/threads/{thread_id}")).status_code == 200
    assert unread_names((await client.get("/")).text) == []
    me = (await client.get("/api/v1/me")).json()["id"]
    older = datetime(2000, 1, 1, tzinfo=UTC)
    await do_mark_read(app.state.writer, agent_id=me, thread_id=thread_id, read_at=older)
    assert unread_names((await client.get("/")).text) == []
    # The customer writing again still counts: the mark is the message shown, not a time far ahead.
    await api.inbound(shop, "second", contact_id="a", name="Anna")
    assert unread_names((await client.get("/")).text) == ["Anna"]


async def test_top_bar_search_goes_to_the_inbox(agent_client: httpx.AsyncClient, api: Api) -> None:
    client = agent_client
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "hi", contact_id="a", name="Anna")
    thread = (await api.get("/api/v1/threads/"))["items"][0]
    page = (await client.get(f"/threads/{thread['id']}")).text
    assert re.search(r'<form class="topbar-search" method="get" action="/"', page)
    assert 'id="topbar-q" name="q"' in page


async def test_api_accepts_the_console_cookie_with_csrf_for_writes(
    agent_client: httpx.AsyncClient, api: Api
) -> None:
    client = agent_client
    shop = await api.add_api_channel("Shop")
    await api.inbound(shop, "hi", contact_id="a", name="Anna")
    thread = (await api.get("/api/v1/threads/"))["items"][0]
    no_bearer = {"Authorization": ""}

    listed = await client.get("/api/v1/threads/", headers=no_bearer)
    assert listed.status_code == 200 and listed.json()["items"][0]["contact"]["name"] == "Anna"

    refused = await client.post(
        f"/api/v1/threads/{thread['id']}/notes", json={"text": "x"}, headers=no_bearer
    )
    assert refused.status_code == 403
    assert "X-CSRFToken" in refused.json()["detail"]
    forged = await client.post(
        f"/api/v1/threads/{thread['id']}/notes",
        json={"text": "x"},
        headers={**no_bearer, "X-CSRFToken": "forged" * 10},
    )
    assert forged.status_code == 403

    page = await client.get("/")
    token = csrf_from(page.text)
    assert client.cookies.get(CSRF_COOKIE)
    note = await client.post(
        f"/api/v1/threads/{thread['id']}/notes",
        json={"text": "from the console's script"},
        headers={**no_bearer, "X-CSRFToken": token},
    )
    assert note.status_code == 201, note.text
    assert note.json()["author"]["name"] == "Ada Agent"

    # Bearer callers are unaffected: no CSRF header, and the token's agent, not the cookie's.
    by_token = await api.post(f"/api/v1/threads/{thread['id']}/notes", {"text": "by token"}, expect=201)
    assert by_token.json()["author"]["name"] == "Ada Admin"

    # Logged out: the cookie authorizes nothing any more.
    await client.post("/logout", data={"_csrf_token": token})
    assert (await client.get("/api/v1/threads/", headers=no_bearer)).status_code == 401
