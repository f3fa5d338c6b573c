"""One subscription per process for every widget socket it holds.

Every message event of every thread rings one channel (``publisher.widget_channel``) with a small
doorbell: the event's id, type and thread. The hub is that channel's only subscriber in this
process; it hands each ring to the sockets it holds on that thread (or, for a visitor's first
message, to that visitor's sockets), each of which then reads what it may see from the log. So a
socket costs a dictionary entry here instead of a subscription, a queue and a task of its own, and
Redis carries one subscription per app process, however many visitors are connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol, TypeVar

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.subscriber import Subscriber

from app.domain.realtime.publisher import widget_channel

log = logging.getLogger(__name__)
K = TypeVar("K", int, str)


class Listener(Protocol):
    """A widget socket, as far as the hub cares."""

    def ring(self, raw: bytes) -> None:
        """Handle one ring soon (never block the hub)."""


class _Ring(msgspec.Struct):
    thread_id: int | None = None
    visitor: str | None = None


_RING = msgspec.json.Decoder(_Ring)


class WidgetHub:
    """Routes the widget channel's rings to this process's sockets by thread (or visitor)."""

    def __init__(self, channels: ChannelsPlugin, namespace: str) -> None:
        self.channels = channels
        self.channel = widget_channel(namespace)
        # A thread is nearly always watched by one socket: that one is stored as it is, a set only
        # once there are more (a set per socket would be most of what a socket costs here).
        self.by_thread: dict[int, Listener | set[Listener]] = {}
        self.by_visitor: dict[str, Listener | set[Listener]] = {}
        self._subscriber: Subscriber | None = None
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    async def ensure_started(self) -> None:
        """Subscribe on first use (the plugin runs by then: a socket is being served)."""
        if self._task is not None and not self._task.done():
            return
        async with self._starting:
            if self._task is not None and not self._task.done():
                return
            self._subscriber = await self.channels.subscribe([self.channel])
            self._task = asyncio.create_task(self._run(self._subscriber))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._subscriber is not None:
            with contextlib.suppress(Exception):
                await self.channels.unsubscribe(self._subscriber, [self.channel])
        self._task = self._subscriber = None

    async def _run(self, subscriber: Subscriber) -> None:
        async for raw in subscriber.iter_events():
            try:
                self.dispatch(raw)
            except Exception:
                log.exception("a widget ring could not be handed on")

    def dispatch(self, raw: bytes) -> None:
        try:
            ring = _RING.decode(raw)
        except msgspec.DecodeError:
            return
        if ring.visitor is not None:
            targets = self.by_visitor.get(ring.visitor)
        elif ring.thread_id is not None:
            targets = self.by_thread.get(ring.thread_id)
        else:
            return
        if isinstance(targets, set):
            for listener in list(targets):
                listener.ring(raw)
        elif targets is not None:
            targets.ring(raw)

    def watch_thread(self, listener: Listener, thread_id: int) -> None:
        _add(self.by_thread, thread_id, listener)

    def watch_visitor(self, listener: Listener, visitor: str) -> None:
        _add(self.by_visitor, visitor, listener)

    def forget(self, listener: Listener, *, thread_id: int | None = None, visitor: str | None = None) -> None:
        if thread_id is not None:
            _discard(self.by_thread, thread_id, listener)
        if visitor is not None:
            _discard(self.by_visitor, visitor, listener)


def _add(table: dict[K, Listener | set[Listener]], key: K, listener: Listener) -> None:
    present = table.get(key)
    if present is None or present is listener:
        table[key] = listener
    elif isinstance(present, set):
        present.add(listener)
    else:
        table[key] = {present, listener}


def _discard(table: dict[K, Listener | set[Listener]], key: K, listener: Listener) -> None:
    present = table.get(key)
    if present is listener:
        del table[key]
    elif isinstance(present, set):
        present.discard(listener)
        if len(present) == 1:
            table[key] = next(iter(present))
        elif not present:
            del table[key]
