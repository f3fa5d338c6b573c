"""``WS /api/v1/events?last_event_id=N``: every event the agent may see, resumable.

Order of operations matters: subscribe first, then replay from the database past the cursor, then
stream live frames, skipping ids already sent. A live frame whose id jumps past the next expected
one (a frame still on its way from another process, or one the agent may not see) is filled in
from the log, so the client sees ids in order with none missing and none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.subscriber import Subscriber
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromQuery
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Agent, Event
from app.domain.accounts.auth import requires_agent
from app.domain.realtime.backend import RESUME_FRAME
from app.domain.realtime.publisher import audiences_for, encode_frame, subscriber_channels
from app.domain.realtime.writer import Writer, event_frame
from app.settings import Settings

log = logging.getLogger(__name__)

REPLAY_BATCH = 500


async def latest_event_id(session: AsyncSession) -> int:
    """The id of the newest event in the log (0 when empty): where a page's live socket resumes from.

    A page takes it before reading what it shows, so a change committed after that read is
    replayed to the page's socket rather than lost between render and connect.
    """
    return int((await session.execute(select(func.max(Event.id)))).scalar() or 0)


class _Head(msgspec.Struct):
    id: int


class AgentEventStream:
    """One agent's socket: replay, live frames with gap filling, heartbeats."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        writer: NamedDependency[Writer],
        agent: NamedDependency[Agent],
        heartbeat: float,
    ) -> None:
        self.socket = socket
        self.writer = writer
        self.audiences = audiences_for(agent.role)
        self.heartbeat = heartbeat
        self.cursor = 0
        self._decoder = msgspec.json.Decoder(_Head)
        self._foreign_frames = 0

    async def _bounds(self) -> tuple[int, int]:
        async with self.writer.sessionmaker() as session:
            low, high = (await session.execute(select(func.min(Event.id), func.max(Event.id)))).one()
        return int(low or 0), int(high or 0)

    async def start(self, last_event_id: int | None) -> None:
        """Place the cursor: live-only without one, a replay with one, ``resync`` when it is unusable."""
        low, high = await self._bounds()
        if last_event_id is None:
            self.cursor = high
        elif last_event_id > high or last_event_id < 0 or (low and last_event_id < low - 1):
            # Past the log's end (another database) or before its retention: the client cannot
            # catch up event by event and must reload its state.
            await self.control({"type": "resync", "last_event_id": high})
            self.cursor = high
        else:
            self.cursor = last_event_id
            await self._replay_until(None)
        await self.control({"type": "ready", "last_event_id": self.cursor})

    async def _replay_until(self, upto: int | None) -> None:
        """Send every visible event after the cursor (up to ``upto``) from the database, in order.

        The cursor moves over every row read, visible to this agent or not, and never past the
        log's last row: a frame whose id the log does not hold moves nothing.
        """
        while True:
            async with self.writer.sessionmaker() as session:
                query = select(Event).where(col(Event.id) > self.cursor)
                if upto is not None:
                    query = query.where(col(Event.id) <= upto)
                query = query.order_by(col(Event.id)).limit(REPLAY_BATCH)
                events = list((await session.execute(query)).scalars())
            for event in events:
                if event.audience in self.audiences:
                    await self.deliver(encode_frame(event_frame(event)))
                self.cursor = event.id or self.cursor
            if len(events) < REPLAY_BATCH:
                return

    async def on_frame(self, raw: bytes) -> None:
        """A live frame: send it if it is the next one, fill a gap from the log, skip a repeat."""
        if raw == RESUME_FRAME:
            # Pub/sub was down: whatever was published meanwhile is lost, the log has it all.
            await self._replay_until(None)
            return
        try:
            event_id = self._decoder.decode(raw).id
        except msgspec.DecodeError:
            self._foreign("undecodable", raw)
            return
        if event_id <= self.cursor:
            return
        if event_id == self.cursor + 1:
            await self.deliver(raw)
            self.cursor = event_id
            return
        # Events between the cursor and this one were committed before it (ids are taken in
        # commit order) but their frames are still on their way, or were for another audience.
        await self._replay_until(event_id)
        if self.cursor < event_id:
            # Published after commit, so the row must be there: this frame is not from our log.
            self._foreign("unknown id", raw)

    def _foreign(self, why: str, raw: bytes) -> None:
        self._foreign_frames += 1
        if self._foreign_frames == 1:
            log.warning(
                "ignoring a frame on %s (%s): %.200r; is another deployment publishing on it?",
                self.writer.channel_namespace or "the default channels",
                why,
                raw,
            )

    async def _live(self, subscriber: Subscriber) -> None:
        async for raw in subscriber.iter_events():
            await self.on_frame(raw)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.control({"type": "ping"})

    async def _drain_client(self) -> None:
        # Reading is also how a close is noticed.
        while True:
            await self.on_client_message(await self.socket.receive_data(mode="text"))

    async def deliver(self, raw: bytes) -> None:
        """Send one visible event (its encoded frame) to the client. Subclasses may render it."""
        await self.socket.send_text(raw.decode())

    async def control(self, message: dict[str, Any]) -> None:
        """Send a stream message that is not an event: ``ready``, ``resync``, ``ping``."""
        await self.socket.send_json(message)

    async def on_client_message(self, text: str | bytes) -> None:
        """What the client sent; the JSON API ignores it (pongs), the console reads typing notices."""

    async def run(self, subscriber: Subscriber, *extra: Coroutine[Any, Any, None]) -> None:
        """Stream until the client leaves; ``extra`` are the subclass's own loops, ended alike."""
        tasks = [
            asyncio.create_task(self._live(subscriber)),
            asyncio.create_task(self._beat()),
            asyncio.create_task(self._drain_client()),
            *(asyncio.create_task(loop) for loop in extra),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect | RuntimeError):
                    log.warning("agent event stream ended: %r", exc)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


@websocket("/api/v1/events", guards=[requires_agent])
async def agent_events(
    socket: WebSocket[Any, Any, Any],
    channels: NamedDependency[ChannelsPlugin],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    last_event_id: FromQuery[int | None] = None,
) -> None:
    agent: NamedDependency[Agent] = socket.user
    await socket.accept()
    names = subscriber_channels(agent.role, writer.channel_namespace)
    stream = AgentEventStream(socket, writer, agent, settings.ws_heartbeat_seconds)
    try:
        async with channels.start_subscription(names) as subscriber:
            await stream.start(last_event_id)
            await stream.run(subscriber)
    except (WebSocketDisconnect, RuntimeError):
        return
    with contextlib.suppress(Exception):
        await socket.close()


route_handlers = [agent_events]
