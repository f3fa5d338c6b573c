"""``parse_webhook`` and ``signature_ok``: Meta's recorded payloads in, ``InboundMessage`` values out."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integrations.messenger import ParsedWebhook, WebhookBodyError, parse_webhook, signature_ok
from integrations.types import InboundAttachment

ACCOUNT = "8d1c3a52-6f0e-4c1e-9a1b-2f3d4e5f6a7b"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "facebook"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def envelope(*events: dict[str, Any], page: str = "404217156637689") -> bytes:
    """A production webhook body around single ``messaging`` events (how the Bottender captures and
    Meta's docs show them)."""
    return json.dumps(
        {"object": "page", "entry": [{"id": page, "time": 1, "messaging": list(events)}]}
    ).encode()


def event(name: str) -> dict[str, Any]:
    return json.loads(fixture(name))  # type: ignore[no-any-return]


def parse(body: bytes) -> ParsedWebhook:
    return parse_webhook(ACCOUNT, body)


def test_single_text_message() -> None:
    parsed = parse(fixture("webhook_page_single_text__bottender.json"))
    (message,) = parsed.messages
    assert (message.channel, message.account_id, message.external_id, message.text) == (
        "messenger",
        ACCOUNT,
        "mid.1486464322190:cb04e5a654",
        "text",
    )
    assert message.sender.channel == "messenger"
    assert message.sender.external_id == "1895382890692545:1412611362105802"
    assert message.sender.verified
    assert message.sent_at == datetime.fromtimestamp(1486464322.190, tz=UTC)
    assert parsed.receipts == () and parsed.ignored == 0


def test_non_ascii_text_and_nlp_are_read() -> None:
    (message,) = parse(fixture("webhook_page_message_text_non_ascii_with_nlp__corprio.json")).messages
    assert message.text == "不"
    assert message.sender.external_id == "206070979425408:24266381753005180"
    assert message.external_id.startswith("m_dUbr3n22bB5lu3yw12")


def test_every_entry_of_a_batch_is_read() -> None:
    parsed = parse(fixture("webhook_page_batched_two_entries__bottender.json"))
    assert [m.text for m in parsed.messages] == ["test 1", "test 2"]
    assert [m.external_id for m in parsed.messages] == [
        "mid.1486464322190:cb04e5a654",
        "mid.1486464322190:cb04e5a656",
    ]
    # The same customer wrote to the same page (the recipient) both times: one identity.
    assert {m.sender.external_id for m in parsed.messages} == {"1895382890692545:1412611362105802"}


def test_every_messaging_item_of_an_entry_is_read() -> None:
    first, second = (
        event("messaging_event_message_text__bottender.json"),
        event("messaging_event_message_image_attachment__bottender.json"),
    )
    parsed = parse(envelope(first, second))
    assert [m.external_id for m in parsed.messages] == [
        "mid.$cAAE1UUyiiwthh0NPrVbVf4HFNDGl",
        "mid.$cAAE1UUyiiwthh1ZAO1bVhDxGk2N0",
    ]


def test_text_message_event() -> None:
    (message,) = parse(envelope(event("messaging_event_message_text__bottender.json"))).messages
    assert message.text == "Sharp tools make good work."
    assert message.sender.external_id == "404217156637689:1423587017700273"
    assert message.metadata["psid"] == "1423587017700273"


def test_image_attachment_keeps_its_url() -> None:
    (message,) = parse(envelope(event("messaging_event_message_image_attachment__bottender.json"))).messages
    assert message.text == ""
    (attachment,) = message.attachments
    assert attachment.url is not None and attachment.url.startswith("https://scontent.xx.fbcdn.net/")
    assert attachment.filename == "17887258_1429713783754592_1626047672_o.jpg"
    assert attachment.content_type == "image/jpeg"
    assert message.metadata["attachment_types"] == ["image"]


def test_docs_attachment_placeholder_url_is_not_trusted_as_a_url() -> None:
    entry = json.loads(fixture("meta_docs_entry_message_attachment.json"))
    body = json.dumps({"object": "page", "entry": [entry]}).encode()
    (message,) = parse(body).messages
    assert message.external_id == "mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c"
    assert message.sender.external_id == "<PAGE_ID>:<PSID>"
    assert message.attachments == (
        InboundAttachment(filename="<image|video|audio|file|reel|ig_reel>", url=None),
    )


def test_quick_reply_keeps_the_chip_title_and_its_payload() -> None:
    (message,) = parse(envelope(event("meta_docs_messaging_event_message_text_quick_reply.json"))).messages
    assert message.text == "hello, world!"
    assert message.metadata["quick_reply_payload"] == "<DEVELOPER_DEFINED_PAYLOAD>"
    assert message.metadata["button_payload"] == "<DEVELOPER_DEFINED_PAYLOAD>"  # where the bot looks


def test_a_postback_with_a_title_is_the_title_with_the_payload_for_the_bot() -> None:
    tapped = event("messaging_event_postback__bottender.json")
    tapped["postback"] = {"mid": "m_postback-1", "title": "Een medewerker", "payload": "bot:person"}
    (message,) = parse(envelope(tapped)).messages
    assert (message.external_id, message.text) == ("m_postback-1", "Een medewerker")
    assert message.metadata["button_payload"] == message.metadata["postback_payload"] == "bot:person"


def test_an_ordinary_message_has_no_button_payload() -> None:
    (message,) = parse(envelope(event("messaging_event_message_text__bottender.json"))).messages
    assert "button_payload" not in message.metadata


def test_swipe_reply_remembers_what_it_answers() -> None:
    (message,) = parse(envelope(event("meta_docs_messaging_event_message_reply_to.json"))).messages
    assert message.external_id == "m_1457764197618:41d102a3e1ae206a38"
    assert message.metadata["reply_to_mid"] == "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"


def test_postback_without_mid_gets_a_stable_key() -> None:
    body = envelope(event("messaging_event_postback__bottender.json"))
    (message,) = parse(body).messages
    assert message.text == "USER_DEFINED_PAYLOAD"  # no title in this old capture: the payload
    assert message.metadata["postback_payload"] == "USER_DEFINED_PAYLOAD"
    assert message.metadata["button_payload"] == "USER_DEFINED_PAYLOAD"
    assert message.external_id.startswith("postback:")
    assert parse(body).messages[0].external_id == message.external_id  # a retry is the same message
    other = event("messaging_event_postback__bottender.json")
    other["timestamp"] += 1
    assert parse(envelope(other)).messages[0].external_id != message.external_id  # a second tap is not


def test_postback_test_notification_shape_is_read_defensively() -> None:
    """The dashboard's test format: ``{"field", "value"}`` with a ``user_ref`` sender (no PSID)
    and a timestamp in seconds as a string: acknowledged, nobody to answer."""
    parsed = parse(fixture("meta_docs_postback_test_notification_field_value.json"))
    assert parsed.messages == () and parsed.ignored == 1
    value = json.loads(fixture("meta_docs_postback_test_notification_field_value.json"))
    value["value"]["sender"] = {"id": "1423587017700273"}
    (message,) = parse(json.dumps(value).encode()).messages
    assert message.text == "TITLE-FOR-THE-CTA"
    assert message.external_id == "m_MESSAGE-ID"
    assert message.metadata["postback_payload"] == "USER-DEFINED-PAYLOAD"
    assert message.metadata["referral_ref"] == "USER-DEFINED-REFERRAL-PARAM"
    assert message.sent_at == datetime.fromtimestamp(1527459824, tz=UTC)


def test_echo_of_the_pages_own_message_is_ignored() -> None:
    parsed = parse(envelope(event("meta_docs_messaging_event_message_echo_text.json")))
    assert parsed.messages == () and parsed.ignored == 1


def test_delivery_and_read_are_watermarks_not_messages() -> None:
    parsed = parse(
        envelope(
            event("meta_docs_messaging_event_delivery.json"), event("meta_docs_messaging_event_read.json")
        )
    )
    assert parsed.messages == ()
    delivered, read = parsed.receipts
    assert (delivered.kind, delivered.psid, delivered.page_id) == ("delivered", "<PSID>", "<PAGE_ID>")
    assert delivered.sender_external_id == "<PAGE_ID>:<PSID>"
    assert delivered.mids == ("mid.1458668856218:ed81099e15d3f4f233",)
    assert delivered.watermark == datetime.fromtimestamp(1458668856.253, tz=UTC)
    assert (read.kind, read.mids, read.watermark) == ("read", (), delivered.watermark)


@pytest.mark.parametrize(
    "name",
    [
        "meta_docs_graph_webhook_user_photos_changes.json",  # object "user": not a page's messages
        "meta_docs_send_api_request_text_response.json",
        "meta_docs_send_api_response_success.json",
        "send_api_error_outside_window_code10__botframework-issue-2050.json",
        "send_api_request_human_agent_tag__composed_from_docs.json",
    ],
)
def test_other_json_bodies_are_acknowledged_no_ops(name: str) -> None:
    assert parse(fixture(name)) == ParsedWebhook()


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"page"',
        b'{"object": "page", "entry": "nope"}',
        b'{"object": "page", "entry": [1, {"id": "1", "messaging": [2, {"sender": {}}]}]}',
        b'{"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {"id": "2"}, "message": {}}]}]}',
        b'{"object": "page", "entry": [{"id": "1", "standby": [{"sender": {"id": "2"}}]}]}',
    ],
)
def test_unexpected_shapes_never_raise(body: bytes) -> None:
    assert parse(body).messages == ()


