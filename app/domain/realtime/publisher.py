"""Fan-out of committed events over Litestar channels (memory embedded, Redis in production).

Pub/sub is only a doorbell: a subscriber that misses a frame catches up from the event log. Frames
are encoded once here and forwarded as text by every socket.

Channel names carry the event log's namespace (by default the database's name, see
``log_namespace``): event ids only mean something within one database, and a Redis shared by two
deployments (or by a test run and a benchmark on one machine) must not ring one's bell with the
other's ids. Every process on the same database derives the same names.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import msgspec
from litestar.channels import ChannelsPlugin
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy.engine import URL

_INTERNAL_KEYS = frozenset({"audience", "channels"})


def channel_name(audience: str, namespace: str = "") -> str:
    """The channel events for ``audience`` (``agents`` or ``admins``) go to."""
    suffix = "admins" if audience == "admins" else "agents"
    return f"events.{namespace}.{suffix}" if namespace else f"events.{suffix}"


def channels_for(audience: str, namespace: str = "") -> list[str]:
    """The channels a frame for ``audience`` goes to (admins subscribe to both channels)."""
    return [channel_name(audience, namespace)]


WIDGET_EVENT_TYPES = frozenset({"message.created", "message.updated"})
"""Events that may change what a visitor's widget shows: each also rings the widget channel."""


def widget_channel(namespace: str = "") -> str:
    """The one channel every widget doorbell goes to (per event log): each app process subscribes
    once and hands a ring to its own sockets on that thread (``widget.hub``)."""
    return f"widget.{namespace}" if namespace else "widget"


def frame_channels(frame: dict[str, Any], namespace: str = "") -> list[str]:
    """The channels a committed event's frame goes to: its audience's."""
    return channels_for(frame["audience"], namespace)


def widget_doorbells(frames: list[dict[str, Any]], namespace: str = "") -> list[dict[str, Any]]:
    """A small ring per message event of a thread, for the widget channel: the event's id, type and
    thread, nothing of its data (visitor sockets read what they may see from the log)."""
    channel = [widget_channel(namespace)]
    return [
        {"id": f["id"], "type": f["type"], "thread_id": f["thread_id"], "audience": "", "channels": channel}
        for f in frames
        if f.get("thread_id") is not None
        and f.get("type") in WIDGET_EVENT_TYPES
        and f.get("audience") == "agents"
    ]


def audiences_for(role: str) -> tuple[str, ...]:
    """The audiences an agent with ``role`` may hear: admins see everything agents see."""
    return ("agents", "admins") if role == "admin" else ("agents",)


def subscriber_channels(role: str, namespace: str = "") -> list[str]:
    """The channels a socket of an agent with ``role`` subscribes to."""
    return [channel_name(audience, namespace) for audience in audiences_for(role)]


def log_namespace(url: URL) -> str:
    """The namespace of the event log in the database at ``url``.

    PostgreSQL: the database's name, the same for the app, the worker and the CLI whatever host
    name each uses to reach it. SQLite: a digest of the file's absolute path.
    """
    database = url.database or ""
    if url.get_backend_name() == "sqlite":
        if database and database != ":memory:":
            database = str(Path(database).resolve())
        return "sqlite-" + hashlib.sha256(database.encode()).hexdigest()[:12]
    return database


def encode_frame(frame: dict[str, Any]) -> bytes:
    """The wire form: the frame without its routing keys (``audience``, ``channels``)."""
    public = {key: value for key, value in frame.items() if key not in _INTERNAL_KEYS}
    return msgspec.json.encode(public)


def _route(frame: dict[str, Any]) -> list[str]:
    channels: list[str] | None = frame.get("channels")
    return channels or channels_for(frame["audience"])


class ChannelsPublisher:
    """Publishes through a running ``ChannelsPlugin`` (inside the web app)."""

    def __init__(self, plugin: ChannelsPlugin) -> None:
        self._plugin = plugin

    async def publish(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            await self._plugin.wait_published(encode_frame(frame), _route(frame))


class RedisUnavailableError(ConnectionError):
    """Redis did not take the frames."""


class PublishingPausedError(RedisUnavailableError):
    """Not even tried: publishing is paused after a failure (see ``RedisPublisher``)."""


class RedisPublisher:
    """Publishes with plain Redis ``PUBLISH``: what Litestar's Redis pub/sub backend subscribes to.

    Used by every process of the production shape (web and worker). Going around the plugin's
    publish queue and its Lua script saves a task hop and a script call on every event, which
    matters at webhook rates.

    Publishing is a doorbell, awaited by the request that stored the events, so it must fail fast
    when Redis is away: no retries with backoff (redis-py's default would hold each request for
    seconds), and after a failure no attempt at all for ``PAUSE_AFTER_FAILURE`` seconds. Frames not
    published are not lost to clients: they catch up from the event log (``backend``).
    """

    PAUSE_AFTER_FAILURE = 1.0

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._paused_until = 0.0

    @classmethod
    def from_url(cls, url: str) -> RedisPublisher:
        """A publisher with its own client: one immediate retry (a pooled connection that died
        with a restarted Redis is replaced), short timeouts."""
        return cls(
            Redis.from_url(url, retry=Retry(NoBackoff(), 1), socket_timeout=2.0, socket_connect_timeout=1.0)
        )

    async def publish(self, frames: list[dict[str, Any]]) -> None:
        if time.monotonic() < self._paused_until:
            raise PublishingPausedError("publishing paused after a Redis failure")
        try:
            await self._publish(frames)
        except (RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE
            raise RedisUnavailableError(str(exc)) from exc

    async def _publish(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            data = encode_frame(frame)
            for channel in _route(frame):
                await self._redis.publish(channel, data)

    async def aclose(self) -> None:
        await self._redis.aclose()
