"""A visitor's message from the widget: checked, keyed for retries, the typed email never trusted."""

from __future__ import annotations

import pytest

from app.lib.rate_limits import Limit, MemoryCounter, RateLimitedError, RateLimiter
from integrations.types import InboundAttachment
from integrations.webchat import VisitorMessageError, visitor_message


def message(**changes: object):  # type: ignore[no-untyped-def]
    fields: dict[str, object] = {
        "account_id": "site-1",
        "visitor_external_id": "site-1:v:abc",
        "verified": False,
        "client_id": "client-0001",
        "text": "Hello\r\nthere",
    }
    fields.update(changes)
    return visitor_message(**fields)  # type: ignore[arg-type]


def test_the_client_id_is_the_dedupe_key_and_line_ends_are_normalised() -> None:
    inbound = message(name="  Anna   de Vries ", email="Anna@Example.com")
    assert inbound.external_id == "site-1:v:abc:client-0001"
    assert inbound.text == "Hello\nthere"
    assert inbound.sender.name == "Anna de Vries"
    [claim] = inbound.sender.claims
    assert claim.value == "anna@example.com" and claim.verified is False
    assert inbound.sender.verified is False and message(verified=True).sender.verified is True


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"client_id": "short"}, "client_id"),
        ({"client_id": "has spaces in it"}, "client_id"),
        ({"text": "  \n "}, "needs text"),
        ({"text": "x" * 11}, "at most 10"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Anna\x00"}, "NUL"),
        ({"text": "hi\x00there"}, "NUL"),
        ({"email": "not an address"}, "not an email address"),
        (
            {"files": (InboundAttachment("run.exe", "application/x-msdownload", 3, data=b"MZ!"),)},
            "pictures and PDF",
        ),
    ],
)
def test_bad_messages_are_refused_with_the_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(VisitorMessageError, match=reason):
        message(max_text_chars=10, **changes) if "text" in changes else message(**changes)


def test_a_file_alone_is_a_message() -> None:
    picture = InboundAttachment("a.png", "image/png", 3, data=b"png")
    assert message(text="", files=(picture,)).attachments == (picture,)


async def test_the_limiter_refuses_past_the_limit_and_says_when_to_come_back() -> None:
    limiter = RateLimiter(MemoryCounter())
    for _ in range(3):
        await limiter.check("visitor", Limit(3, 10), "slow down")
    with pytest.raises(RateLimitedError) as refused:
        await limiter.check("visitor", Limit(3, 10), "slow down")
    assert refused.value.status_code == 429 and 1 <= int(refused.value.headers["Retry-After"]) <= 10
    await limiter.check("another visitor", Limit(3, 10), "slow down")  # counted apart


def test_a_pressed_button_keeps_its_payload_next_to_the_label() -> None:
    inbound = message(text="Retourneren", button_payload="bot:rule:returns")
    assert inbound.text == "Retourneren"
    assert inbound.metadata == {"webchat": {"client_id": "client-0001"}, "button_payload": "bot:rule:returns"}
    assert "button_payload" not in message().metadata


@pytest.mark.parametrize("payload", ["", "x" * 201, "bot:\x00"])
def test_a_bad_button_payload_is_refused_with_the_reason(payload: str) -> None:
    with pytest.raises(VisitorMessageError, match="button_payload"):
        message(text="Retourneren", button_payload=payload)
