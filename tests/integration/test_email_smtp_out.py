"""The email adapter against a real SMTP server on loopback: what the customer's mail client gets."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from integrations.base import PermanentDeliveryError, RetryableDeliveryError
from integrations.email.outbound import EmailAdapter, InvalidSmtpUrlError, SmtpServer
from integrations.email.parse import parse_mail
from integrations.types import AccountConfig, OutboundMessage
from tests.fakes.callback_server import free_port
from tests.fakes.smtp_sink import SmtpSink


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as running:
        yield running


def _account(smtp_url: str) -> AccountConfig:
    return AccountConfig(
        id="acc",
        channel="email",
        name="Acme Support",
        config={"address": "support@acme.example"},
        secrets={"smtp_url": smtp_url},
    )


def _reply(**metadata: object) -> OutboundMessage:
    return OutboundMessage(
        message_id=7,
        thread_id=3,
        recipient_id="sam@example.net",
        text="Hi Sam,\n\nYour parcel left today.\n<script>x</script>",
        author_name="Ada",
        subject="Re: Where is my parcel?",
        metadata={
            "email": {
                "message_id": "onethread.7.abc@acme.example",
                "in_reply_to": "CAF123@mail.gmail.com",
                "references": ["first@mail.gmail.com", "CAF123@mail.gmail.com"],
                "reply_to": "reply+t3-0123456789abcdef@acme.example",
                **metadata,
            }
        },
    )


async def test_a_reply_arrives_threadable_with_text_and_html(sink: SmtpSink) -> None:
    result = await EmailAdapter().send(_account(sink.url), _reply())
    [mail] = await sink.wait_for(1)
    assert result.external_id == "onethread.7.abc@acme.example"
    assert mail.rcpt_tos == ("sam@example.net",)
    message = mail.message
    assert message["Message-ID"] == "<onethread.7.abc@acme.example>"
    assert message["In-Reply-To"] == "<CAF123@mail.gmail.com>"
    assert message["References"] == "<first@mail.gmail.com> <CAF123@mail.gmail.com>"
    assert message["Reply-To"].addresses[0].addr_spec == "reply+t3-0123456789abcdef@acme.example"
    assert message["From"].addresses[0].display_name == "Ada"
    assert message["Subject"] == "Re: Where is my parcel?"
    assert "Auto-Submitted" not in message, "a person's reply is not automatic mail"
    html_part = message.get_body(("html",))
    assert html_part is not None and "&lt;script&gt;" in html_part.get_content()
    # Our own parser reads it back whole (the customer's reply will quote it).
    parsed = parse_mail(mail.raw)
    assert parsed.text.startswith("Hi Sam,") and parsed.message_id == "onethread.7.abc@acme.example"


async def test_bot_answers_are_marked_automatic(sink: SmtpSink) -> None:
    await EmailAdapter().send(_account(sink.url), _reply(automatic=True))
    [mail] = await sink.wait_for(1)
    assert mail.message["Auto-Submitted"] == "auto-replied"


async def test_a_subject_with_line_breaks_cannot_add_headers(sink: SmtpSink) -> None:
    message = _reply()
    injected = OutboundMessage(**{**_fields(message), "subject": "Re: hi\r\nBcc: victim@example.org"})
    await EmailAdapter().send(_account(sink.url), injected)
    [mail] = await sink.wait_for(1)
    assert mail.rcpt_tos == ("sam@example.net",) and "Bcc" not in mail.message
    assert mail.message["Subject"] == "Re: hi Bcc: victim@example.org"


async def test_a_4xx_answer_is_retried_and_a_5xx_is_final(sink: SmtpSink) -> None:
    sink.answer_next("451 4.3.0 Please try again later")
    with pytest.raises(RetryableDeliveryError, match="451"):
        await EmailAdapter().send(_account(sink.url), _reply())
    sink.answer_next("554 5.7.1 Message refused")
    with pytest.raises(PermanentDeliveryError, match="554"):
        await EmailAdapter().send(_account(sink.url), _reply())
    sink.refuse_recipients.add("sam@example.net")
    with pytest.raises(PermanentDeliveryError, match=r"sam@example\.net"):
        await EmailAdapter().send(_account(sink.url), _reply())
    assert sink.received == []


async def test_a_server_that_is_down_is_retried() -> None:
    with pytest.raises(RetryableDeliveryError, match="could not be reached"):
        await EmailAdapter(timeout=2).send(_account(f"smtp://127.0.0.1:{free_port()}?starttls=off"), _reply())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 587, None, None, False, None)),
        (
            "smtps://u%40x:p%3Aw@mail.example.com",
            SmtpServer("mail.example.com", 465, "u@x", "p:w", True, None),
        ),
        ("smtp://h:2525?starttls=require", SmtpServer("h", 2525, None, None, False, True)),
        ("smtp://h:25?starttls=off", SmtpServer("h", 25, None, None, False, False)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == expected


@pytest.mark.parametrize("url", ["http://h", "smtp://", "smtp://h:port", "smtp://h?starttls=maybe"])
def test_bad_smtp_urls_say_what_is_wrong(url: str) -> None:
    with pytest.raises(InvalidSmtpUrlError):
        SmtpServer.from_url(url)


def _fields(message: OutboundMessage) -> dict[str, object]:
    return {name: getattr(message, name) for name in OutboundMessage.__dataclass_fields__}
