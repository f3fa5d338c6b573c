"""One mail in, whichever way it came (SMTP, IMAP, the raw-MIME webhook): parse, classify, store once.

- A mail with no usable sender is refused (``MailRefusedError``: SMTP 550, HTTP 422): nobody could
  be answered, and the sending server tells its user at once.
- A read receipt is acknowledged and not stored: it says nothing an agent needs.
- A bounce marks our mail that bounced ``failed`` with the server's reason; it is not a customer
  message and is not stored as one.
- An auto-reply (out of office, …) is stored in the customer's thread, marked automatic: it never
  reopens the thread, and the bot never answers it.
- Anything else is the customer writing: stored in their one thread, deduplicated on its
  ``Message-ID`` per account, so the same mail seen by SMTP and by IMAP is one message.

Mail from our own address, or to it from one of our reply addresses, is a loop and is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from app.domain.channels.delivery import do_apply_bounce
from app.domain.channels.email_addresses import thread_from_token
from app.domain.inbox.actions import IngestResult, do_ingest
from app.domain.inbox.email_threading import EMAIL_META
from app.domain.realtime.writer import Writer
from app.lib.errors import DomainError
from app.lib.storage import FileStorage
from app.settings import Settings
from integrations.email import ADDRESS_KEY, CHANNEL, REPLY_KEY
from integrations.email.parse import MalformedMailError, ParsedMail, parse_mail
from integrations.types import AccountConfig, InboundMessage, InboundSender

log = logging.getLogger(__name__)

MailOutcome = Literal["stored", "duplicate", "automatic", "bounce", "ignored"]


class MailRefusedError(DomainError):
    """Mail we can never take; ``detail`` is the reason given to the sending server."""

    status_code = 422
    type_slug = "invalid-mail"
    title = "Mail refused"


@dataclass(frozen=True, slots=True)
class StoredMail:
    outcome: MailOutcome
    message_id: int | None = None
    thread_id: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MailStore:
    """What storing mail needs; the web process, the worker (IMAP) and the CLI each have one."""

    writer: Writer
    settings: Settings
    files: FileStorage
    after_ingest: Callable[[IngestResult], Awaitable[None]] | None = None
    """What follows a stored mail (``Jobs.after_ingest``: the bot's turn); none in the CLI."""


async def store_mail(store: MailStore, account: AccountConfig, raw: bytes) -> StoredMail:
    """Take one raw RFC 5322 message for an email account (see the module docstring)."""
    try:
        mail = parse_mail(raw, max_attachment_bytes=store.settings.max_attachment_bytes)
    except MalformedMailError as error:
        raise MailRefusedError(error.reason) from None
    support = str(account.config.get(ADDRESS_KEY) or "").lower()
    if mail.from_address == support:
        log.info("mail from our own address to account %s dropped (a loop)", account.id)
        return StoredMail("ignored", reason="from our own address")
    kind = mail.classification.kind
    if kind == "read_receipt":
        return StoredMail("ignored", reason="read receipt")
    if kind == "bounce":
        return await _apply_bounce(store.writer, account, mail)
    result = await do_ingest(
        store.writer,
        _inbound(account, mail),
        max_attachment_bytes=store.settings.max_attachment_bytes,
        files=store.files,
    )
    if store.after_ingest is not None:
        await store.after_ingest(result)
    if result.duplicate:
        outcome: MailOutcome = "duplicate"
    else:
        outcome = "automatic" if kind == "auto_reply" else "stored"
    return StoredMail(outcome, message_id=result.message_id, thread_id=result.thread_id)


def _inbound(account: AccountConfig, mail: ParsedMail) -> InboundMessage:
    reply_key = account.secrets.get(REPLY_KEY, "")
    token_thread = next(
        (t for token in mail.reply_tokens if reply_key and (t := thread_from_token(reply_key, token))),
        None,
    )
    facts: dict[str, Any] = {
        "message_id": mail.message_id,
        "in_reply_to": list(mail.in_reply_to[-10:]),
        "references": list(mail.references[-30:]),
        "to": list(mail.recipients[:20]),
        "quotes": [list(span) for span in mail.quotes],
        "kind": mail.classification.kind,
    }
    if token_thread is not None:
        facts["token_thread_id"] = token_thread
    metadata: dict[str, Any] = {EMAIL_META: facts}
    if mail.classification.is_automatic:
        metadata["automatic"] = mail.classification.kind
        facts["automatic_reason"] = mail.classification.reason
    return InboundMessage(
        channel=CHANNEL,
        account_id=account.id,
        external_id=mail.external_id,
        # A From: header proves nothing: the address is the identity, but not a verified one.
        sender=InboundSender(
            channel=CHANNEL, external_id=mail.from_address, name=mail.from_name, verified=False
        ),
        text=mail.text,
        sent_at=mail.sent_at,
        html=mail.html,
        subject=mail.subject or None,
        attachments=mail.attachments,
        metadata=metadata,
    )


async def _apply_bounce(writer: Writer, account: AccountConfig, mail: ParsedMail) -> StoredMail:
    bounce = mail.bounce
    if bounce is None or not bounce.original_message_id:
        log.info("a bounce for account %s names no mail of ours", account.id)
        return StoredMail("ignored", reason="bounce about no mail of ours")
    failed = ", ".join(bounce.failed_recipients) or "the recipient"
    reason = f"the mail bounced: {failed} could not be reached"
    if bounce.diagnostic:
        reason += f" ({bounce.diagnostic})"
    message_id = await do_apply_bounce(
        writer, account_id=account.id, original_message_id=bounce.original_message_id, reason=reason
    )
    if message_id is None:
        log.info("a bounce for account %s names no mail of ours", account.id)
        return StoredMail("ignored", reason="bounce about no mail of ours")
    return StoredMail("bounce", message_id=message_id, reason=reason)
