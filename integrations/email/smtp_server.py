"""The built-in inbound SMTP server (``ONETHREAD_SMTP_LISTEN``): mail for our addresses, straight in.

An ``aiosmtpd`` protocol served on the app's own event loop, so a received mail is stored by the
same code (and database pool) as a webhook. What the sending server hears decides what it does
next, so the answers are precise:

- ``RCPT`` to an address no email account owns → ``550`` (the sender gets a bounce at once);
- the mail stored (or already stored: a retry) → ``250``;
- mail we can never take (no sender, not a mail) → ``550`` with the reason;
- we could not store it now (the database is down) → ``451``: the sending server keeps the mail
  and tries again later, so nothing is lost;
- bigger than the size limit → ``552`` (aiosmtpd, before the data is read in full);
- lines longer than RFC 5321's 1,000 octets are taken (as Postfix does), not refused.

The app supplies two callables: which account an address belongs to, and how to store one mail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What storing one mail came to. ``permanent`` failures are refused with ``550``, others
    with ``451`` so the sender retries."""

    accepted: bool
    reason: str = ""
    permanent: bool = False


ResolveRecipient = Callable[[str], Awaitable[str | None]]
"""An address (lower-cased) → the email account id that receives it, or ``None``."""
StoreMail = Callable[[str, bytes], Awaitable[Verdict]]
"""(account id, raw message bytes) → what became of it."""


class InboundSmtpHandler:
    """aiosmtpd handler hooks: RCPT checks the address, DATA stores the mail once per account."""

    def __init__(self, resolve_recipient: ResolveRecipient, store: StoreMail) -> None:
        self.resolve_recipient = resolve_recipient
        self.store = store

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        try:
            account_id = await self.resolve_recipient(address.strip().lower())
        except Exception:
            log.exception("looking up a recipient failed")
            return "451 4.3.0 Temporary failure, try again later"
        if account_id is None:
            return f"550 5.1.1 <{address}>: no mailbox here by that name"
        envelope.rcpt_tos.append(address)
        accounts: list[str] = getattr(envelope, "onethread_accounts", [])
        if account_id not in accounts:
            accounts.append(account_id)
        envelope.onethread_accounts = accounts  # type: ignore[attr-defined]
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        accounts: list[str] = getattr(envelope, "onethread_accounts", [])
        verdicts: list[Verdict] = []
        for account_id in accounts:
            try:
                verdicts.append(await self.store(account_id, bytes(raw)))
            except Exception:
                log.exception("storing an inbound mail failed")
                verdicts.append(Verdict(accepted=False, reason="temporary failure"))
        refused = [v for v in verdicts if not v.accepted]
        if not refused:
            return "250 2.0.0 OK: stored"
        if all(v.permanent for v in refused):
            return f"550 5.6.0 {_one_line(refused[0].reason) or 'message refused'}"
        # Some account could not store it now: the sender retries, and the ones that did store it
        # recognise the retry by its Message-ID.
        return "451 4.3.0 Temporary failure, try again later"


class _LenientSMTP(SMTP):
    """RFC 5321 caps a line at 1,000 octets, but real mail breaks it (a long unfolded subject, an
    HTML part on one line), and refusing it loses the customer's mail; Postfix accepts such lines
    too. The size limit of the whole mail still applies."""

    line_length_limit = 65_536


async def start_smtp_server(
    handler: InboundSmtpHandler,
    host: str,
    port: int,
    *,
    data_size_limit: int,
    server_hostname: str | None = None,
) -> asyncio.Server:
    """Serve SMTP on ``host:port`` in the running loop; close the returned server to stop."""
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return _LenientSMTP(
            handler,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            hostname=server_hostname,
            ident="OneThread ESMTP",
            timeout=60,
        )

    return await loop.create_server(protocol, host=host, port=port)


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:2525"`` (or ``"[::1]:2525"``) → host and port; ``ValueError`` otherwise."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
