"""The Telegram part of the channels settings page: each bot's webhook as Telegram has it.

For every enabled Telegram account the page asks the Bot API (``getWebhookInfo``, all accounts at
once, each with a short timeout) where Telegram posts the bot's updates, whether that is this
installation's ``{PUBLIC_URL}/webhooks/telegram/{id}``, how many updates wait and the last delivery
error. "Register webhook" does what ``onethread channel telegram set-webhook`` does. A Bot API that
cannot be reached, or refuses, is said on the page in words: the page itself never fails for it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ChannelAccount
from app.domain.channels.accounts import do_update_channel_account_config, to_config
from app.domain.realtime.writer import Writer
from app.i18n import N_
from integrations.telegram import BOT_TOKEN_KEY, CHANNEL, webhook_secret
from integrations.telegram.bot_admin import (
    BotAPIError,
    bot_username,
    register_webhook,
    webhook_state,
    webhook_url,
)
from integrations.types import AccountConfig

if TYPE_CHECKING:
    from app.domain.console.settings_pages import ChannelRow

log = logging.getLogger(__name__)


@dataclass
class TelegramWebhook:
    """What the page shows about one bot's webhook."""

    expected_url: str
    url: str | None = None
    """Where Telegram posts the bot's updates ("" for nowhere); ``None`` when Telegram could not say."""
    pending_update_count: int = 0
    last_error_message: str | None = None
    last_error_date: datetime | None = None
    error: str | None = None
    """Why Telegram could not be asked (or refused to register), for the admin."""
    has_token: bool = True
    """``False`` for an account without a bot token (the demo's): nothing to ask Telegram."""
    registered: bool = False
    """The admin has just registered the webhook, successfully."""

    @property
    def matches(self) -> bool:
        return self.url == self.expected_url


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """The result of "Register webhook": ``error`` is ``None`` on success."""

    account_id: str
    error: str | None = None
    not_found: bool = False


async def _state(account: AccountConfig, expected: str) -> TelegramWebhook:
    shown = TelegramWebhook(expected_url=expected)
    if not account.secrets.get(BOT_TOKEN_KEY):
        shown.has_token = False
        return shown
    try:
        state = await webhook_state(account)
    except BotAPIError as exc:
        log.info("telegram account %s: getWebhookInfo failed (%s)", account.id, exc.reason)
        shown.error = exc.reason
        return shown
    shown.url = state.url
    shown.pending_update_count = state.pending_update_count
    shown.last_error_message = state.last_error_message
    shown.last_error_date = state.last_error_date
    return shown


async def show_telegram_webhooks(
    rows: Sequence[ChannelRow],
    accounts: Sequence[ChannelAccount],
    public_url: str,
    outcome: RegisterOutcome | None = None,
) -> None:
    """Fill ``row.telegram`` for the enabled Telegram accounts (``rows`` and ``accounts`` align)."""
    wanted = [
        (row, to_config(account))
        for row, account in zip(rows, accounts, strict=True)
        if account.channel == CHANNEL and account.enabled
    ]
    states = await asyncio.gather(
        *(_state(config, webhook_url(public_url, config.id)) for _, config in wanted)
    )
    for (row, _), state in zip(wanted, states, strict=True):
        if outcome is not None and outcome.account_id == row.id:
            if outcome.error:
                state.error = outcome.error  # what the admin just tried is what they need to read
            else:
                state.registered = True
        row.telegram = state


async def register_from_console(
    session: AsyncSession, writer: Writer, public_url: str, account_id: str
) -> RegisterOutcome:
    """Register the webhook of an enabled Telegram account with its secret token; a bot whose
    username is not known yet (added before we asked) learns it, for the contact page's links."""
    try:
        account = await session.get(ChannelAccount, uuid.UUID(account_id))
    except ValueError:
        account = None
    if account is None or account.channel != CHANNEL or not account.enabled:
        return RegisterOutcome(account_id, N_("no such channel account"), not_found=True)
    config = to_config(account)
    try:
        await register_webhook(config, webhook_url(public_url, config.id), webhook_secret(config.secrets))
    except BotAPIError as exc:
        log.info("telegram account %s: setWebhook failed (%s)", config.id, exc.reason)
        return RegisterOutcome(account_id, exc.reason)
    log.info("telegram account %s: webhook registered from the console", config.id)
    if not config.config.get("username"):
        try:
            username = await bot_username(config)
        except BotAPIError as exc:
            log.info("telegram account %s: getMe failed (%s)", config.id, exc.reason)
            username = ""
        if username:
            await do_update_channel_account_config(
                writer, account_id=config.id, changes={"username": username}
            )
    return RegisterOutcome(account_id)
