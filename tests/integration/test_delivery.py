"""Outbound delivery through the job queue, on both shapes, with a recording adapter.

The reply is stored ``queued`` with a ``message.created`` event; the job (taskiq: in-memory broker
embedded, a Redis stream in production) sends it through the adapter, retries retryable failures
with exponential backoff, stops on permanent ones, and writes each status change as a
``message.updated`` event.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

from app.core import create_app
from app.db.models import Agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.channels.delivery import RedisLocks, RetryPolicy, deliver_message
from app.domain.channels.jobs import Jobs
from app.domain.inbox.actions import do_ingest, do_send_reply
from app.settings import Settings
from integrations.registry import AdapterRegistry
from integrations.testing import RecordingAdapter
from integrations.types import ContactClaim, InboundMessage, InboundSender
from tests.conftest import running
from tests.fakes.delivery import (
    announced_delays,
    message_events,
    message_row,
    reply,
    statuses,
    wait_for_events,
    wait_for_status,
)
from tests.helpers import Api


@pytest.fixture
def registry() -> AdapterRegistry:
    return AdapterRegistry([RecordingAdapter("api"), RecordingAdapter("email")])


@pytest.fixture
def recorder(registry: AdapterRegistry) -> RecordingAdapter:
    adapter = registry.get("api")
    assert isinstance(adapter, RecordingAdapter)
    return adapter


async def _customer_thread(api: Api, text: str = "Where is my order?") -> tuple[int, str]:
    channel = await api.add_api_channel()
    inbound = await api.inbound(channel, text, contact_id="cust-1", name="Bo Berg")
    return int(inbound["thread_id"]), channel.id


def _gap(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds()


async def test_reply_is_queued_then_sent_with_events(api: Api, recorder: RecordingAdapter) -> None:
    thread_id, account_id = await _customer_thread(api)

    body = await reply(api, thread_id, "It ships today.")
    assert body["delivery_status"] == "queued"
    assert body["channel"] == "api"
    assert body["direction"] == "out"

    [sent] = await recorder.wait_for_sends(1)
    assert sent.message_id == body["id"]
    assert sent.text == "It ships today."
    assert sent.recipient_id == f"{account_id}:cust-1"
    assert sent.idempotency_key == f"onethread-message-{body['id']}"
    assert sent.author_name == "Ada Admin"

    await wait_for_status(api.writer, body["id"])
    timeline = await api.timeline(thread_id)
    assert [(m["text"], m["delivery_status"]) for m in timeline] == [
        ("Where is my order?", None),
        ("It ships today.", "sent"),
    ]
    events = await message_events(api.writer, body["id"])
    assert statuses(events) == [("message.created", "queued", None), ("message.updated", "sent", None)]
    assert recorder.attempts == 1


async def test_retryable_failures_back_off_exponentially_then_send(
    api: Api, recorder: RecordingAdapter
) -> None:
    thread_id, _ = await _customer_thread(api)
    recorder.fail_next(2, reason="gateway timeout")

    body = await reply(api, thread_id, "Second try lucky?")
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "sent"
    assert recorder.attempts == 3
    assert len(recorder.sent) == 1
    events = await message_events(api.writer, body["id"])
    assert statuses(events) == [
        ("message.created", "queued", None),
        ("message.updated", "queued", "attempt 1 failed (gateway timeout); retrying in 0.05s"),
        ("message.updated", "queued", "attempt 2 failed (gateway timeout); retrying in 0.1s"),
        ("message.updated", "sent", None),
    ]
    # Exponential: each announced wait doubles (base 0.05 s in the test settings) ...
    assert announced_delays(events) == [0.05, 0.1]
    # ... and the job really waited that long between attempts (event times, same clock).
    updates = events[1:]
    assert _gap(updates[0].created_at, updates[1].created_at) >= 0.05 - 0.005
    assert _gap(updates[1].created_at, updates[2].created_at) >= 0.1 - 0.005


async def test_permanent_failure_stops_at_once(api: Api, recorder: RecordingAdapter) -> None:
    thread_id, _ = await _customer_thread(api)
    recorder.fail_next(1, retryable=False, reason="user blocked the bot")

    body = await reply(api, thread_id, "Hello?")
    message = await wait_for_status(api.writer, body["id"])
    await asyncio.sleep(0.2)  # longer than the first backoff: a retry would have happened by now

    assert message.delivery_status == "failed"
    assert recorder.attempts == 1
    [shown] = [m for m in await api.timeline(thread_id) if m["id"] == body["id"]]
    assert shown["delivery_status"] == "failed"
    assert shown["delivery_error"] == "user blocked the bot"
    events = await message_events(api.writer, body["id"])
    assert statuses(events)[-1] == ("message.updated", "failed", "user blocked the bot")


async def test_gives_up_after_max_attempts(api: Api, recorder: RecordingAdapter, settings: Settings) -> None:
    thread_id, _ = await _customer_thread(api)
    recorder.fail_next(50, reason="still down")

    body = await reply(api, thread_id, "Anyone there?")
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "failed"
    assert message.delivery_error == f"gave up after {settings.delivery_max_attempts} attempts: still down"
    assert recorder.attempts == settings.delivery_max_attempts == message.delivery_attempts
    events = await message_events(api.writer, body["id"])
    assert announced_delays(events) == [0.05, 0.1, 0.2]
    assert len(events) == 1 + settings.delivery_max_attempts


async def test_adapter_crash_is_retried_and_shown(api: Api, recorder: RecordingAdapter) -> None:
    """A bug in an adapter (not a DeliveryError) must not strand the message; it is retried visibly."""
    thread_id, _ = await _customer_thread(api)
    original = recorder.send
    calls = 0

    async def crash_once(account, message):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("signing_secret")
        return await original(account, message)

    recorder.send = crash_once  # type: ignore[method-assign]
    body = await reply(api, thread_id, "Crash test")
    message = await wait_for_status(api.writer, body["id"])
    assert message.delivery_status == "sent"
    events = await message_events(api.writer, body["id"])
    assert statuses(events)[1] == (
        "message.updated",
        "queued",
        "attempt 1 failed (adapter error: KeyError); retrying in 0.05s",
    )


# ------------------------------------------------------------------------------------------------
# which channel a reply goes out on, and the 409s
# ------------------------------------------------------------------------------------------------
async def test_reply_on_a_channel_the_customer_never_used_is_409(api: Api, registry: AdapterRegistry) -> None:
    thread_id, _ = await _customer_thread(api)

    response = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "hi", "channel": "email"})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/channel-unavailable")
    assert problem["status"] == 409
    # Email may start a conversation (see test_email_channel), but only to an address we know.
    assert "has no email address" in problem["detail"]
    assert problem["channel"] == "email"

    response = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "hi", "channel": "telegram"})
    assert response.status_code == 409, response.text
    assert "cannot send on Telegram" in response.json()["detail"]

    # Nothing was stored or sent for the refused replies.
    assert [m["text"] for m in await api.timeline(thread_id)] == ["Where is my order?"]
    assert all(isinstance(a, RecordingAdapter) and a.attempts == 0 for a in registry)


async def _email_inbound(api: Api, account_id: str, address: str, text: str) -> int:
    result = await do_ingest(
        api.writer,
        InboundMessage(
            channel="email",
            account_id=account_id,
            external_id=f"<{text.replace(' ', '.')}@mail.example>",
            sender=InboundSender(
                channel="email", external_id=address, claims=(ContactClaim("email", address, verified=True),)
            ),
            text=text,
        ),
    )
    return result.thread_id


async def test_default_channel_is_the_customers_last_inbound_channel(
    api: Api, registry: AdapterRegistry
) -> None:
    api_channel = await api.add_api_channel()
    mailbox = await do_add_channel_account(api.writer, channel="email", name="Support mailbox")
    first = await api.inbound(api_channel, "Order 12?", contact_id="c-7", email="bo@example.com")
    thread_id = await _email_inbound(api, mailbox.account.id, "bo@example.com", "Also by mail")
    assert thread_id == first["thread_id"]  # one thread per customer across channels
    email, api_adapter = registry.get("email"), registry.get("api")
    assert isinstance(email, RecordingAdapter) and isinstance(api_adapter, RecordingAdapter)

    on_email = await reply(api, thread_id, "Answered by mail")
    assert on_email["channel"] == "email"
    [sent] = await email.wait_for_sends(1)
    assert sent.recipient_id == "bo@example.com"

    await api.inbound(api_channel, "Back on the order system", contact_id="c-7")
    on_api = await reply(api, thread_id, "Answered on the order system")
    assert on_api["channel"] == "api"
    [sent] = await api_adapter.wait_for_sends(1)
    assert sent.recipient_id == f"{api_channel.id}:c-7"

    # An explicit channel the customer has used wins over the default.
    explicit = await reply(api, thread_id, "And by mail too", channel="email")
    assert explicit["channel"] == "email"
    await email.wait_for_sends(2)
    for body in (on_email, on_api, explicit):
        assert (await wait_for_status(api.writer, body["id"])).delivery_status == "sent"


# ------------------------------------------------------------------------------------------------
# restarts
# ------------------------------------------------------------------------------------------------
async def _agent(api: Api) -> Agent:
    async with api.writer.sessionmaker() as session:
        agent = await session.get(Agent, api.agent_id)
        assert agent is not None
        return agent


async def _nothing(_: int) -> None:
    """An enqueue that never happens: the process died between commit and enqueue."""


async def _stored_never_enqueued(api: Api, thread_id: int, text: str) -> int:
    """A reply committed as ``queued`` whose job was never enqueued (the process died in between)."""
    message = await do_send_reply(
        api.writer,
        AdapterRegistry([RecordingAdapter("api")]),
        _nothing,
        agent=await _agent(api),
        thread_id=thread_id,
        text=text,
    )
    assert message.id is not None
    return message.id


async def test_message_left_queued_is_delivered_once_on_next_worker_start(
    api: Api, settings: Settings
) -> None:
    thread_id, _ = await _customer_thread(api)
    message_id = await _stored_never_enqueued(api, thread_id, "Stored, never enqueued")
    await asyncio.sleep(0.1)
    assert (await message_row(api.writer, message_id)).delivery_status == "queued"

    adapter = RecordingAdapter("api")
    # A worker of its own (own stream in production), so the app's in-process worker stays out of it.
    restarted = settings.with_overrides(job_queue=f"{settings.job_queue}:restarted")
    jobs = Jobs(restarted, api.writer, AdapterRegistry([adapter]))
    await jobs.start(as_worker=True)
    try:
        final = await wait_for_status(api.writer, message_id)
        await asyncio.sleep(0.2)
    finally:
        await jobs.stop()
    assert final.delivery_status == "sent"
    assert [m.message_id for m in adapter.messages] == [message_id]
    assert adapter.attempts == 1


@pytest.mark.parametrize("shape", ["production"])  # the in-memory broker has no stream to outlive it
async def test_restart_with_a_job_still_in_the_stream_sends_once(settings: Settings) -> None:
    """Production: the app enqueued to Redis and stopped before any worker ran the job. The next
    worker both reads that job from the stream and re-enqueues every queued message on start; the
    message must still go out exactly once."""
    enqueue_only = settings.with_overrides(run_worker_in_process=False)
    first_app = create_app(enqueue_only, registry=AdapterRegistry([RecordingAdapter("api")]))
    async with running(first_app), _http(first_app) as client:
        api = await Api.login(client, first_app)
        thread_id, _ = await _customer_thread(api)
        body = await reply(api, thread_id, "Left in the stream")
        await asyncio.sleep(0.1)
        assert (await message_row(api.writer, body["id"])).delivery_status == "queued"

    adapter = RecordingAdapter("api", latency=0.2)  # both copies of the job overlap if unguarded
    second_app = create_app(settings, registry=AdapterRegistry([adapter]))
    async with running(second_app):
        final = await wait_for_status(second_app.state.writer, body["id"])
        await asyncio.sleep(0.5)
    assert final.delivery_status == "sent"
    assert adapter.attempts == 1, f"sent {adapter.attempts} times"


def _http(app: Litestar) -> httpx.AsyncClient:
    # httpx types its ASGI app with plain mappings, Litestar with typed scope dicts: same protocol.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


async def test_stopping_during_a_backoff_wait_is_prompt_and_the_next_start_delivers(
    api: Api, settings: Settings
) -> None:
    thread_id, _ = await _customer_thread(api)
    message_id = await _stored_never_enqueued(api, thread_id, "Patience")
    own_queue = settings.with_overrides(job_queue=f"{settings.job_queue}:own")
    adapter = RecordingAdapter("api")
    adapter.fail_next(1, reason="come back later", retry_after=30)

    jobs = Jobs(own_queue, api.writer, AdapterRegistry([adapter]))
    await jobs.start(as_worker=True)
    events = await wait_for_events(api.writer, message_id, 2)
    assert statuses(events)[-1][2] == "attempt 1 failed (come back later); retrying in 30s"
    started = time.monotonic()
    await jobs.stop()
    assert time.monotonic() - started < 2, "stop waited for the 30 s backoff"
    assert (await message_row(api.writer, message_id)).delivery_status == "queued"

    jobs = Jobs(own_queue, api.writer, AdapterRegistry([adapter]))
    await jobs.start(as_worker=True)
    try:
        final = await wait_for_status(api.writer, message_id)
    finally:
        await jobs.stop()
    assert final.delivery_status == "sent"
    assert adapter.attempts == 2
    assert len(adapter.sent) == 1


@pytest.mark.parametrize("shape", ["production"])
async def test_a_dead_holders_lock_runs_out_and_the_next_job_takes_over(api: Api, settings: Settings) -> None:
    thread_id, _ = await _customer_thread(api)
    message_id = await _stored_never_enqueued(api, thread_id, "Orphaned")
    redis = Redis.from_url(settings.redis_url)
    try:
        locks = RedisLocks(redis, f"{settings.job_queue}:delivering", lease=0.3)
        policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)
        adapter = RecordingAdapter("api")
        registry = AdapterRegistry([adapter])

        # A live holder renews its lease past the first term; meanwhile nobody else gets in.
        async with locks.hold(message_id) as held:
            assert held
            await asyncio.sleep(0.5)
            assert await deliver_message(api.writer, registry, message_id, policy, locks=locks) is None
        assert adapter.attempts == 0

        # A holder that died: its lock is there, nobody renews it.
        await redis.set(locks.key(message_id), "dead-worker", px=300)
        assert await deliver_message(api.writer, registry, message_id, policy, locks=locks) is None
        assert adapter.attempts == 0
        await asyncio.sleep(0.35)
        assert await deliver_message(api.writer, registry, message_id, policy, locks=locks) == "sent"
        assert adapter.attempts == 1
        assert await redis.exists(locks.key(message_id)) == 0  # released after the delivery
    finally:
        await redis.aclose()


async def test_the_sweep_picks_up_a_message_stranded_while_the_worker_runs(
    api: Api, settings: Settings
) -> None:
    thread_id, _ = await _customer_thread(api)
    adapter = RecordingAdapter("api")
    own_queue = settings.with_overrides(job_queue=f"{settings.job_queue}:own")
    jobs = Jobs(own_queue, api.writer, AdapterRegistry([adapter]), sweep_interval=0.05, stale_after=0.2)
    await jobs.start(as_worker=True)
    try:
        message_id = await _stored_never_enqueued(api, thread_id, "Enqueue lost")
        await asyncio.sleep(0.1)
        assert adapter.attempts == 0  # not stale yet: it may still have a job on its way
        final = await wait_for_status(api.writer, message_id, within=5)
        await asyncio.sleep(0.2)  # more sweeps: a sent message is not picked up again
    finally:
        await jobs.stop()
    assert final.delivery_status == "sent"
    assert adapter.attempts == 1
