"""The port every channel adapter implements for the outbound half.

Inbound is a pure function per adapter (bytes and headers in, ``InboundMessage`` structs out) and
needs no shared interface; outbound needs one, because the app's delivery job speaks to every channel
the same way. Capabilities and limits are class attributes so the console and the bot can ask what
a channel can do without an instance or a network call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from integrations.types import AccountConfig, OutboundMessage, SendResult


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can carry."""

    text: bool = True
    attachments: bool = False
    buttons: bool = False
    html: bool = False
    typing: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What the app knows when asking whether a reply can go out on a channel right now."""

    now: datetime
    last_inbound_at: datetime | None
    """When the customer last wrote on this channel in this thread, by the platform's clock (the
    message's ``sent_at``, never later than when we received it): the moment a platform's reply
    window, such as Messenger's 24 hours, counts from. A customer-supplied clock (an email's
    ``Date``) can make it earlier than the truth, never later, so a window may close early, never
    stay open too long."""
    sender_is_person: bool = True


SENT_PARTS = "sent_parts"
"""The message ``meta`` key holding the platform ids of the parts already delivered, in order."""


class DeliveryError(Exception):
    """A send failed. ``retryable`` decides between backoff-and-retry and marking the message failed.

    ``sent_parts`` are the platform ids of the parts of a split reply that did go out before the
    failure (those of earlier attempts included): the delivery job keeps them with the message and
    hands them back on the next attempt, so a retry sends only what is missing.
    """

    retryable: bool = True

    def __init__(
        self, reason: str, *, retry_after: float | None = None, sent_parts: Sequence[str] = ()
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.sent_parts = tuple(sent_parts)


class RetryableDeliveryError(DeliveryError):
    """The platform may accept this later: timeouts, 5xx, rate limits."""

    retryable = True


class UnconfirmedDeliveryError(RetryableDeliveryError):
    """The request may have reached the platform, but its answer never came: a read timeout, a
    connection dropped after the request was written. Sending again is safe only where the
    receiver dedupes (``ChannelAdapter.idempotent_sends``); elsewhere it could show the customer
    the message twice, so the delivery job records it sent, unconfirmed, instead.

    A request that provably never left (no connection, the pool was full) is a plain
    :class:`RetryableDeliveryError`.
    """


class PermanentDeliveryError(DeliveryError):
    """Sending again cannot help: the user blocked us, the address is invalid, the window closed."""

    retryable = False


def parts_sent(message: OutboundMessage) -> list[str]:
    """The ids of the parts of ``message`` an earlier attempt delivered (see ``DeliveryError``).

    An adapter that splits a reply skips that many parts of its (deterministic) plan: platforms
    without idempotency keys (Telegram, Messenger) would otherwise show a repeated part.
    """
    value = message.metadata.get(SENT_PARTS)
    if not isinstance(value, list):
        return []
    return [str(item) for item in value]


class ChannelAdapter(ABC):
    """Sends stored messages to one kind of channel."""

    channel: ClassVar[str]
    """The channel name used in messages, identities and accounts (``telegram``, ``api``, …)."""
    capabilities: ClassVar[Capabilities] = Capabilities()
    max_text_length: ClassVar[int | None] = None
    """Longest text one platform message may carry; longer replies are split or refused."""
    idempotent_sends: ClassVar[bool] = False
    """Whether sending the same message twice shows it once (the receiver dedupes on our
    idempotency key, or the "send" only records what we already store). Decides what happens to
    a message whose sender died mid-send: sent again when this is true, else not (no duplicate
    for the customer; the message is marked sent, unconfirmed)."""

    def unavailable_reason(self, account: AccountConfig, context: DeliveryContext) -> str | None:
        """Why a reply cannot go out on this channel now, or ``None`` when it can."""
        return None

    @abstractmethod
    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        """Deliver one message or raise ``DeliveryError``."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most adapters hold nothing
        """Release connections held by the adapter."""
