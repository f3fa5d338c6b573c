"""Replies on Messenger, end to end: the real ``MessengerAdapter`` and HTTP client against a local
fake of the Send API, through the real job queue, on both shapes.

The customer writes through the real webhook route (signed like Meta signs), with the event's
``timestamp`` set to when they wrote; the agent replies through the JSON API; what Meta would
receive and what the agent then sees on the reply are checked.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import pytest

from app.domain.channels.accounts import do_add_channel_account
from integrations.messenger import MessengerAdapter
from integrations.registry import AdapterRegistry
from tests.fakes.delivery import reply, wait_for_status
from tests.fakes.graph_api import GraphApi
from tests.helpers import Api
from tests.integration.test_messenger_webhook import APP_SECRET, PAGE, VERIFY_TOKEN, fixture, post

PSID = "5550001112223334"
TOKEN = "EAAB-page-token-not-for-logs"
HOUR = 3600.0


@pytest.fixture
def registry() -> AdapterRegistry:
    return AdapterRegistry([MessengerAdapter()])


@pytest.fixture
async def graph() -> AsyncIterator[GraphApi]:
    async with GraphApi() as server:
        yield server


async def _customer_wrote(api: Api, graph: GraphApi, *, hours_ago: float = 0.0) -> int:
    """A page whose Graph URL is the fake; the customer writes ``hours_ago``; the thread's id."""
    created = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE, "graph_url": graph.url},
        secrets={"page_token": TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": int((time.time() - hours_ago * HOUR) * 1000),
        "message": {"mid": "m.customer.1", "text": "Where is my parcel?"},
    }
    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]}).encode()
    assert (await post(api.client, created.account.id, body)).status_code == 200
    [thread] = (await api.get("/api/v1/threads"))["items"]
    return int(thread["id"])


async def test_reply_goes_out_as_a_response_with_metas_message_id(
    api: Api, graph: GraphApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    thread_id = await _customer_wrote(api, graph)

    sent = await reply(api, thread_id, "It left the warehouse today.")
    message = await wait_for_status(api.writer, sent["id"])

    assert message.delivery_status == "sent"
    assert message.external_id == "m_graph-1"
    [request] = graph.requests
    assert (request.method, request.path) == ("POST", "/v21.0/me/messages")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.path  # never in a URL, where logs and proxies keep it
    assert request.json() == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "It left the warehouse today."},
    }
    [shown] = [m for m in await api.timeline(thread_id) if m["id"] == sent["id"]]
    assert shown["delivery_status"] == "sent"
    assert TOKEN not in caplog.text


async def test_after_24_hours_a_persons_reply_carries_the_human_agent_tag(api: Api, graph: GraphApi) -> None:
    thread_id = await _customer_wrote(api, graph, hours_ago=30)

    sent = await reply(api, thread_id, "Sorry for the wait, it ships tomorrow.")
    assert (await wait_for_status(api.writer, sent["id"])).delivery_status == "sent"

    [body] = graph.sends
    assert body["messaging_type"] == "MESSAGE_TAG"
    assert body["tag"] == "HUMAN_AGENT"
    assert body["message"] == {"text": "Sorry for the wait, it ships tomorrow."}


async def test_after_7_days_the_reply_is_refused_up_front_and_nothing_is_sent(
    api: Api, graph: GraphApi
) -> None:
    thread_id = await _customer_wrote(api, graph, hours_ago=8 * 24)

    response = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "Still there?"})

    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"].endswith("/channel-unavailable")
    assert problem["channel"] == "messenger"
    assert "24-hour window has closed" in problem["detail"]
    assert "the customer has to write first" in problem["detail"]
    assert [m["text"] for m in await api.timeline(thread_id)] == ["Where is my parcel?"]
    assert graph.requests == []


async def test_a_long_reply_goes_as_two_messages(api: Api, graph: GraphApi) -> None:
    thread_id = await _customer_wrote(api, graph)
    text = " ".join(["parcel"] * 357)  # 2,499 characters
    assert 2000 < len(text) < 4000

    sent = await reply(api, thread_id, text)
    message = await wait_for_status(api.writer, sent["id"])

    assert message.delivery_status == "sent"
    first, second = graph.sends
    assert len(first["message"]["text"]) <= 2000
    assert len(second["message"]["text"]) <= 2000
    assert f"{first['message']['text']} {second['message']['text']}" == text
    assert message.external_id == "m_graph-2"


async def test_a_rate_limit_is_retried_then_sent(api: Api, graph: GraphApi) -> None:
    thread_id = await _customer_wrote(api, graph)
    graph.fail_next(613, "Calls to this api have exceeded the rate limit.", status=400)

    sent = await reply(api, thread_id, "Your refund is on its way.")
    message = await wait_for_status(api.writer, sent["id"])

    assert message.delivery_status == "sent"
    assert message.delivery_attempts == 2
    assert len(graph.requests) == 2
    assert graph.sends[0] == graph.sends[1]


async def test_a_person_who_is_not_available_fails_with_graphs_reason(api: Api, graph: GraphApi) -> None:
    thread_id = await _customer_wrote(api, graph)
    graph.fail_next(551, "This person isn't available right now.", status=400, subcode=1545041)

    sent = await reply(api, thread_id, "Hello?")
    message = await wait_for_status(api.writer, sent["id"])

    assert message.delivery_status == "failed"
    assert message.delivery_attempts == 1
    assert len(graph.requests) == 1
    [shown] = [m for m in await api.timeline(thread_id) if m["id"] == sent["id"]]
    assert (
        shown["delivery_error"] == "Messenger answered 400 (code 551): This person isn't available right now."
    )
    assert TOKEN not in shown["delivery_error"]


# ------------------------------------------------------------------------------------------------
# Meta's documented Send API bodies (tests/fixtures/facebook), against what the adapter sends
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "hours_ago"),
    [
        ("meta_docs_send_api_request_text_response.json", 0.0),
        ("send_api_request_human_agent_tag__composed_from_docs.json", 30.0),
    ],
)
async def test_the_request_is_metas_documented_body(
    api: Api, graph: GraphApi, name: str, hours_ago: float
) -> None:
    documented = json.loads(fixture(name).decode().replace("{PSID}", PSID))
    thread_id = await _customer_wrote(api, graph, hours_ago=hours_ago)

    sent = await reply(api, thread_id, documented["message"]["text"])

    assert (await wait_for_status(api.writer, sent["id"])).delivery_status == "sent"
    assert graph.sends == [documented]


async def test_metas_success_body_gives_the_reply_its_message_id(api: Api, graph: GraphApi) -> None:
    thread_id = await _customer_wrote(api, graph)
    graph.answer_next(200, body=fixture("meta_docs_send_api_response_success.json"))

    sent = await reply(api, thread_id, "hello, world")

    message = await wait_for_status(api.writer, sent["id"])
    assert (message.delivery_status, message.external_id) == ("sent", "AG5Hz2U...")


async def test_metas_outside_the_window_error_fails_the_reply_with_its_words(
    api: Api, graph: GraphApi
) -> None:
    thread_id = await _customer_wrote(api, graph, hours_ago=2)  # our clock says open; Meta's says not
    graph.answer_next(400, body=fixture("send_api_error_outside_window_code10__botframework-issue-2050.json"))

    sent = await reply(api, thread_id, "Are you still there?")

    message = await wait_for_status(api.writer, sent["id"])
    assert (message.delivery_status, message.delivery_attempts) == ("failed", 1)
    assert message.delivery_error is not None
    assert message.delivery_error.startswith(
        "Messenger answered 400 (code 10): (#10) This message is sent outside of allowed window."
    )
