"""A Messenger customer's name, fetched once from Meta's User Profile API, on both shapes.

The customer writes through the real webhook route (signed like Meta signs); the real job queue
runs the lookup with the real HTTP client against the local fake Graph server; what an agent sees
(the contact's name through the API, the thread page's title, the author of the messages) and what
Meta is asked (how often, with which credentials) are checked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.core import create_app
from app.db.models import Identity
from app.domain.channels.accounts import do_add_channel_account
from app.domain.realtime.writer import Writer
from app.settings import Settings
from tests.conftest import running
from tests.fakes.graph_api import GraphApi
from tests.helpers import Api
from tests.integration.test_messenger_webhook import APP_SECRET, PAGE, VERIFY_TOKEN, post

PSID = "5550001112223334"
IDENTITY = f"{PAGE}:{PSID}"
TOKEN = "EAAB-page-token-not-for-logs"
_mids = count(1)


@pytest.fixture
async def graph() -> AsyncIterator[GraphApi]:
    async with GraphApi() as server:
        yield server


async def add_page(api: Api, graph: GraphApi) -> str:
    created = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE, "graph_url": graph.url},
        secrets={"page_token": TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    return created.account.id


async def customer_writes(client: httpx.AsyncClient, account: str, text: str, psid: str = PSID) -> None:
    event = {
        "sender": {"id": psid},
        "recipient": {"id": PAGE},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": f"m.customer.{next(_mids)}", "text": text},
    }
    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]}).encode()
    response = await post(client, account, body)
    assert response.status_code == 200, response.text


async def profile_record(writer: Writer, external_id: str = IDENTITY, within: float = 10.0) -> dict[str, Any]:
    """Wait until the lookup for this identity has recorded its outcome; that record."""
    async with asyncio.timeout(within):
        while True:
            async with writer.sessionmaker() as session:
                query = select(Identity).where(col(Identity.external_id) == external_id)
                identity = (await session.execute(query)).scalar_one_or_none()
            record = (identity.attributes or {}).get("messenger_profile") if identity else None
            if record:
                return dict(record)
            await asyncio.sleep(0.02)


async def the_contact(api: Api) -> dict[str, Any]:
    [thread] = (await api.get("/api/v1/threads"))["items"]
    return await api.get(f"/api/v1/contacts/{thread['contact']['id']}")  # type: ignore[no-any-return]


async def quiet(graph: GraphApi, seconds: float = 0.3) -> None:
    """Give any lookup a message may have started the time to reach the fake."""
    await asyncio.sleep(seconds)


async def test_a_new_customers_name_appears_on_the_contact_and_the_thread_page(
    api: Api, graph: GraphApi, agent_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    graph.add_profile(
        PSID, first_name="Lena", last_name="Lind", profile_pic="https://platform-lookaside.fbsbx.com/p.jpg"
    )
    account = await add_page(api, graph)

    await customer_writes(api.client, account, "Where is my parcel?")

    assert (await profile_record(api.writer))["status"] == "stored"
    contact = await the_contact(api)
    assert contact["name"] == "Lena Lind"
    [identity] = contact["identities"]
    assert (identity["external_id"], identity["display_name"]) == (IDENTITY, "Lena Lind")
    page = await agent_client.get(f"/threads/{contact['thread_id']}")
    assert '<h1 id="thread-title">Lena Lind</h1>' in page.text
    [message] = await api.timeline(contact["thread_id"])
    assert message["author"]["name"] == "Lena Lind"  # the message that started the lookup too

    [lookup] = graph.profile_requests
    assert lookup.method == "GET"
    assert lookup.path == f"/v21.0/{PSID}?fields=first_name%2Clast_name%2Cprofile_pic"
    assert lookup.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in caplog.text

    # Known now: the next messages ask Meta nothing, and carry the name.
    await customer_writes(api.client, account, "Hello?")
    await quiet(graph)
    assert len(graph.profile_requests) == 1
    assert [m["author"]["name"] for m in await api.timeline(contact["thread_id"])] == ["Lena Lind"] * 2


async def test_an_agents_name_for_the_contact_is_kept(api: Api, graph: GraphApi) -> None:
    graph.add_profile(PSID, first_name="Lena", last_name="Lind")
    graph.latency = 0.5  # Meta answers while the agent is already typing the name in
    account = await add_page(api, graph)
    await customer_writes(api.client, account, "Where is my parcel?")
    contact = await the_contact(api)

    await api.patch(f"/api/v1/contacts/{contact['id']}", {"name": "Mrs. Lind (order 4711)"})
    await profile_record(api.writer)

    contact = await the_contact(api)
    assert contact["name"] == "Mrs. Lind (order 4711)"
    [identity] = contact["identities"]
    assert identity["display_name"] == "Lena Lind"  # what Messenger calls her, shown beside it


async def test_a_refusal_is_asked_once_and_never_again(api: Api, graph: GraphApi, settings: Settings) -> None:
    graph.add_profile(PSID, first_name="Lena", last_name="Lind")
    graph.fail_profile(PSID, 10, "(#10) Application does not have permission for this action", status=403)
    account = await add_page(api, graph)

    await customer_writes(api.client, account, "Where is my parcel?")
    record = await profile_record(api.writer)
    assert record["status"] == "refused" and record["code"] == 10
    assert "does not have permission" in record["reason"]

    await customer_writes(api.client, account, "Hello?")
    await customer_writes(api.client, account, "Anyone there?")
    # And after a restart (a process that has never seen this customer): still not asked again.
    restarted = create_app(settings)
    async with running(restarted):
        transport = httpx.ASGITransport(app=restarted)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as other:
            await customer_writes(other, account, "Still waiting.")
            await quiet(graph)

    assert len(graph.profile_requests) == 1
    contact = await the_contact(api)
    assert contact["name"] is None
    assert len(await api.timeline(contact["thread_id"])) == 4


async def test_graph_errors_are_retried_then_the_name_is_stored(api: Api, graph: GraphApi) -> None:
    graph.add_profile(PSID, first_name="Lena", last_name="Lind")
    graph.fail_profile(PSID, 2, "Service temporarily unavailable", status=503)
    graph.fail_profile(PSID, 613, "Calls to this api have exceeded the rate limit.", status=400)
    account = await add_page(api, graph)

    await customer_writes(api.client, account, "Where is my parcel?")

    record = await profile_record(api.writer)
    assert (record["status"], record["attempts"]) == ("stored", 3)
    assert len(graph.profile_requests) == 3
    assert (await the_contact(api))["name"] == "Lena Lind"


async def test_graph_down_for_every_retry_is_not_asked_on_each_message(api: Api, graph: GraphApi) -> None:
    graph.fail_profile(PSID, 1, "An unknown error occurred", status=500, count=10)
    account = await add_page(api, graph)

    await customer_writes(api.client, account, "Where is my parcel?")
    record = await profile_record(api.writer)
    assert (record["status"], record["attempts"]) == ("failed", 3)

    await customer_writes(api.client, account, "Hello?")
    await quiet(graph)
    assert len(graph.profile_requests) == 3  # the next try waits a day, not for the next message
    assert (await the_contact(api))["name"] is None


async def test_a_page_without_a_token_asks_nothing(api: Api, graph: GraphApi) -> None:
    created = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE, "graph_url": graph.url},
        secrets={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    graph.add_profile(PSID, first_name="Lena", last_name="Lind")
    await customer_writes(api.client, created.account.id, "Where is my parcel?")
    await quiet(graph)
    assert graph.profile_requests == []
