"""Messenger's delivery and read watermarks move our replies on to delivered and read.

The customer writes through the real webhook route; the agent's reply goes out through a
recording adapter standing in for the Send API (issue 4's outbound is not built yet); Meta's
receipts, signed like the real ones, then update the reply as an agent watching the thread sees it.
"""

from __future__ import annotations

import json
import time

import pytest

from integrations.registry import AdapterRegistry
from integrations.testing import RecordingAdapter
from tests.fakes.delivery import message_events, reply, wait_for_status
from tests.helpers import Api
from tests.integration.test_messenger_webhook import PAGE, add_page, post

PSID = "5550001112223334"


@pytest.fixture
def registry() -> AdapterRegistry:
    return AdapterRegistry([RecordingAdapter("messenger")])


def event(**body: object) -> bytes:
    messaging = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": int(time.time() * 1000),
        **body,
    }
    return json.dumps(
        {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [messaging]}]}
    ).encode()


def watermark(seconds_from_now: float) -> int:
    return int((time.time() + seconds_from_now) * 1000)


async def test_delivery_then_read_receipts_move_a_reply_forward_and_never_back(api: Api) -> None:
    account = await add_page(api)
    assert (
        await post(api.client, account, event(message={"mid": "m.customer.1", "text": "Where is my parcel?"}))
    ).status_code == 200
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    sent = await reply(api, thread_id, "It left the warehouse today.")
    assert (await wait_for_status(api.writer, sent["id"])).delivery_status == "sent"

    # A receipt from before the reply was sent says nothing about it.
    stale = event(delivery={"mids": ["m.other"], "watermark": watermark(-3600)})
    assert (await post(api.client, account, stale)).status_code == 200
    assert (await wait_for_status(api.writer, sent["id"])).delivery_status == "sent"

    delivered = event(delivery={"mids": ["m.reply"], "watermark": watermark(5)})
    assert (await post(api.client, account, delivered)).status_code == 200
    assert (await wait_for_status(api.writer, sent["id"], ("delivered",))).delivery_status == "delivered"

    read = event(read={"watermark": watermark(10)})
    assert (await post(api.client, account, read)).status_code == 200
    assert (await wait_for_status(api.writer, sent["id"], ("read",))).delivery_status == "read"

    # Meta retries and reorders: a late delivery receipt leaves a read message read.
    assert (await post(api.client, account, delivered)).status_code == 200
    assert (await wait_for_status(api.writer, sent["id"], ("read",))).delivery_status == "read"
    statuses = [e.data["message"]["delivery_status"] for e in await message_events(api.writer, sent["id"])]
    assert statuses[-2:] == ["delivered", "read"]
