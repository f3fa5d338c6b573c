"""Setting up a Telegram bot: its username (``getMe``), its webhook (``setWebhook``,
``getWebhookInfo``), through PTB's ``Bot`` at the account's ``api_url``.

Used by the CLI (``channel add telegram``, ``channel telegram set-webhook``) and by the console's
channel page. Every failure becomes a :class:`BotAPIError` whose ``reason`` is safe to show an
admin: Telegram's own description of a refusal, or a fixed sentence for a network failure (an
exception's text could carry the request URL, which carries the bot token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError, TimedOut

from integrations.telegram.outbound import api_base_url, make_bot
from integrations.text import N_
from integrations.types import AccountConfig

T = TypeVar("T")

TIMEOUT_SECONDS = 5.0
"""How long an admin's page waits for the Bot API: a page must not hang on an unreachable host."""


class BotAPIError(Exception):
    """The Bot API refused or could not be reached; ``reason`` names why, without any secret."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class WebhookState:
    """What Telegram says about the bot's webhook (``getWebhookInfo``)."""

    url: str
    """Where Telegram posts updates ("" when no webhook is set)."""
    pending_update_count: int = 0
    last_error_message: str | None = None
    last_error_date: datetime | None = None


def webhook_url(public_url: str, account_id: str) -> str:
    """Where this installation receives the account's updates."""
    return f"{public_url.rstrip('/')}/webhooks/telegram/{account_id}"


async def _call(account: AccountConfig, call: Callable[[Bot], Awaitable[T]]) -> T:
    token = account.secrets.get("bot_token")
    if not token:
        raise BotAPIError(N_("this Telegram account has no bot token"))
    bot = make_bot(token, api_base_url(account))
    try:
        return await call(bot)
    except (InvalidToken, Forbidden):
        raise BotAPIError(N_("Telegram refused the bot token")) from None
    except BadRequest as exc:  # a NetworkError to PTB, but Telegram answered: say what it said
        raise BotAPIError(exc.message) from None
    except TimedOut:
        raise BotAPIError(N_("the Telegram Bot API did not answer in time"), unreachable=True) from None
    except NetworkError:
        raise BotAPIError(N_("the Telegram Bot API could not be reached"), unreachable=True) from None
    except TelegramError as exc:
        raise BotAPIError(exc.message) from None
    finally:
        await bot.request.shutdown()


async def bot_username(account: AccountConfig) -> str:
    """The bot's @username (without the @), for ``t.me`` links."""

    async def call(bot: Bot) -> str:
        me = await bot.get_me(connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS)
        return me.username or ""

    return await _call(account, call)


async def webhook_state(account: AccountConfig) -> WebhookState:
    """What Telegram has registered as the bot's webhook, and how delivery to it goes."""

    async def call(bot: Bot) -> WebhookState:
        info = await bot.get_webhook_info(connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS)
        return WebhookState(
            url=info.url or "",
            pending_update_count=info.pending_update_count or 0,
            last_error_message=info.last_error_message,
            last_error_date=info.last_error_date,
        )

    return await _call(account, call)


async def register_webhook(account: AccountConfig, url: str, secret_token: str) -> None:
    """Ask Telegram to POST the bot's updates to ``url`` with ``secret_token`` in the header."""

    async def call(bot: Bot) -> None:
        if not await bot.set_webhook(
            url=url,
            secret_token=secret_token or None,
            connect_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
        ):
            raise BotAPIError(N_("Telegram did not accept the webhook"))

    await _call(account, call)
