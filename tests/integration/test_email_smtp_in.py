"""The inbound SMTP server, spoken to with the standard library's smtplib as a mail server would."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.email.smtp_server import InboundSmtpHandler, Verdict, parse_listen, start_smtp_server
from tests.fakes.callback_server import free_port

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"


class Mailboxes:
    """A stand-in for the app's side: two accounts, a store that can be made to fail."""

    def __init__(self) -> None:
        self.addresses = {"support@acme.example": "acc-1", "sales@acme.example": "acc-2"}
        self.stored: list[tuple[str, bytes]] = []
        self.verdict: Verdict | None = None

    async def resolve(self, address: str) -> str | None:
        return self.addresses.get(address)

    async def store(self, account_id: str, raw: bytes) -> Verdict:
        if self.verdict is not None:
            return self.verdict
        self.stored.append((account_id, raw))
        return Verdict(accepted=True)


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Mailboxes, int]]:
    boxes = Mailboxes()
    port = free_port()
    server = await start_smtp_server(
        InboundSmtpHandler(boxes.resolve, boxes.store), "127.0.0.1", port, data_size_limit=200_000
    )
    yield boxes, port
    server.close()
    await server.wait_closed()


def _send(port: int, to: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail("customer@example.net", to, raw)


async def test_a_mail_to_our_address_is_stored_with_its_exact_bytes(smtp: tuple[Mailboxes, int]) -> None:
    boxes, port = smtp
    raw = (FIXTURES / "multipart_alternative_utf-8_qp_czech__django-helpdesk.eml").read_bytes()
    refused = await asyncio.to_thread(_send, port, ["Support@Acme.example"], raw)
    assert refused == {}
    [(account, stored)] = boxes.stored
    # SMTP carries lines ending in CRLF and a final line break; the content is otherwise untouched.
    assert account == "acc-1"
    assert stored.replace(b"\r\n", b"\n").rstrip(b"\n") == raw.replace(b"\r\n", b"\n").rstrip(b"\n")


async def test_one_mail_to_two_accounts_is_stored_for_each(smtp: tuple[Mailboxes, int]) -> None:
    boxes, port = smtp
    raw = b"From: customer@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
    await asyncio.to_thread(_send, port, ["support@acme.example", "sales@acme.example"], raw)
    assert sorted(account for account, _ in boxes.stored) == ["acc-1", "acc-2"]


async def test_unknown_recipients_are_refused_at_rcpt(smtp: tuple[Mailboxes, int]) -> None:
    boxes, port = smtp
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(_send, port, ["nobody@acme.example"], b"From: a@b.c\r\n\r\nx\r\n")
    code, text = refused.value.recipients["nobody@acme.example"]
    assert code == 550 and b"no mailbox" in text
    assert boxes.stored == []


async def test_a_permanent_refusal_is_550_with_the_reason(smtp: tuple[Mailboxes, int]) -> None:
    boxes, port = smtp
    boxes.verdict = Verdict(accepted=False, reason="no From address: nobody to answer", permanent=True)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(_send, port, ["support@acme.example"], b"Subject: x\r\n\r\nx\r\n")
    assert refused.value.smtp_code == 550 and b"no From address" in refused.value.smtp_error


async def test_a_temporary_failure_is_451_so_the_sender_retries(smtp: tuple[Mailboxes, int]) -> None:
    boxes, port = smtp
    boxes.verdict = Verdict(accepted=False, reason="database unavailable")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(_send, port, ["support@acme.example"], b"From: a@b.c\r\n\r\nx\r\n")
    assert refused.value.smtp_code == 451


async def test_a_mail_over_the_size_limit_is_552(smtp: tuple[Mailboxes, int]) -> None:
    boxes, port = smtp
    raw = b"From: a@b.c\r\n\r\n" + b"x" * 300_000 + b"\r\n"
    with pytest.raises(smtplib.SMTPException) as refused:
        await asyncio.to_thread(_send, port, ["support@acme.example"], raw)
    assert "552" in str(refused.value) and boxes.stored == []


@pytest.mark.parametrize(
    ("value", "expected"), [("127.0.0.1:2525", ("127.0.0.1", 2525)), ("[::1]:25", ("::1", 25))]
)
def test_listen_addresses(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["2525", "host:", ":25", "host:port"])
def test_bad_listen_addresses(value: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(value)
