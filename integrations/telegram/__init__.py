"""Telegram: customers writing to the company's bot (python-telegram-bot parses the updates).

Inbound: Telegram POSTs each update to ``/webhooks/telegram/{account_id}`` with the secret the
webhook was registered with in ``X-Telegram-Bot-Api-Secret-Token``; ``parse_update`` turns the body
into an ``InboundMessage`` (or says why the update is no message for the inbox).

An account's secrets: ``bot_token`` (the token BotFather gave; its number before the colon is the
bot id in dedupe keys) and ``webhook_secret`` (the ``secret_token`` given to ``setWebhook``). An
account without a ``webhook_secret`` uses its ``signing_secret``, which every account gets and
which fits Telegram's rule for secret tokens (1 to 256 of ``A-Z a-z 0-9 _ -``).

Outbound: ``TelegramAdapter`` sends replies with ``sendMessage`` through the Bot API at the
account's ``api_url`` (config; Telegram's own by default), split at Telegram's 4096-character limit,
with the reply's buttons as an inline keyboard; ``TelegramAdapter.answer_callback_query``
acknowledges a pressed button.
"""

from collections.abc import Mapping

from integrations.telegram.inbound import (
    CHANNEL,
    IgnoredUpdate,
    UnreadableUpdateError,
    UpdateJSONError,
    bot_id_from_token,
    callback_query_id,
    parse_update,
)
from integrations.telegram.outbound import TelegramAdapter, make_bot, split_text

# Names of a header and of keys in the account's secrets, not secrets themselves:
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105
BOT_TOKEN_KEY = "bot_token"  # noqa: S105
WEBHOOK_SECRET_KEY = "webhook_secret"  # noqa: S105


def webhook_secret(secrets: Mapping[str, str]) -> str:
    """The secret token Telegram must send with this account's webhooks ("" when there is none)."""
    return secrets.get(WEBHOOK_SECRET_KEY) or secrets.get("signing_secret") or ""


__all__ = [
    "BOT_TOKEN_KEY",
    "CHANNEL",
    "SECRET_HEADER",
    "WEBHOOK_SECRET_KEY",
    "IgnoredUpdate",
    "TelegramAdapter",
    "UnreadableUpdateError",
    "UpdateJSONError",
    "bot_id_from_token",
    "callback_query_id",
    "make_bot",
    "parse_update",
    "split_text",
    "webhook_secret",
]
