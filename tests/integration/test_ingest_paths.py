"""Ingest has a PostgreSQL fast path for known customers in live threads; agents must not be able
to tell which path a message took. Both shapes run this: on SQLite every message takes the general
path, on PostgreSQL the second message onwards takes the fast one."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Event
from tests.helpers import Api


async def _events(api: Api, type_: str) -> list[Event]:
    async with api.writer.sessionmaker() as session:
        rows = await session.execute(select(Event).where(col(Event.type) == type_).order_by(col(Event.id)))
        return list(rows.scalars())


async def test_event_payloads_match_what_the_api_serves(api: Api) -> None:
    channel = await api.add_api_channel()
    first = await api.inbound(channel, "first message", contact_id="k", name="Kai Visser")
    second = await api.inbound(channel, "second message", contact_id="k")
    third = await api.inbound(channel, "third, named again", contact_id="k", name="Kai V.")
    assert first["thread_id"] == second["thread_id"] == third["thread_id"]

    timeline = await api.timeline(first["thread_id"])
    detail = await api.get(f"/api/v1/threads/{first['thread_id']}")
    events = await _events(api, "message.created")
    assert [e.data["message"] for e in events] == timeline
    last_thread = {**detail["thread"], "channels": []}
    assert events[-1].data["thread"] == last_thread
    assert [m["author"]["name"] for m in timeline] == ["Kai Visser", "Kai Visser", "Kai V."]
    assert detail["thread"]["last_message_preview"] == "third, named again"


async def test_retry_of_a_known_customers_message_is_a_duplicate(api: Api) -> None:
    channel = await api.add_api_channel()
    await api.inbound(channel, "hello", contact_id="d")
    once = await api.inbound(channel, "again", contact_id="d", external_id="retry-me")
    twice = await api.inbound(channel, "again", contact_id="d", external_id="retry-me")
    assert (once["duplicate"], twice["duplicate"]) == (False, True)
    assert once["message_id"] == twice["message_id"]
    assert [m["text"] for m in await api.timeline(once["thread_id"])] == ["hello", "again"]
    assert len(await _events(api, "message.created")) == 2


async def test_pending_thread_reopens_when_the_customer_writes(api: Api) -> None:
    channel = await api.add_api_channel()
    thread_id = (await api.inbound(channel, "question", contact_id="p"))["thread_id"]
    await api.patch(f"/api/v1/threads/{thread_id}", {"status": "pending"})
    await api.inbound(channel, "answer to your question", contact_id="p")
    assert (await api.get(f"/api/v1/threads/{thread_id}"))["thread"]["status"] == "open"
    updates = await _events(api, "thread.updated")
    assert updates[-1].data["thread"]["status"] == "open"
