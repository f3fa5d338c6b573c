"""Deliver replies on the custom channel: a signed JSON POST to the account's callback URL.

The body is compact UTF-8 JSON::

    {"account_id": "<channel account uuid>", "message_id": 17, "thread_id": 4,
     "contact_external_id": "<the id the source gave the customer>", "text": "...",
     "author_name": "Ada", "idempotency_key": "onethread-message-17"}

signed with ``X-OneThread-Signature: sha256=<hex HMAC-SHA256 of the raw body bytes>`` keyed by the
account's signing secret, with the same ``Idempotency-Key`` header on every retry of one message.
A receiver verifies the signature over the bytes it received (never a re-serialization) and drops a
key it has already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email.utils import parsedate_to_datetime
from typing import ClassVar

import httpx

from integrations.base import (
    Capabilities,
    ChannelAdapter,
    DeliveryContext,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from integrations.text import N_
from integrations.types import AccountConfig, OutboundMessage, SendResult

SIGNATURE_HEADER = "X-OneThread-Signature"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""Besides 5xx: the receiver timed out, is not ready yet, or asks us to slow down."""
MAX_REASON_BODY_CHARS = 200


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-OneThread-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class CustomChannelAdapter(ChannelAdapter):
    """POSTs ``{account_id, message_id, thread_id, contact_external_id, text, …}`` to ``callback_url``.

    2xx is success (an ``X-Message-Id`` answer header becomes the message's external id); 408, 425,
    429 and 5xx (and network errors) are retried with backoff by the delivery job, after the
    answer's ``Retry-After`` where it gives one; any other status means the receiver refuses the
    message, so it is marked failed with the status and the start of the answer's body.
    """

    channel: ClassVar[str] = "api"  # type: ignore[misc]
    capabilities: ClassVar[Capabilities] = Capabilities()
    max_text_length: ClassVar[int | None] = None
    idempotent_sends: ClassVar[bool] = True  # receivers dedupe on the Idempotency-Key header (API.md)

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def unavailable_reason(self, account: AccountConfig, context: DeliveryContext) -> str | None:
        if not account.config.get("callback_url"):
            return N_("this API channel has no callback URL, so replies cannot be delivered")
        return None

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        url = account.config.get("callback_url")
        if not url:
            raise PermanentDeliveryError("no callback URL configured for this channel")
        secret = account.secrets.get("signing_secret")
        if not secret:
            raise PermanentDeliveryError("this API channel has no signing secret")
        prefix = f"{account.id}:"
        contact_id = message.recipient_id.removeprefix(prefix)
        body = json.dumps(
            {
                "account_id": account.id,
                "message_id": message.message_id,
                "thread_id": message.thread_id,
                "contact_external_id": contact_id,
                "text": message.text,
                "author_name": message.author_name,
                "idempotency_key": message.idempotency_key,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_body(secret, body),
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": "OneThread",
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentDeliveryError(f"the callback URL cannot be used: {exc}") from exc
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"callback unreachable: {type(exc).__name__}") from exc
        if response.is_success:
            return SendResult(external_id=response.headers.get("X-Message-Id"))
        reason = f"callback answered {response.status_code}"
        if response.status_code in RETRYABLE_STATUSES or response.status_code >= 500:
            raise RetryableDeliveryError(reason, retry_after=retry_after_seconds(response.headers))
        detail = " ".join(response.text.split())[:MAX_REASON_BODY_CHARS]
        raise PermanentDeliveryError(f"{reason}: {detail}" if detail else reason)

    async def aclose(self) -> None:
        await self._client.aclose()


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
