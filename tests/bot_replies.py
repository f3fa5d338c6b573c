"""A bot reply with buttons, stored the way the bot's turn stores one, for the channel tests.

The reply is written by the real ``do_send_reply`` (author ``bot``), its ``meta["buttons"]`` set in
a transaction of its own before the delivery job is told about it, so the job sends it exactly as
it would send the bot's own message.
"""

from __future__ import annotations

from litestar import Litestar

from app.db.models import Agent, Message
from app.domain.inbox.actions import do_send_reply
from app.domain.realtime.writer import Transaction
from app.domain.system.services import Services


async def bot_reply_with_buttons(
    app: Litestar, agent_id: int, thread_id: int, text: str, buttons: list[dict[str, str]]
) -> int:
    """Store ``text`` as the bot's reply on the thread's channel with ``buttons``; deliver it."""
    services: Services = app.state.services
    async with services.writer.sessionmaker() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None

    async def later(message_id: int) -> None:
        return None  # delivered below, once the buttons are stored with it

    message = await do_send_reply(
        services.writer,
        services.registry,
        later,
        agent=agent,
        thread_id=thread_id,
        text=text,
        author_type="bot",
    )
    assert message.id is not None
    message_id = message.id

    async def add_buttons(tx: Transaction) -> None:
        row = await tx.session.get(Message, message_id)
        assert row is not None
        row.meta = {**(row.meta or {}), "buttons": buttons}

    await services.writer.run(add_buttons)
    await services.jobs.enqueue_delivery(message_id)
    return message_id
