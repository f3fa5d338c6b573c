"""Facebook Messenger (API.md "Webhooks"): a page's customers writing to it.

Inbound: ``/webhooks/messenger/{account_id}`` checks ``X-Hub-Signature-256`` with
``signature_ok`` and reads the batch with ``parse_webhook``. Outbound: ``MessengerAdapter`` sends
through the Send API within Meta's 24-hour / 7-day human agent windows.
"""

from integrations.messenger.inbound import (
    CHANNEL,
    SIGNATURE_HEADER,
    ParsedWebhook,
    Receipt,
    WebhookBodyError,
    parse_webhook,
    sender_key,
    signature_ok,
)
from integrations.messenger.outbound import MessengerAdapter

__all__ = [
    "CHANNEL",
    "SIGNATURE_HEADER",
    "MessengerAdapter",
    "ParsedWebhook",
    "Receipt",
    "WebhookBodyError",
    "parse_webhook",
    "sender_key",
    "signature_ok",
]
