"""Fan-out of committed events over Litestar channels (memory embedded, Redis in production).

Pub/sub is only a doorbell: a subscriber that misses a frame catches up from the event log. Frames
are encoded once here and forwarded as text by every socket.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend

AGENTS_CHANNEL = "events.agents"
ADMINS_CHANNEL = "events.admins"


def channels_for(audience: str) -> list[str]:
    """The channels a frame for ``audience`` goes to (admins see everything agents see)."""
    return [ADMINS_CHANNEL] if audience == "admins" else [AGENTS_CHANNEL]


def encode_frame(frame: dict[str, Any]) -> bytes:
    public = {key: value for key, value in frame.items() if key != "audience"}
    return msgspec.json.encode(public)


class ChannelsPublisher:
    """Publishes through a running ``ChannelsPlugin`` (inside the web app)."""

    def __init__(self, plugin: ChannelsPlugin) -> None:
        self._plugin = plugin

    async def publish(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            await self._plugin.wait_published(encode_frame(frame), channels_for(frame["audience"]))


class BackendPublisher:
    """Publishes straight through a channels backend (the worker, which runs no web app)."""

    def __init__(self, backend: ChannelsBackend) -> None:
        self._backend = backend

    async def publish(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            await self._backend.publish(encode_frame(frame), channels_for(frame["audience"]))