@pytest.mark.parametrize(
    "body", [b"", b"{", b'{"object": "page", "entry": [', b"\xff\xfe", b"[" * 200_000, b"1" * 5000]
)
def test_a_body_that_is_not_json_is_an_error_with_a_reason(body: bytes) -> None:
    with pytest.raises(WebhookBodyError, match="not valid JSON"):
        parse(body)


def test_long_text_is_kept_and_nul_is_dropped() -> None:
    text = "x" * 10_000 + "\x00y"
    body = envelope(
        {"sender": {"id": "7"}, "recipient": {"id": "9"}, "message": {"mid": "m_1", "text": text}}
    )
    (message,) = parse_webhook(ACCOUNT, body).messages
    assert message.text == "x" * 10_000 + "y"
    (short,) = parse_webhook(ACCOUNT, body, max_text_chars=5).messages
    assert short.text == "xxxxx"


def test_signature_is_over_the_raw_bytes() -> None:
    """The test vector of channels.md: the raw corprio body under ``test_app_secret``."""
    raw = fixture("webhook_page_message_text_non_ascii_with_nlp__corprio.json")
    good = "sha256=76e51763e141948cbc9940cfbe2b4af3f3e19f85068c31fdc3dcc1557ea69eea"
    assert signature_ok("test_app_secret", raw, good)
    assert signature_ok("test_app_secret", raw, good.upper().replace("SHA256", "sha256"))
    reserialized = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
    resigned = "sha256=" + hmac.new(b"test_app_secret", reserialized, hashlib.sha256).hexdigest()
    assert not signature_ok("test_app_secret", raw, resigned)
    assert not signature_ok("other_secret", raw, good)
    assert not signature_ok("", raw, good)
    for header in (None, "", "sha256=", "sha1=" + good[7:], good[7:], "sha256=zz"):
        assert not signature_ok("test_app_secret", raw, header)


def test_what_the_database_cannot_store_never_reaches_it() -> None:
    """NUL and unpaired surrogates (valid JSON escapes) would make PostgreSQL refuse the row: a
    message keeps its text without them; an id made of them is no id."""
    base = {"sender": {"id": "7"}, "recipient": {"id": "9"}, "timestamp": 10**400}
    body = envelope(
        {**base, "message": {"mid": "m_ok", "text": "a\x00b\ud800c", "quick_reply": {"payload": "p\x00"}}},
        {**base, "message": {"mid": "m_\x00", "text": "dropped"}},
        {**base, "sender": {"id": "\udc00"}, "message": {"mid": "m_2", "text": "dropped"}},
        {**base, "timestamp": float("nan"), "postback": {"payload": "\ud83d", "title": 5}},
    )
    ok, postback = parse(body).messages
    assert (ok.text, ok.sent_at, ok.metadata["quick_reply_payload"]) == ("ab\ufffdc", None, "p")
    assert (postback.text, postback.metadata["postback_payload"]) == ("\ufffd", "\ufffd")
    for message in (ok, postback):
        json.dumps(dict(message.metadata), ensure_ascii=False).encode()  # storable as UTF-8 JSON
        message.text.encode()
