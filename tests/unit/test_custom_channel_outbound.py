"""``CustomChannelAdapter`` and ``sign_body`` without a network: httpx's mock transport answers."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from integrations.base import DeliveryContext, PermanentDeliveryError, RetryableDeliveryError
from integrations.custom import CustomChannelAdapter, sign_body
from integrations.custom.outbound import retry_after_seconds
from integrations.types import AccountConfig, OutboundMessage

ACCOUNT = AccountConfig(
    id="acc-1",
    channel="api",
    name="Shop",
    config={"callback_url": "https://receiver.example/hook"},
    secrets={"signing_secret": "ot_sig_secret", "inbound_token": "ot_in_token"},
)
MESSAGE = OutboundMessage(
    message_id=7,
    thread_id=3,
    recipient_id="acc-1:cust-9",
    text="Hallo — €",
    author_name="Ada",
    idempotency_key="onethread-message-7",
)


def test_sign_body_matches_rfc_4231_test_case_2() -> None:
    assert sign_body("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_sign_body_is_hmac_sha256_of_the_exact_bytes() -> None:
    body = '{"text":"€"}'.encode()
    assert sign_body("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign_body("k", body) != sign_body("k", json.dumps(json.loads(body)).encode())


def adapter_answering(respond: Callable[[httpx.Request], httpx.Response]) -> CustomChannelAdapter:
    return CustomChannelAdapter(httpx.AsyncClient(transport=httpx.MockTransport(respond)))


async def test_sends_signed_json_with_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, headers={"X-Message-Id": "r-1"})

    result = await adapter_answering(respond).send(ACCOUNT, MESSAGE)

    assert result.external_id == "r-1"
    assert result.status == "sent"
    [request] = seen
    assert str(request.url) == "https://receiver.example/hook"
    assert request.headers["Idempotency-Key"] == "onethread-message-7"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-OneThread-Signature"] == sign_body("ot_sig_secret", request.content)
    assert json.loads(request.content) == {
        "account_id": "acc-1",
        "message_id": 7,
        "thread_id": 3,
        "contact_external_id": "cust-9",
        "text": "Hallo — €",
        "author_name": "Ada",
        "idempotency_key": "onethread-message-7",
    }


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_retryable_statuses(status: int) -> None:
    adapter = adapter_answering(lambda _: httpx.Response(status, headers={"Retry-After": "7"}))
    with pytest.raises(RetryableDeliveryError) as caught:
        await adapter.send(ACCOUNT, MESSAGE)
    assert caught.value.reason == f"callback answered {status}"
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
async def test_permanent_statuses(status: int) -> None:
    adapter = adapter_answering(lambda _: httpx.Response(status, text="no such\n  contact"))
    with pytest.raises(PermanentDeliveryError) as caught:
        await adapter.send(ACCOUNT, MESSAGE)
    assert caught.value.reason == f"callback answered {status}: no such contact"


async def test_long_refusal_bodies_are_cut() -> None:
    adapter = adapter_answering(lambda _: httpx.Response(400, text="x" * 5000))
    with pytest.raises(PermanentDeliveryError) as caught:
        await adapter.send(ACCOUNT, MESSAGE)
    assert len(caught.value.reason) == len("callback answered 400: ") + 200


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")]
)
async def test_network_errors_are_retryable(error: Exception) -> None:
    def respond(_: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(RetryableDeliveryError, match=f"callback unreachable: {type(error).__name__}"):
        await adapter_answering(respond).send(ACCOUNT, MESSAGE)


async def test_unusable_callback_url_is_permanent() -> None:
    adapter = CustomChannelAdapter()
    account = AccountConfig(
        id="acc-1", channel="api", name="x", config={"callback_url": "ftp://x/"}, secrets=ACCOUNT.secrets
    )
    try:
        with pytest.raises(PermanentDeliveryError, match="callback URL cannot be used"):
            await adapter.send(account, MESSAGE)
    finally:
        await adapter.aclose()


async def test_missing_configuration_is_permanent() -> None:
    adapter = adapter_answering(lambda _: httpx.Response(200))
    no_url = AccountConfig(id="a", channel="api", name="x", secrets=ACCOUNT.secrets)
    with pytest.raises(PermanentDeliveryError, match="no callback URL"):
        await adapter.send(no_url, MESSAGE)
    no_secret = AccountConfig(id="a", channel="api", name="x", config=ACCOUNT.config)
    with pytest.raises(PermanentDeliveryError, match="no signing secret"):
        await adapter.send(no_secret, MESSAGE)


def test_unavailable_without_callback_url() -> None:
    context = DeliveryContext(now=datetime.now(UTC), last_inbound_at=None)
    adapter = CustomChannelAdapter()
    assert adapter.unavailable_reason(ACCOUNT, context) is None
    bare = AccountConfig(id="a", channel="api", name="x")
    assert adapter.unavailable_reason(bare, context) == (
        "this API channel has no callback URL, so replies cannot be delivered"
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-4", None),
        ("soon", None),
        ("inf", None),
        ("", None),
        (format_datetime(datetime(2030, 1, 1, 0, 1, 30, tzinfo=UTC), usegmt=True), 90.0),
        (format_datetime(datetime(2029, 12, 31, tzinfo=UTC), usegmt=True), 0.0),
    ],
)
def test_retry_after_header(value: str, seconds: float | None) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    headers = httpx.Headers({"Retry-After": value} if value else {})
    assert retry_after_seconds(headers, now=now) == seconds
