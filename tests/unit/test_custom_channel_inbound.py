"""``parse_inbound``: the custom channel's body in, an ``InboundMessage`` out, or a precise reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.custom import InboundPayloadError, parse_inbound
from integrations.types import ContactClaim

ACCOUNT = "8d1c3a52-6f0e-4c1e-9a1b-2f3d4e5f6a7b"


def body(**changes: Any) -> bytes:
    payload: dict[str, Any] = {"external_id": "m-1", "contact": {"external_id": "42"}, "text": "Hello"}
    for key, value in changes.items():
        if key.startswith("contact_"):
            payload["contact"][key.removeprefix("contact_")] = value
        elif value is ...:
            payload.pop(key)
        else:
            payload[key] = value
    return json.dumps(payload).encode()


def test_minimal_body() -> None:
    message = parse_inbound(ACCOUNT, body())
    assert (message.channel, message.account_id, message.external_id, message.text) == (
        "api",
        ACCOUNT,
        "m-1",
        "Hello",
    )
    assert message.sender.channel == "api"
    assert message.sender.name is None
    assert message.sender.claims == ()
    assert message.sent_at is None


def test_contact_ids_are_scoped_by_account() -> None:
    """Two sources may both have a customer 42; they are two identities."""
    first = parse_inbound(ACCOUNT, body())
    other = parse_inbound("00000000-0000-4000-8000-000000000001", body())
    assert first.sender.external_id == f"{ACCOUNT}:42"
    assert other.sender.external_id == "00000000-0000-4000-8000-000000000001:42"
    assert first.sender.external_id != other.sender.external_id


def test_email_and_phone_are_normalised_verified_claims() -> None:
    message = parse_inbound(
        ACCOUNT,
        body(contact_name="  Bo Berg ", contact_email=" Bo@Example.COM ", contact_phone="06 12345678"),
        default_region="NL",
    )
    assert message.sender.name == "Bo Berg"
    assert message.sender.claims == (
        ContactClaim("email", "bo@example.com", verified=True),
        ContactClaim("phone", "+31612345678", verified=True),
    )


def test_naive_sent_at_is_utc_and_aware_is_kept() -> None:
    naive = parse_inbound(ACCOUNT, body(sent_at="2024-05-01T10:00:00"))
    assert naive.sent_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    aware = parse_inbound(ACCOUNT, body(sent_at="2024-05-01T12:00:00+02:00"))
    assert aware.sent_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_unknown_fields_are_ignored() -> None:
    assert parse_inbound(ACCOUNT, body(channel_hint="sms")).text == "Hello"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "body is not valid JSON"),
        (b"not json", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid JSON"),
        (b"[]", "Expected `object`, got `array`"),
        (body(external_id=...), "Object missing required field `external_id`"),
        (body(text=...), "Object missing required field `text`"),
        (body(contact=...), "Object missing required field `contact`"),
        (body(contact={}), "Object missing required field `external_id` - at `$.contact`"),
        (body(contact="42"), "Expected `object`, got `str` - at `$.contact`"),
        (body(external_id=17), "Expected `str`, got `int` - at `$.external_id`"),
        (body(text=None), "Expected `str`, got `null` - at `$.text`"),
        (body(contact_external_id=42), "Expected `str`, got `int` - at `$.contact.external_id`"),
        (body(contact_email=["a@b.nl"]), "Expected `str | null`, got `array` - at `$.contact.email`"),
        (body(sent_at="yesterday"), "Invalid RFC3339 encoded datetime - at `$.sent_at`"),
        (body(text=""), "text must not be empty"),
        (body(text=" \n\t "), "text must not be empty"),
        (body(external_id="  "), "external_id must be 1 to 255 characters"),
        (body(external_id="x" * 256), "external_id must be 1 to 255 characters"),
        (body(contact_external_id=""), "contact.external_id must be 1 to 200 characters"),
        (body(contact_external_id="c" * 201), "contact.external_id must be 1 to 200 characters"),
        (body(contact_name="n" * 201), "contact.name is longer than 200 characters"),
        (body(contact_email="not-an-address"), "contact.email: not an email address: 'not-an-address'"),
        (body(contact_email="a@b"), "contact.email: not an email address: 'a@b'"),
        (body(contact_phone="12"), "contact.phone: not a valid phone number: '12'"),
        (body(contact_phone="call me"), "contact.phone: not a valid phone number: 'call me'"),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InboundPayloadError) as caught:
        parse_inbound(ACCOUNT, raw)
    assert str(caught.value).startswith(reason), str(caught.value)


def test_text_limit_is_the_callers() -> None:
    assert parse_inbound(ACCOUNT, body(text="x" * 10), max_text_chars=10).text == "x" * 10
    with pytest.raises(InboundPayloadError, match=r"^text is longer than 10 characters$"):
        parse_inbound(ACCOUNT, body(text="x" * 11), max_text_chars=10)


def test_phone_region_is_the_callers() -> None:
    message = parse_inbound(ACCOUNT, body(contact_phone="020 555 0123"), default_region="NL")
    assert message.sender.claims == (ContactClaim("phone", "+31205550123", verified=True),)
    with pytest.raises(InboundPayloadError, match=r"^contact\.phone: "):
        parse_inbound(ACCOUNT, body(contact_phone="020 555 0123"), default_region="US")
