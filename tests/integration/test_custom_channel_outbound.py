"""Replies on the custom channel, end to end: the real ``CustomChannelAdapter`` and HTTP client
against a real HTTP server on 127.0.0.1, through the real job queue, on both shapes."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from tests.fakes.callback_server import CallbackServer, RecordedRequest, free_port
from tests.fakes.delivery import (
    message_events,
    message_row,
    reply,
    statuses,
    wait_for_events,
    wait_for_status,
)
from tests.helpers import Api, ApiChannel

TEXT = "Dank je wel — €5 korting op je volgende bestelling"  # non-ASCII: raw UTF-8 on the wire


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Two more attempts than the default test settings: room to bring a receiver back up.
    return settings.with_overrides(delivery_max_attempts=6)


@pytest.fixture
async def server() -> AsyncIterator[CallbackServer]:
    async with CallbackServer() as running_server:
        yield running_server


async def _thread(api: Api, callback_url: str | None) -> tuple[ApiChannel, int]:
    channel = await api.add_api_channel(callback_url=callback_url)
    inbound = await api.inbound(channel, "Waar blijft mijn pakket?", contact_id="cust-42", name="Bo")
    return channel, int(inbound["thread_id"])


def _verify(request: RecordedRequest, secret: str) -> None:
    """What a receiver does: HMAC over the bytes it received, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-onethread-signature"], expected)


async def test_signed_post_retried_after_5xx_then_delivered(api: Api, server: CallbackServer) -> None:
    channel, thread_id = await _thread(api, server.url)
    server.answer_next(500, count=2, body=b"upstream exploded")

    body = await reply(api, thread_id, TEXT)
    message = await wait_for_status(api.writer, body["id"])
    requests = await server.wait_for(3)

    assert message.delivery_status == "sent"
    assert message.external_id == "cb-3"  # from the 200's X-Message-Id
    assert len(requests) == 3
    for request in requests:
        assert (request.method, request.path) == ("POST", "/callback")
        assert request.headers["content-type"] == "application/json"
        assert request.headers["idempotency-key"] == f"onethread-message-{body['id']}"
        _verify(request, channel.signing_secret)
    assert requests[0].body == requests[1].body == requests[2].body  # a retry is the same request
    assert "€".encode() in requests[0].body
    assert requests[0].json() == {
        "account_id": channel.id,
        "message_id": body["id"],
        "thread_id": thread_id,
        "contact_external_id": "cust-42",
        "text": TEXT,
        "author_name": "Ada Admin",
        "idempotency_key": f"onethread-message-{body['id']}",
    }
    # A signature over anything but the exact bytes does not verify.
    tampered = json.dumps(requests[0].json()).encode()
    forged = "sha256=" + hmac.new(channel.signing_secret.encode(), tampered, hashlib.sha256).hexdigest()
    assert forged != requests[0].headers["x-onethread-signature"]

    events = await message_events(api.writer, body["id"])
    assert statuses(events) == [
        ("message.created", "queued", None),
        ("message.updated", "queued", "attempt 1 failed (callback answered 500); retrying in 0.05s"),
        ("message.updated", "queued", "attempt 2 failed (callback answered 500); retrying in 0.1s"),
        ("message.updated", "sent", None),
    ]


async def test_429_retry_after_is_honoured(api: Api, server: CallbackServer, settings: Settings) -> None:
    _, thread_id = await _thread(api, server.url)
    server.answer_next(429, headers={"Retry-After": "1"})

    body = await reply(api, thread_id, "Rate limited")
    message = await wait_for_status(api.writer, body["id"])
    first, second = await server.wait_for(2)

    assert message.delivery_status == "sent"
    # Retry-After (1 s) is longer than both the first backoff and the backoff cap: it wins.
    assert settings.delivery_backoff_cap < 1
    assert second.received_at - first.received_at >= 1.0
    events = await message_events(api.writer, body["id"])
    assert statuses(events)[1][2] == "attempt 1 failed (callback answered 429); retrying in 1s"


async def test_400_fails_permanently_with_the_receivers_reason(api: Api, server: CallbackServer) -> None:
    _, thread_id = await _thread(api, server.url)
    server.answer_next(400, body=b'{"error": "unknown contact"}')

    body = await reply(api, thread_id, "Refused")
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "failed"
    assert message.delivery_error == 'callback answered 400: {"error": "unknown contact"}'
    assert len(server.requests) == 1
    [shown] = [m for m in await api.timeline(thread_id) if m["id"] == body["id"]]
    assert (shown["delivery_status"], shown["delivery_error"]) == ("failed", message.delivery_error)


async def test_receiver_down_is_retried_until_it_comes_back(api: Api) -> None:
    port = free_port()
    later = CallbackServer(port=port)
    channel, thread_id = await _thread(api, later.url)

    body = await reply(api, thread_id, "Are you up?")
    # The first attempt meets a closed port ...
    events = await wait_for_events(api.writer, body["id"], 2)
    assert statuses(events)[1] == (
        "message.updated",
        "queued",
        "attempt 1 failed (callback unreachable: ConnectError); retrying in 0.05s",
    )
    # ... then the receiver starts, and a later attempt gets through.
    async with later:
        message = await wait_for_status(api.writer, body["id"])
        [request] = await later.wait_for(1)
    assert message.delivery_status == "sent"
    _verify(request, channel.signing_secret)
    assert (await message_row(api.writer, body["id"])).delivery_attempts >= 2


async def test_reply_without_a_callback_url_is_409(api: Api) -> None:
    _, thread_id = await _thread(api, None)

    response = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "Hello?"})

    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/channel-unavailable")
    assert problem["detail"] == "this API channel has no callback URL, so replies cannot be delivered"
    assert [m["text"] for m in await api.timeline(thread_id)] == ["Waar blijft mijn pakket?"]
