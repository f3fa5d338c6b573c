"""The Redis pub/sub backend of Litestar's channels, made to outlive a Redis outage.

Litestar's ``RedisChannelsPubSubBackend`` reads pub/sub messages in one task per process; when
Redis goes away that read raises, the task ends, and the process's sockets hear nothing live ever
again, even once Redis is back. This subclass keeps reading: on a lost connection it waits
(backing off) until Redis answers again (redis-py then subscribes to every channel again), and
then hands every subscribed channel a :data:`RESUME_FRAME`. Frames published while Redis was away
are gone (pub/sub keeps nothing), but the database is the record: an agent's stream answers the
resume frame by replaying the event log past its cursor, so its client misses nothing.

Subscribing or unsubscribing while Redis is down does not fail either: the channel is noted and
subscribed on reconnection, so a socket opened during the outage replays from the log, stays open
and goes live when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

RESUME_FRAME = b'{"type":"resume"}'
"""Handed to every subscriber once pub/sub works again: "you may have missed frames, read the log"."""

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 5.0


class ResilientRedisPubSubBackend(RedisChannelsPubSubBackend):
    async def subscribe(self, channels: Iterable[str]) -> None:
        channels = list(channels)
        try:
            await super().subscribe(channels)
        except REDIS_DOWN as exc:
            log.warning("Redis is unreachable (%s); subscribing to %s when it is back", exc, channels)
            pubsub: Any = self._pub_sub
            pubsub.channels.update(pubsub._normalize_keys(dict.fromkeys(channels)))
            self._has_subscribed.set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        channels = list(channels)
        try:
            await super().unsubscribe(channels)
        except REDIS_DOWN:
            pubsub: Any = self._pub_sub
            for channel in channels:
                pubsub.channels.pop(channel.encode(), None)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            try:
                async for channel, data in super().stream_events():
                    yield channel, data
            except REDIS_DOWN as exc:
                log.warning("lost the Redis pub/sub connection (%s); reconnecting", exc)
                await self._reconnect()
                log.warning("Redis pub/sub is back; subscribers catch up from the event log")
                for channel in list(self._pub_sub.channels):
                    yield (channel.decode() if isinstance(channel, bytes) else str(channel)), RESUME_FRAME

    async def _reconnect(self) -> None:
        """Wait until Redis answers again; connecting subscribes to every channel again (redis-py)."""
        delay = RECONNECT_FIRST
        while True:
            await asyncio.sleep(delay)
            try:
                await self._pub_sub.connect()  # type: ignore[no-untyped-call]
            except REDIS_DOWN:
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            return
