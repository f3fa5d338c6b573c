"""Deliver replies on the custom channel: a signed JSON POST to the account's callback URL."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import ClassVar

import httpx

from integrations.base import (
    Capabilities,
    ChannelAdapter,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from integrations.types import AccountConfig, OutboundMessage, SendResult

SIGNATURE_HEADER = "X-OneThread-Signature"


def sign_body(secret: str, body: bytes) -> str:
    """The ``X-OneThread-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class CustomChannelAdapter(ChannelAdapter):
    """POSTs ``{message_id, thread_id, contact_external_id, text, …}`` to ``callback_url``.

    2xx is success; 408, 429 and 5xx (and network errors) are retried with backoff by the delivery
    job; any other 4xx means the receiver refuses the message, so it is marked failed.
    """

    channel: ClassVar[str] = "api"  # type: ignore[misc]
    capabilities: ClassVar[Capabilities] = Capabilities()
    max_text_length: ClassVar[int | None] = None

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def unavailable_reason(self, account: AccountConfig, context: object) -> str | None:  # type: ignore[override]
        if not account.config.get("callback_url"):
            return "this API channel has no callback URL, so replies cannot be delivered"
        return None

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        url = account.config.get("callback_url")
        if not url:
            raise PermanentDeliveryError("no callback URL configured for this channel")
        prefix = f"{account.id}:"
        contact_id = message.recipient_id.removeprefix(prefix)
        body = json.dumps(
            {
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
            SIGNATURE_HEADER: sign_body(account.secrets["signing_secret"], body),
            "Idempotency-Key": message.idempotency_key,
            "User-Agent": "OneThread",
        }
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"callback unreachable: {type(exc).__name__}") from exc
        if response.is_success:
            return SendResult(external_id=response.headers.get("X-Message-Id"))
        reason = f"callback answered {response.status_code}"
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            retry_after = _retry_after(response)
            raise RetryableDeliveryError(reason, retry_after=retry_after)
        raise PermanentDeliveryError(reason)

    async def aclose(self) -> None:
        await self._client.aclose()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
