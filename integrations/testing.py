"""A recording adapter for tests: it keeps what it was asked to send and fails when told to."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import ClassVar

from integrations.base import (
    Capabilities,
    ChannelAdapter,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from integrations.types import AccountConfig, OutboundMessage, SendResult


class RecordingAdapter(ChannelAdapter):
    """Records every send; ``fail_next`` queues failures that the next sends raise, in order.

    >>> adapter = RecordingAdapter(channel="api")
    >>> adapter.fail_next(2, retryable=True, reason="gateway timeout")

    ``latency`` makes each send take that long (so concurrent senders would overlap);
    ``concurrent_peak`` is the most sends that were ever in flight at once.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True)

    def __init__(self, channel: str = "api", *, latency: float = 0.0) -> None:
        self.channel = channel  # type: ignore[misc]  # instances may stand in for any channel
        self.latency = latency
        self.sent: list[tuple[AccountConfig, OutboundMessage]] = []
        self.attempts = 0
        self.in_flight = 0
        self.concurrent_peak = 0
        self._failures: deque[DeliveryError] = deque()
        self._sent_event = asyncio.Event()

    def fail_next(
        self,
        count: int = 1,
        *,
        retryable: bool = True,
        reason: str = "failing on demand",
        retry_after: float | None = None,
    ) -> None:
        error_type = RetryableDeliveryError if retryable else PermanentDeliveryError
        self._failures.extend(error_type(reason, retry_after=retry_after) for _ in range(count))

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        self.attempts += 1
        self.in_flight += 1
        self.concurrent_peak = max(self.concurrent_peak, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if self._failures:
                raise self._failures.popleft()
            self.sent.append((account, message))
            self._sent_event.set()
            return SendResult(external_id=f"recorded-{message.message_id}-{self.attempts}")
        finally:
            self.in_flight -= 1

    @property
    def messages(self) -> list[OutboundMessage]:
        return [message for _, message in self.sent]

    async def wait_for_sends(self, count: int, within: float = 10.0) -> list[OutboundMessage]:
        """Wait until at least ``count`` messages were sent and return them."""
        async with asyncio.timeout(within):
            while len(self.sent) < count:
                self._sent_event.clear()
                await self._sent_event.wait()
        return self.messages
