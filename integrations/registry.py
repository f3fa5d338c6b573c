"""Which adapter sends for which channel."""

from __future__ import annotations

from collections.abc import Iterator

from integrations.base import ChannelAdapter


class UnknownChannelError(KeyError):
    """No adapter is registered for a channel."""


class AdapterRegistry:
    """A mapping from channel name to the adapter that sends on it."""

    def __init__(self, adapters: list[ChannelAdapter] | None = None) -> None:
        self._adapters: dict[str, ChannelAdapter] = {}
        for adapter in adapters or []:
            self.register(adapter)

    def register(self, adapter: ChannelAdapter) -> None:
        """Add or replace the adapter for ``adapter.channel``."""
        self._adapters[adapter.channel] = adapter

    def get(self, channel: str) -> ChannelAdapter:
        try:
            return self._adapters[channel]
        except KeyError:
            raise UnknownChannelError(channel) from None

    def __contains__(self, channel: object) -> bool:
        return channel in self._adapters

    def __iter__(self) -> Iterator[ChannelAdapter]:
        return iter(self._adapters.values())

    async def aclose(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
