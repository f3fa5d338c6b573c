"""The custom channel (API.md "Custom channel"): any source without a built-in adapter.

Inbound: ``POST /api/v1/channels/{account_id}/inbound`` with the account token; ``parse_inbound``
turns the body into an ``InboundMessage``. Outbound: ``CustomChannelAdapter`` POSTs replies to the
account's ``callback_url``, signed with ``X-OneThread-Signature``.
"""

from integrations.custom.inbound import InboundPayloadError, parse_inbound
from integrations.custom.outbound import CustomChannelAdapter, sign_body

__all__ = ["CustomChannelAdapter", "InboundPayloadError", "parse_inbound", "sign_body"]
