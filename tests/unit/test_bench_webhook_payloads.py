"""The webhook benchmark posts what the platforms post, and our webhooks read it as they would theirs.

``bench/webhook_payloads.py`` makes the bodies of ``bench/webhooks.py``; these tests hold them to the
webhook code itself: the signature ``integrations.messenger.signature_ok`` checks, the parsers that
turn them into one message each from the intended customer under the intended dedupe key, and
re-posts that are the same bytes (what a platform's retry is).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from integrations.messenger import parse_webhook, signature_ok
from integrations.telegram import SECRET_HEADER, parse_update
from integrations.types import InboundMessage

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import webhook_payloads as wp  # bench/ is not a package: found through the line above
from loadgen import MARKER, marker

ACCOUNT = "acct-1"
BOT_ID = "6123456789"
PAGE_ID = "104000000000123"
APP_SECRET = "3f1c0ffee0ddba11deadbeef00c0ffee"


class FakeClock:
    """A second passes between readings."""

    def __init__(self) -> None:
        self.now = 1_764_500_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def telegram_stream(contacts: int = 7) -> wp.TelegramStream:
    return wp.TelegramStream(
        bot_id=BOT_ID,
        secret="s3cr3t_T0ken-x",
        contacts=contacts,
        templates=wp.telegram_templates(),
        clock=FakeClock(),
    )


def messenger_stream(contacts: int = 7) -> wp.MessengerStream:
    return wp.MessengerStream(
        page_id=PAGE_ID,
        app_secret=APP_SECRET,
        contacts=contacts,
        templates=wp.messenger_templates(),
        clock=FakeClock(),
    )


def test_messenger_signature_is_what_our_webhook_accepts_over_the_exact_bytes() -> None:
    made = messenger_stream().generate(1, 42, marker("t1", 42))
    headers = dict(made.headers)
    assert signature_ok(APP_SECRET, made.body, headers[wp.MESSENGER_SIGNATURE_HEADER])
    assert not signature_ok("another-secret", made.body, headers[wp.MESSENGER_SIGNATURE_HEADER])
    reserialized = json.dumps(json.loads(made.body)).encode()
    assert reserialized != made.body
    assert not signature_ok(APP_SECRET, reserialized, headers[wp.MESSENGER_SIGNATURE_HEADER])


def test_messenger_bodies_escape_non_ascii_like_meta() -> None:
    stream = messenger_stream()
    bodies = [stream.generate(0, seq, marker("t1", seq)).body for seq in range(len(wp.TEXTS))]
    assert all(body.isascii() for body in bodies)
    texts = [json.loads(body)["entry"][0]["messaging"][0]["message"]["text"] for body in bodies]
    assert any(not text.isascii() for text in texts)  # "您好", "beschädigt", the emoji


@pytest.mark.parametrize("seq", range(10))
def test_every_messenger_template_parses_to_one_message_of_the_intended_customer(seq: int) -> None:
    stream = messenger_stream(contacts=3)
    made = stream.generate(2, seq, marker("abc", seq))
    parsed = parse_webhook(ACCOUNT, made.body)
    assert parsed.receipts == () and parsed.ignored == 0
    (message,) = parsed.messages
    assert message.external_id == made.key == stream.key(2, seq)
    assert message.sender.external_id == f"{PAGE_ID}:{stream.first_psid + seq % 3}"
    found = MARKER.search(message.text)
    assert found is not None and found.groups() == ("abc", str(seq))


@pytest.mark.parametrize("seq", range(6))
def test_every_telegram_template_parses_to_one_message_of_the_intended_customer(seq: int) -> None:
    stream = telegram_stream(contacts=4)
    made = stream.generate(1, seq, marker("xyz", seq))
    assert dict(made.headers) == {SECRET_HEADER: stream.secret}
    message = parse_update(ACCOUNT, made.body, bot_id=BOT_ID)
    assert isinstance(message, InboundMessage)
    assert message.external_id == made.key == f"{BOT_ID}:{stream.update_id(1, seq)}"
    assert message.sender.external_id == str(stream.first_user_id + seq % 4)
    assert message.sender.name == wp.customer_name(seq % 4)
    found = MARKER.search(message.text)
    assert found is not None and found.groups() == ("xyz", str(seq))


@pytest.mark.parametrize("make", [telegram_stream, messenger_stream])
def test_a_retry_is_the_same_bytes_and_other_updates_have_other_keys(
    make: type[wp.TelegramStream] | type[wp.MessengerStream],
) -> None:
    stream = make()
    first = stream.generate(1, 5, marker("t", 5))
    again = stream.generate(1, 5, marker("t", 5))
    assert (again.body, again.headers, again.key) == (first.body, first.headers, first.key)
    keys = {stream.generate(phase, seq, marker("t", seq)).key for phase in range(3) for seq in range(300)}
    assert len(keys) == 900


def test_customers_are_round_robin_and_all_distinct_without_a_pool() -> None:
    pooled = messenger_stream(contacts=5)
    senders = {
        parse_webhook(ACCOUNT, pooled.generate(1, seq, "m").body).messages[0].sender.external_id
        for seq in range(50)
    }
    assert len(senders) == 5
    fresh = telegram_stream(contacts=0)
    users = set()
    for seq in range(50):
        message = parse_update(ACCOUNT, fresh.generate(1, seq, "m").body, bot_id=BOT_ID)
        assert isinstance(message, InboundMessage)
        users.add(message.sender.external_id)
    assert len(users) == 50


def test_messages_carry_the_time_they_were_first_made() -> None:
    """Each customer's messages in time order (the fast ingest path needs it), retries unchanged."""
    stream = telegram_stream(contacts=2)
    times = []
    for seq in range(6):
        message = parse_update(ACCOUNT, stream.generate(1, seq, "m").body, bot_id=BOT_ID)
        assert isinstance(message, InboundMessage) and message.sent_at is not None
        times.append(message.sent_at.timestamp())
    assert times == sorted(times) and len(set(times)) == 6
    again = parse_update(ACCOUNT, stream.generate(1, 0, "m").body, bot_id=BOT_ID)
    assert isinstance(again, InboundMessage) and again.sent_at is not None
    assert again.sent_at.timestamp() == times[0]
    page = messenger_stream()
    first, second = (parse_webhook(ACCOUNT, page.generate(1, seq, "m").body).messages[0] for seq in (0, 1))
    assert first.sent_at is not None and second.sent_at is not None
    assert (second.sent_at - first.sent_at).total_seconds() == 1.0
