"""Facebook Messenger (API.md "Webhooks"): a page's customers writing to it.

Inbound: ``/webhooks/messenger/{account_id}`` checks ``X-Hub-Signature-256`` with
``signature_ok`` and reads the batch with ``parse_webhook``. Outbound (the Send API) comes later.
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

__all__ = [
    "CHANNEL",
    "SIGNATURE_HEADER",
    "ParsedWebhook",
    "Receipt",
    "WebhookBodyError",
    "parse_webhook",
    "sender_key",
    "signature_ok",
]
