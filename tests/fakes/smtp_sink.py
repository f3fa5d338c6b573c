"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: our outbound mail's
destination in tests. It can be told to answer the next transactions with an error code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes.callback_server import free_port


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.sink.refuse_recipients and address in self.sink.refuse_recipients:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.answers:
            return self.sink.answers.pop(0)
        raw = envelope.original_content or b""
        self.sink.received.append(ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(raw)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """``async with SmtpSink() as sink``: ``sink.url`` for an account's ``smtp_url``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[ReceivedMail] = []
        self.answers: list[str] = []
        self.refuse_recipients: set[str] = set()
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"

    def answer_next(self, *replies: str) -> None:
        """The next DATA commands get these replies (e.g. ``"451 4.3.0 try later"``)."""
        self.answers.extend(replies)

    async def wait_for(self, count: int, within: float = 10.0) -> list[ReceivedMail]:
        # The server runs on its own thread and loop: poll rather than share an asyncio.Event.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.received) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"{len(self.received)} of {count} mails arrived within {within} s")
            await asyncio.sleep(0.02)
        return self.received

    async def __aenter__(self) -> SmtpSink:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.to_thread(self._controller.stop)
