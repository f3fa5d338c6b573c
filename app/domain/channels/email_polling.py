"""IMAP polling: each email account with an ``imap_url`` is read every ``poll_interval`` seconds.

A poll reads the messages above the last UID stored (``config.imap_state``), stores each with the
same code as SMTP and the webhook, and moves the state forward after each stored mail. A mail that
can never be taken (no sender) is skipped with a log line, so one bad message never blocks the
mailbox; anything else that fails (the database is down) stops the poll where it is, and the next
poll reads the rest again (the ``Message-ID`` dedupe keeps what was stored). A changed
``UIDVALIDITY`` reads the whole folder again under the same dedupe.

The worker polls (``onethread worker``, or ``serve`` in the embedded shape);
``onethread channel email poll ACCOUNT`` polls once by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db.models import ChannelAccount
from app.domain.channels.accounts import account_config, do_update_channel_account_config, to_config
from app.domain.channels.email_inbound import MailRefusedError, MailStore, store_mail
from app.lib.errors import NotFoundError
from integrations.email import CHANNEL, IMAP_STATE_KEY, IMAP_URL_KEY, POLL_INTERVAL_KEY
from integrations.email.imap import ImapLoginError, ImapMailbox, InvalidImapUrlError, poll

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 60.0
MAILS_PER_POLL = 50


class MailboxNotPollableError(NotFoundError):
    """No such email account, or it has no IMAP mailbox to poll."""

    type_slug = "mailbox-not-pollable"


@dataclass(frozen=True, slots=True)
class PollSummary:
    fetched: int
    stored: int
    duplicates: int
    refused: int
    more: bool
    """Whether the mailbox had more new mail than one poll takes (the next poll goes on)."""


async def poll_mailbox(store: MailStore, account_id: str) -> PollSummary:
    """Poll one account's mailbox once (see the module docstring)."""
    try:
        key = uuid.UUID(account_id)
    except ValueError:
        raise MailboxNotPollableError("no such email account") from None
    async with store.writer.sessionmaker() as session:
        account = await account_config(session, key)  # fresh, not cached: the state moves
    if account is None or account.channel != CHANNEL:
        raise MailboxNotPollableError("no such email account")
    url = account.secrets.get(IMAP_URL_KEY)
    if not url:
        raise MailboxNotPollableError("this email account has no IMAP mailbox to poll")
    mailbox = ImapMailbox.from_url(url)
    state: dict[str, Any] = dict(account.config.get(IMAP_STATE_KEY) or {})
    uidvalidity = state.get("uidvalidity") if isinstance(state.get("uidvalidity"), int) else None
    last_uid = int(state.get("last_uid") or 0) if uidvalidity is not None else 0
    result = await asyncio.to_thread(
        poll, mailbox, uidvalidity=uidvalidity, after_uid=last_uid, limit=MAILS_PER_POLL
    )
    stored = duplicates = refused = 0
    for fetched in result.mails:
        try:
            outcome = await store_mail(store, account, fetched.raw)
        except MailRefusedError as error:
            refused += 1
            log.warning("mailbox of account %s: UID %s skipped (%s)", account.id, fetched.uid, error.detail)
        else:
            duplicates += outcome.outcome == "duplicate"
            stored += outcome.outcome != "duplicate"
        await do_update_channel_account_config(
            store.writer,
            account_id=account.id,
            changes={IMAP_STATE_KEY: {"uidvalidity": result.uidvalidity, "last_uid": fetched.uid}},
        )
    if not result.mails and uidvalidity != result.uidvalidity:
        await do_update_channel_account_config(
            store.writer,
            account_id=account.id,
            changes={IMAP_STATE_KEY: {"uidvalidity": result.uidvalidity, "last_uid": 0}},
        )
    return PollSummary(
        fetched=len(result.mails),
        stored=stored,
        duplicates=duplicates,
        refused=refused,
        more=len(result.mails) == MAILS_PER_POLL,
    )


class MailboxPoller:
    """Polls every pollable email account on its interval, in the worker process."""

    def __init__(self, store: MailStore, *, tick: float = 5.0) -> None:
        self.store = store
        self.tick = tick
        self._last_polled: dict[str, float] = {}

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.poll_due()
            except Exception:
                log.exception("polling mailboxes failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.tick)

    async def poll_due(self) -> None:
        for account_id, interval in await self._pollable():
            now = time.monotonic()
            if now - self._last_polled.get(account_id, -interval) < interval:
                continue
            self._last_polled[account_id] = now
            try:
                summary = await poll_mailbox(self.store, account_id)
            except (ImapLoginError, InvalidImapUrlError) as error:
                log.warning("mailbox of account %s cannot be polled: %s", account_id, error)
                continue
            except OSError as error:
                log.warning("mailbox of account %s unreachable: %s", account_id, type(error).__name__)
                continue
            if summary.more:
                self._last_polled.pop(account_id, None)  # more waiting: the next tick goes on
            if summary.fetched:
                log.info("mailbox of account %s: %s", account_id, summary)

    async def _pollable(self) -> list[tuple[str, float]]:
        async with self.store.writer.sessionmaker() as session:
            rows = await session.execute(
                select(ChannelAccount).where(
                    col(ChannelAccount.channel) == CHANNEL, col(ChannelAccount.enabled).is_(True)
                )
            )
            accounts = list(rows.scalars())
        found: list[tuple[str, float]] = []
        for config in map(to_config, accounts):
            if not config.secrets.get(IMAP_URL_KEY):
                continue
            interval = config.config.get(POLL_INTERVAL_KEY)
            seconds = float(interval) if isinstance(interval, int | float) else DEFAULT_POLL_INTERVAL
            found.append((config.id, seconds))
        return found
