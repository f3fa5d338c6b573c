"""A bot reply with buttons, stored the way the bot's turn stores one, for the channel tests.

The reply is written by the real ``do_send_reply`` (author ``bot``), its ``meta["buttons"]`` set in
a transaction of its own before the delivery job is told about it, so the job sends it exactly as
it would send the bot's own message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from litestar import Litestar
from sqlmodel import col, select

from app.db.models import Agent, Message
from app.domain.inbox.actions import do_send_reply
from app.domain.realtime.writer import Transaction, Writer
from app.domain.system.services import Services
from integrations.registry import AdapterRegistry


async def store_bot_reply(
    writer: Writer,
    registry: AdapterRegistry,
    enqueue: Callable[[int], Awaitable[None]] | None,
    *,
    agent_email: str,
    thread_id: int,
    text: str,
    buttons: list[dict[str, str]],
) -> int:
    """Store ``text`` as the bot's reply on the thread's channel with ``buttons``; then hand it to
    ``enqueue`` (``None``: leave it queued, as a channel without a platform may)."""
    async with writer.sessionmaker() as session:
        agent = (await session.execute(select(Agent).where(col(Agent.email) == agent_email))).scalar_one()

    async def later(message_id: int) -> None:
        return None  # delivered below, once the buttons are stored with it

    message = await do_send_reply(
        writer, registry, later, agent=agent, thread_id=thread_id, text=text, author_type="bot"
    )
    assert message.id is not None
    message_id = message.id

    async def add_buttons(tx: Transaction) -> None:
        row = await tx.session.get(Message, message_id)
        assert row is not None
        row.meta = {**(row.meta or {}), "buttons": buttons}

    await writer.run(add_buttons)
    if enqueue is not None:
        await enqueue(message_id)
    return message_id


async def bot_reply_with_buttons(
    app: Litestar, agent_id: int, thread_id: int, text: str, buttons: list[dict[str, str]]
) -> int:
    """``store_bot_reply`` in a test's own app, delivered by its job queue."""
    services: Services = app.state.services
    async with services.writer.sessionmaker() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
    return await store_bot_reply(
        services.writer,
        services.registry,
        services.jobs.enqueue_delivery,
        agent_email=agent.email,
        thread_id=thread_id,
        text=text,
        buttons=buttons,
    )
