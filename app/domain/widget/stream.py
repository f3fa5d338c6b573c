"""``WS /widget/v1/ws?token=…&last_event_id=N``: one visitor's conversation, live and resumable.

The socket never forwards the agents' event frames: those describe notes, assignments and other
customers. The thread's widget channel (``publisher.widget_channel``) is only a doorbell carrying
event ids; on each ring the socket reads that thread's events after its cursor from the log, and
sends the messages among them the visitor may see (``visitors.visible``), in the widget's shape,
each as a frame with the event's id. A widget that reconnects with ``last_event_id`` gets every
change it missed, in order, from the same read.

Rings reach a socket through the process's ``WidgetHub`` (one subscription per process). A
visitor who has not written yet has no thread: the hub rings their socket by their visitor key
(``visitor_key``) when their first message creates it, and the socket then watches the thread.
Agents' presence notes (typing, viewing) come the same way; the visitor's go to the thread's
presence channel, where the console listens. None of these ephemeral frames has an ``id``; none is
replayed.

One process holds thousands of these sockets, so each costs as little as it can: the handler's own
task reads the client, a ring is handled in a short task of its own, and one shared task pings
every socket (``Heartbeats``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from typing import Any, ClassVar, Literal

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromQuery
from sqlalchemy import func, select
from sqlmodel import col

from app.db.models import Event
from app.domain.channels.accounts import cached_account
from app.domain.realtime.presence import PresenceNote, presence_channel
from app.domain.realtime.publisher import WIDGET_EVENT_TYPES
from app.domain.system.services import Services
from app.domain.widget import limits
from app.domain.widget.hub import WidgetHub
from app.domain.widget.tokens import VisitorToken, read_visitor_token
from app.domain.widget.visitors import VisitorThread, find_visitor, visible_messages_by_id
from app.lib.rate_limits import RateLimitedError

log = logging.getLogger(__name__)

REPLAY_BATCH = 200
CLIENT_MESSAGE_MAX = 256
TYPING_MIN_INTERVAL = 2.0
HERE_MIN_INTERVAL = 5.0
CLOSE_BAD_TOKEN = 4401
CLOSE_TOO_MANY = 4429


def visitor_key(token: VisitorToken) -> str:
    """How a ring names one visitor (their first message made their thread: watch it)."""
    return hashlib.sha256(token.external_id.encode()).hexdigest()[:24]


_RINGING: set[asyncio.Task[None]] = set()
"""Rings being handled (a reference each, so none is collected mid-way)."""


class _Head(msgspec.Struct):
    id: int | None = None
    type: str = ""


class _ClientMessage(msgspec.Struct):
    type: str
    message_id: int | None = None


_HEAD = msgspec.json.Decoder(_Head)
_PRESENCE = msgspec.json.Decoder(PresenceNote)
_CLIENT = msgspec.json.Decoder(_ClientMessage)
_PING = msgspec.json.encode({"type": "ping"}).decode()


class Heartbeats:
    """One task per event loop and interval pings every open widget socket (not one per socket)."""

    _running: ClassVar[dict[tuple[int, float], Heartbeats]] = {}

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.streams: set[VisitorStream] = set()
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def join(cls, stream: VisitorStream, interval: float) -> Heartbeats:
        key = (id(asyncio.get_running_loop()), interval)
        beats = cls._running.get(key)
        if beats is None or beats.task is None or beats.task.done():
            beats = cls._running[key] = Heartbeats(interval)
            beats.task = asyncio.create_task(beats._run(key))
        beats.streams.add(stream)
        return beats

    def leave(self, stream: VisitorStream) -> None:
        self.streams.discard(stream)

    async def _run(self, key: tuple[int, float]) -> None:
        try:
            while self.streams:
                await asyncio.sleep(self.interval)
                streams = list(self.streams)
                for start in range(0, len(streams), 500):
                    # Concurrently, so one client that reads nothing cannot hold up the others' pings.
                    await asyncio.gather(
                        *(s.socket.send_text(_PING) for s in streams[start : start + 500]),
                        return_exceptions=True,
                    )
        finally:
            if self._running.get(key) is self:
                del self._running[key]


class VisitorStream:
    """One visitor's socket: replay, live message frames, typing both ways."""

    # Thousands live in one process: no per-instance __dict__.
    __slots__ = (
        "_last_here",
        "_last_typing",
        "_lock",
        "address",
        "channels",
        "conn",
        "cursor",
        "hub",
        "services",
        "socket",
        "visitor",
        "writer",
    )

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        channels: ChannelsPlugin,
        services: Services,
        visitor: VisitorThread,
        hub: WidgetHub,
    ) -> None:
        self.socket = socket
        self.channels = channels
        self.hub = hub
        self.address = socket.client.host if socket.client else "unknown"
        self.services = services
        self.writer = services.writer
        self.visitor = visitor
        self.cursor = 0
        self.conn = secrets.token_hex(6)
        self._last_typing = 0.0
        self._last_here = 0.0
        self._lock = asyncio.Lock()

    @property
    def namespace(self) -> str:
        return self.writer.channel_namespace

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send_text(msgspec.json.encode(message).decode())

    async def start(self, last_event_id: int | None) -> None:
        """Place the cursor (as the agents' socket does) and replay what the visitor missed."""
        async with self.writer.sessionmaker() as session:
            low, high = (await session.execute(select(func.min(Event.id), func.max(Event.id)))).one()
        low, high = int(low or 0), int(high or 0)
        if last_event_id is None:
            self.cursor = high
        elif last_event_id > high or last_event_id < 0 or (low and last_event_id < low - 1):
            await self.send({"type": "resync", "last_event_id": high})
            self.cursor = high
        else:
            self.cursor = last_event_id
            await self._replay_until(None)
        await self.send({"type": "ready", "last_event_id": self.cursor})

    async def _replay_until(self, upto: int | None) -> None:
        """Send the visible message changes of the thread after the cursor (up to ``upto``)."""
        thread_id = self.visitor.thread_id
        if thread_id is None:
            return
        async with self._lock:
            while True:
                async with self.writer.sessionmaker() as session:
                    query = select(Event).where(
                        col(Event.id) > self.cursor,
                        col(Event.thread_id) == thread_id,
                        col(Event.type).in_(WIDGET_EVENT_TYPES),
                    )
                    if upto is not None:
                        query = query.where(col(Event.id) <= upto)
                    events = list(
                        (await session.execute(query.order_by(col(Event.id)).limit(REPLAY_BATCH))).scalars()
                    )
                    ids = [_message_id(e) for e in events]
                    shown = await visible_messages_by_id(
                        session,
                        self.visitor,
                        [i for i in ids if i is not None],
                        secret_key=self.services.settings.secret_key,
                    )
                for event, message_id in zip(events, ids, strict=True):
                    message = shown.get(message_id) if message_id is not None else None
                    if message is not None:
                        await self.send(
                            {
                                "id": event.id,
                                "type": event.type,
                                "data": {"message": msgspec.to_builtins(message)},
                            }
                        )
                    self.cursor = max(self.cursor, event.id or 0)
                if len(events) < REPLAY_BATCH:
                    break
            if upto is not None:
                # Events of other threads and types are not ours; the cursor may pass them.
                self.cursor = max(self.cursor, upto)

    async def on_thread_frame(self, raw: bytes) -> None:
        try:
            head = _HEAD.decode(raw)
        except msgspec.DecodeError:
            return
        if head.id is not None:
            if head.id > self.cursor:
                await self._replay_until(head.id)
            return
        if head.type == "seen":
            await self.send({"type": "seen"})
            return
        with contextlib.suppress(msgspec.DecodeError):
            note = _PRESENCE.decode(raw)
            if note.customer:
                return
            if note.state == "typing":
                await self.send({"type": "typing", "name": note.name})
            elif note.state == "viewing" and time.monotonic() - self._last_here >= HERE_MIN_INTERVAL:
                # An agent has the thread open: tell their page the customer is here too. (Only
                # then: thousands of idle widgets must not publish on their own.)
                await self.publish_presence("viewing")

    async def publish_presence(self, state: Literal["viewing", "typing", "left"]) -> None:
        """The customer's word on the thread's presence channel (the console shows it)."""
        if self.visitor.thread_id is None:
            return
        if state == "viewing":
            self._last_here = time.monotonic()
        note = PresenceNote(
            conn=self.conn, agent_id=0, name=self.visitor.token.name or "", state=state, customer=True
        )
        await self.channels.wait_published(
            msgspec.json.encode(note), [presence_channel(self.namespace, self.visitor.thread_id)]
        )

    def ring(self, raw: bytes) -> None:
        """The hub's ring for this socket's thread (or for the visitor's first message)."""
        task = asyncio.create_task(self._on_ring(raw))
        _RINGING.add(task)
        task.add_done_callback(_RINGING.discard)

    async def _on_ring(self, raw: bytes) -> None:
        try:
            if self.visitor.thread_id is None:
                await self._join_thread()
            else:
                await self.on_thread_frame(raw)
        except (WebSocketDisconnect, RuntimeError):
            return
        except Exception as exc:
            log.warning("widget stream ended: %r", exc)
            with contextlib.suppress(Exception):
                await self.socket.close(code=1011, reason="stream error; reconnect")

    async def _join_thread(self) -> None:
        """The visitor's first message made their thread: watch it and send what it holds."""
        async with self.writer.sessionmaker() as session:
            visitor = await find_visitor(session, self.visitor.token)
        if visitor.thread_id is None or self.visitor.thread_id is not None:
            return
        self.visitor = visitor
        self.hub.forget(self, visitor=visitor_key(visitor.token))
        self.hub.watch_thread(self, visitor.thread_id)
        await self._replay_until(None)
        await self.publish_presence("viewing")

    async def _drain_client(self) -> None:
        while True:
            await self.on_client_message(await self.socket.receive_data(mode="text"))

    async def on_client_message(self, text: str | bytes) -> None:
        """``{"type": "typing"}`` while the visitor types; ``{"type": "read", "message_id": N}``."""
        if len(text) > CLIENT_MESSAGE_MAX:
            return
        try:
            message = _CLIENT.decode(text)
        except msgspec.DecodeError:
            return
        thread_id = self.visitor.thread_id
        if message.type == "typing" and thread_id is not None:
            now = time.monotonic()
            if now - self._last_typing < TYPING_MIN_INTERVAL:
                return
            self._last_typing = now
            await self.publish_presence("typing")
        elif message.type == "read" and message.message_id is not None:
            from app.domain.widget.actions import do_visitor_read

            try:
                # Counted like POST /widget/v1/read: a socket is no way around the limit.
                await limits.check_read(self.services, self.visitor.token, self.address)
                await do_visitor_read(self.writer, self.visitor, up_to_message_id=message.message_id)
            except RateLimitedError:
                return
            except Exception as exc:  # an id out of range, say: the read mark stays where it was
                log.info("widget read mark refused: %r", exc)

    async def run(self) -> None:
        """Stream until the visitor leaves; this (the handler's) task reads the client."""
        await self.hub.ensure_started()
        beats = Heartbeats.join(self, self.services.settings.ws_heartbeat_seconds)
        key = visitor_key(self.visitor.token)
        if self.visitor.thread_id is None:
            self.hub.watch_visitor(self, key)
        else:
            self.hub.watch_thread(self, self.visitor.thread_id)
        try:
            if self.visitor.thread_id is not None:
                # Events committed between the start's replay and watching: fill them in.
                await self._replay_until(None)
                await self.publish_presence("viewing")
            await self._drain_client()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            beats.leave(self)
            self.hub.forget(self, thread_id=self.visitor.thread_id, visitor=key)
            if self.visitor.thread_id is not None:
                with contextlib.suppress(Exception):
                    await self.publish_presence("left")


