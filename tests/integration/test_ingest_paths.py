"""Ingest has a PostgreSQL fast path for known customers in live threads; agents must not be able
to tell which path a message took. Both shapes run this: on SQLite every message takes the general
path, on PostgreSQL the second message onwards takes the fast one."""

from __future__ import annotations

import uuid

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


async def test_fast_path_takes_known_customers_and_leaves_the_rest(api: Api, shape: str) -> None:
    """On PostgreSQL the fast path must really run for the common case, and write nothing otherwise."""
    from app.db.models import Message, utcnow
    from app.domain.inbox.fast_ingest import try_fast_ingest
    from integrations.types import InboundMessage, InboundSender

    channel = await api.add_api_channel()
    known = await api.inbound(channel, "hello", contact_id="f", name="Fay")
    account = uuid.UUID(channel.id)

    def message(contact: str, external_id: str) -> InboundMessage:
        sender = InboundSender("api", f"{channel.id}:{contact}", None)
        return InboundMessage("api", channel.id, external_id, sender, "via the fast path")

    now = utcnow()
    if shape == "embedded":
        assert not api.writer.supports_direct
        return
    fast = await try_fast_ingest(api.writer, message("f", "fast-1"), account, now, now)
    assert fast is not None and fast.thread_id == known["thread_id"] and not fast.duplicate
    assert await try_fast_ingest(api.writer, message("f", "fast-1"), account, now, now) is None  # duplicate
    assert await try_fast_ingest(api.writer, message("stranger", "fast-2"), account, now, now) is None
    async with api.writer.sessionmaker() as session:
        texts = list((await session.execute(select(col(Message.text)).order_by(col(Message.id)))).scalars())
    assert texts == ["hello", "via the fast path"]
    events = await _events(api, "message.created")
    assert [e.data["message"]["text"] for e in events] == texts


async def test_fast_path_takes_a_nameless_customer_unless_a_name_comes_to_fill_in(
    api: Api, shape: str
) -> None:
    """Messenger senders carry no name: a known one must still take the fast path (the general path
    would change nothing), while a first name for a nameless contact still goes the general way."""
    from app.db.models import Contact, Message, utcnow
    from app.domain.inbox.fast_ingest import try_fast_ingest
    from integrations.types import InboundMessage, InboundSender

    channel = await api.add_api_channel()
    first = await api.inbound(channel, "hello", contact_id="anon")
    account = uuid.UUID(channel.id)

    def message(external_id: str, name: str | None) -> InboundMessage:
        sender = InboundSender("api", f"{channel.id}:anon", name)
        return InboundMessage("api", channel.id, external_id, sender, f"message {external_id}")

    if shape == "embedded":
        assert not api.writer.supports_direct
        return
    now = utcnow()
    fast = await try_fast_ingest(api.writer, message("n-1", None), account, now, now)
    assert fast is not None and fast.thread_id == first["thread_id"] and not fast.duplicate
    assert await try_fast_ingest(api.writer, message("n-2", "Noor"), account, now, now) is None
    await api.inbound(channel, "named now", contact_id="anon", name="Noor")
    async with api.writer.sessionmaker() as session:
        texts = list((await session.execute(select(col(Message.text)).order_by(col(Message.id)))).scalars())
        names = list((await session.execute(select(col(Contact.name)))).scalars())
    assert texts == ["hello", "message n-1", "named now"]
    assert names == ["Noor"]
    timeline = await api.timeline(first["thread_id"])
    assert [m["author"]["name"] for m in timeline] == [None, None, "Noor"]
    events = await _events(api, "message.created")
    assert [e.data["message"] for e in events] == timeline
