"""Replies to widget visitors: stored is sent; the visitor's widget reads it from the thread."""

from __future__ import annotations

from typing import ClassVar

from integrations.base import Capabilities, ChannelAdapter
from integrations.types import AccountConfig, OutboundMessage, SendResult


class WebchatAdapter(ChannelAdapter):
    """The widget is our own page, so there is nothing to call: a reply is sent once it is stored.

    A visitor who is not on the site sees the reply when they come back (their token lasts a
    month); ``read`` is set when their widget shows it. Buttons are drawn by the widget.
    """

    channel: ClassVar[str] = "webchat"
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True, buttons=True, typing=True)
    max_text_length: ClassVar[int | None] = None
    idempotent_sends: ClassVar[bool] = True  # the widget reads the stored message: nothing goes twice

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        return SendResult(external_id=f"webchat:{message.message_id}", status="sent")
