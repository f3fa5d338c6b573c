"""Send replies as mail through the account's SMTP server (``aiosmtplib``).

The app decides the threading headers before the message is queued (our ``Message-ID``, the
customer's ids for ``In-Reply-To`` and ``References``, the ``reply+<token>@`` address) and hands
them over in ``OutboundMessage.metadata["email"]``; this adapter only builds the MIME message and talks SMTP.
So a retried send carries the same ``Message-ID``, and the customer's client can thread it.

Account settings: ``config.address`` (our support address, the ``From``), optional
``config.from_name``; ``secrets.smtp_url`` — ``smtp://user:password@host:587`` (STARTTLS when the
server offers it; ``?starttls=require`` to insist, ``?starttls=off`` for a loopback relay) or
``smtps://…:465`` (TLS from the first byte). User and password are URL-encoded.
"""

from __future__ import annotations

import html
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from integrations.base import (
    Capabilities,
    ChannelAdapter,
    DeliveryContext,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from integrations.email import ADDRESS_KEY, CHANNEL, SMTP_URL_KEY
from integrations.text import N_
from integrations.types import AccountConfig, OutboundMessage, SendResult

_MAX_SUBJECT = 250


class InvalidSmtpUrlError(ValueError):
    """An ``smtp_url`` we cannot connect with; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to hand mail over, parsed from the account's ``smtp_url``."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None
    """``True``: insist on STARTTLS; ``None``: use it when offered; ``False``: never."""

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url.strip())
        if parts.scheme not in {"smtp", "smtps"}:
            raise InvalidSmtpUrlError("the SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise InvalidSmtpUrlError("the SMTP URL has no host")
        try:
            port = parts.port
        except ValueError as error:
            raise InvalidSmtpUrlError("the SMTP URL's port is not a number") from error
        implicit_tls = parts.scheme == "smtps"
        mode = parse_qs(parts.query).get("starttls", ["auto"])[-1].lower()
        if mode not in {"auto", "require", "off"}:
            raise InvalidSmtpUrlError("starttls must be auto, require or off")
        return cls(
            hostname=parts.hostname,
            port=port or (465 if implicit_tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            start_tls=None if implicit_tls or mode == "auto" else mode == "require",
        )


def build_mail(account: AccountConfig, message: OutboundMessage) -> EmailMessage:
    """The MIME message for one reply: text and HTML alternatives, threading headers, and
    ``Auto-Submitted`` only when no person wrote it (RFC 3834: so other robots don't answer)."""
    facts = message.metadata.get("email")
    meta: Mapping[str, Any] = facts if isinstance(facts, Mapping) else {}
    address = str(account.config.get(ADDRESS_KEY) or "")
    if "@" not in address:
        raise PermanentDeliveryError("this email channel has no sender address")
    mail = EmailMessage()
    sender_name = _one_line(str(message.author_name or account.config.get("from_name") or account.name))
    mail["From"] = formataddr((sender_name, address))
    mail["To"] = message.recipient_id
    reply_to = meta.get("reply_to")
    if isinstance(reply_to, str) and "@" in reply_to:
        mail["Reply-To"] = formataddr((sender_name, reply_to))
    mail["Subject"] = _one_line(message.subject or "")[:_MAX_SUBJECT]
    message_id = meta.get("message_id")
    if not isinstance(message_id, str) or "@" not in message_id:
        raise PermanentDeliveryError("the reply has no Message-ID")
    mail["Message-ID"] = f"<{message_id}>"
    in_reply_to = meta.get("in_reply_to")
    if isinstance(in_reply_to, str) and in_reply_to:
        mail["In-Reply-To"] = f"<{in_reply_to}>"
    references = _ids(meta.get("references"))
    if references:
        mail["References"] = " ".join(f"<{ref}>" for ref in references)
    mail["Date"] = format_datetime(datetime.now(UTC))
    if meta.get("automatic"):
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(message.text or "")
    mail.add_alternative(message.html or _html_from_text(message.text or ""), subtype="html")
    return mail


class EmailAdapter(ChannelAdapter):
    """Sends replies by SMTP. 4xx answers and connection trouble are retried; 5xx is final."""

    channel: ClassVar[str] = CHANNEL  # type: ignore[misc]
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True, html=True)
    max_text_length: ClassVar[int | None] = None

    def __init__(self, *, timeout: float = 30.0, tls_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.tls_context = tls_context

    def unavailable_reason(self, account: AccountConfig, context: DeliveryContext) -> str | None:
        if not account.secrets.get(SMTP_URL_KEY):
            return N_("this email channel has no SMTP server, so replies cannot be sent")
        return None

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        url = account.secrets.get(SMTP_URL_KEY)
        if not url:
            raise PermanentDeliveryError("this email channel has no SMTP server")
        try:
            server = SmtpServer.from_url(url)
        except InvalidSmtpUrlError as error:
            raise PermanentDeliveryError(str(error)) from None
        mail = build_mail(account, message)
        try:
            await aiosmtplib.send(
                mail,
                hostname=server.hostname,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                timeout=self.timeout,
                tls_context=self.tls_context,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise PermanentDeliveryError(_refusal(error.recipients)) from None
        except aiosmtplib.SMTPResponseException as error:
            reason = f"the mail server answered {error.code} {_one_line(error.message)[:200]}"
            if 400 <= error.code < 500:
                raise RetryableDeliveryError(reason) from None
            raise PermanentDeliveryError(reason) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # Connection refused, TLS trouble, timeouts: the server may be back later.
            raise RetryableDeliveryError(
                f"the mail server could not be reached ({type(error).__name__})"
            ) from None
        return SendResult(external_id=str(mail["Message-ID"]).strip("<>"))


def _refusal(recipients: Sequence[aiosmtplib.SMTPRecipientRefused]) -> str:
    first = recipients[0] if recipients else None
    if first is None:
        return "the mail server refused the recipient"
    return f"the mail server refused {first.recipient}: {first.code} {_one_line(first.message)[:200]}"


def _ids(value: object) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, str) and item and " " not in item][-20:]


def _one_line(value: str) -> str:
    """Header text with no line breaks: a customer's subject can never add a header of its own."""
    return " ".join(value.split())


def _html_from_text(text: str) -> str:
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">{body}</body></html>'
