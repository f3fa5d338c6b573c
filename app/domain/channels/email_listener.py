"""The built-in SMTP server's side in the app: which account an address belongs to, and storing.

Addresses match an email account's support address exactly, or with a ``+tag`` (``support+shop@``
reaches ``support@``), or as one of our ``reply+<token>@`` addresses on that account's domain (the
customer's reply to our mail). The server runs inside ``onethread serve`` when
``ONETHREAD_SMTP_LISTEN`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import col

from app.db.models import ChannelAccount
from app.domain.channels.accounts import cached_account
from app.domain.channels.email_inbound import MailRefusedError, MailStore, store_mail
from integrations.email import ADDRESS_KEY, CHANNEL
from integrations.email.smtp_server import InboundSmtpHandler, Verdict, parse_listen, start_smtp_server

log = logging.getLogger(__name__)

_ADDRESSES_TTL = 5.0


class MailListener:
    """Serves SMTP for every enabled email account of this instance."""

    def __init__(self, store: MailStore) -> None:
        self.store = store
        self._server: asyncio.AbstractServer | None = None
        self._addresses: dict[str, str] = {}
        self._loaded_at = -_ADDRESSES_TTL

    async def start(self, listen: str) -> None:
        host, port = parse_listen(listen)
        handler = InboundSmtpHandler(self.resolve_recipient, self.store_raw)
        self._server = await start_smtp_server(
            handler, host, port, data_size_limit=self.store.settings.max_mail_bytes
        )
        log.info("SMTP server listening on %s", listen)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def resolve_recipient(self, address: str) -> str | None:
        addresses = await self._account_addresses()
        local, _, domain = address.partition("@")
        if address in addresses:
            return addresses[address]
        base = f"{local.split('+', 1)[0]}@{domain}"
        if base in addresses:
            return addresses[base]
        if local.startswith("reply+"):
            return next((id_ for known, id_ in addresses.items() if known.endswith("@" + domain)), None)
        return None

    async def store_raw(self, account_id: str, raw: bytes) -> Verdict:
        account = await cached_account(self.store.writer, account_id)
        if account is None or account.channel != CHANNEL:
            return Verdict(accepted=False, reason="this mailbox is not taking mail", permanent=True)
        try:
            await store_mail(self.store, account, raw)
        except MailRefusedError as refused:
            return Verdict(accepted=False, reason=refused.detail, permanent=True)
        except (DBAPIError, OperationalError, OSError):
            log.exception("storing a mail for account %s failed; the sender will retry", account_id)
            return Verdict(accepted=False, reason="temporary failure")
        return Verdict(accepted=True)

    async def _account_addresses(self) -> dict[str, str]:
        if time.monotonic() - self._loaded_at < _ADDRESSES_TTL:
            return self._addresses
        async with self.store.writer.sessionmaker() as session:
            rows = await session.execute(
                select(ChannelAccount).where(
                    col(ChannelAccount.channel) == CHANNEL, col(ChannelAccount.enabled).is_(True)
                )
            )
            self._addresses = {
                str(account.config.get(ADDRESS_KEY) or "").lower(): str(account.id)
                for account in rows.scalars()
                if account.config.get(ADDRESS_KEY)
            }
        self._loaded_at = time.monotonic()
        return self._addresses
