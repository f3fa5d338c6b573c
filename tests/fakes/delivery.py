"""What the delivery tests share: reading the event log and message rows, waiting for outcomes."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlmodel import col, select

from app.db.models import Event, Message
from app.domain.realtime.writer import Writer

FINAL = ("sent", "delivered", "failed")


async def message_row(writer: Writer, message_id: int) -> Message:
    async with writer.sessionmaker() as session:
        message = await session.get(Message, message_id)
        assert message is not None
        return message


async def wait_for_status(
    writer: Writer, message_id: int, statuses: tuple[str, ...] = FINAL, within: float = 10.0
) -> Message:
    """Poll the message row until its delivery status is one of ``statuses``."""
    async with asyncio.timeout(within):
        while True:
            message = await message_row(writer, message_id)
            if message.delivery_status in statuses:
                return message
            await asyncio.sleep(0.02)


async def message_events(writer: Writer, message_id: int) -> list[Event]:
    """Every ``message.*`` event about one message, in log order."""
    async with writer.sessionmaker() as session:
        rows = (
            (
                await session.execute(
                    select(Event).where(col(Event.type).like("message.%")).order_by(col(Event.id))
                )
            )
            .scalars()
            .all()
        )
    return [event for event in rows if event.data.get("message", {}).get("id") == message_id]


def statuses(events: list[Event]) -> list[tuple[str, str | None, str | None]]:
    """``(type, delivery_status, delivery_error)`` of each event."""
    return [
        (event.type, event.data["message"]["delivery_status"], event.data["message"].get("delivery_error"))
        for event in events
    ]


RETRY_IN = re.compile(r"retrying in ([0-9.]+)s")


def announced_delays(events: list[Event]) -> list[float]:
    """The waits the delivery job announced in its "retrying in Xs" updates."""
    delays = []
    for event in events:
        match = RETRY_IN.search(event.data["message"].get("delivery_error") or "")
        if match:
            delays.append(float(match.group(1)))
    return delays


async def reply(api: Any, thread_id: int, text: str, *, expect: int = 202, **body: Any) -> dict[str, Any]:
    response = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": text, **body})
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


async def wait_for_events(writer: Writer, message_id: int, count: int, within: float = 10.0) -> list[Event]:
    """Poll the event log until it holds at least ``count`` events about the message."""
    async with asyncio.timeout(within):
        while True:
            events = await message_events(writer, message_id)
            if len(events) >= count:
                return events
            await asyncio.sleep(0.01)