def _message_id(event: Event) -> int | None:
    message = (event.data or {}).get("message")
    if isinstance(message, dict) and isinstance(message.get("id"), int):
        return int(message["id"])
    return None


@websocket("/widget/v1/ws")
async def widget_socket(
    socket: WebSocket[Any, Any, Any],
    channels: NamedDependency[ChannelsPlugin],
    services: NamedDependency[Services],
    widget_hub: NamedDependency[WidgetHub],
    token: FromQuery[str] = "",
    last_event_id: FromQuery[int | None] = None,
) -> None:
    await socket.accept()
    visitor_token = read_visitor_token(services.settings.secret_key, token)
    account = await cached_account(services.writer, visitor_token.site) if visitor_token else None
    if visitor_token is None or account is None or account.channel != "webchat":
        await socket.close(
            code=CLOSE_BAD_TOKEN, reason="the visitor token is missing, expired or not genuine"
        )
        return
    try:
        await limits.check_socket(services, visitor_token)
    except RateLimitedError:
        await socket.close(code=CLOSE_TOO_MANY, reason="reconnecting too often; wait a minute")
        return
    async with services.writer.sessionmaker() as session:
        visitor = await find_visitor(session, visitor_token)
    stream = VisitorStream(socket, channels, services, visitor, widget_hub)
    try:
        await stream.start(last_event_id)
        await stream.run()
    except (WebSocketDisconnect, RuntimeError):
        return
    with contextlib.suppress(RuntimeError):
        await socket.close()


route_handlers = [widget_socket]
