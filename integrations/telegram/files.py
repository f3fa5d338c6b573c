"""Fetch a customer's Telegram file: ``getFile`` for its path, then the bytes from the file server.

Both requests carry the bot token in their URL (``/bot<token>/getFile``,
``/file/bot<token>/<path>``), so nothing here ever puts a URL into an error, and the app redacts
tokens from HTTP client log lines. Bots may download files up to 20 MB; Telegram refuses bigger
ones at ``getFile`` ("file is too big"), which is a size refusal, not a failure.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from integrations.files import FetchError, RemoteFile, RemoteTooLargeError, http_download
from integrations.telegram.outbound import api_base_url
from integrations.types import AccountConfig

FILE_ID_KEY = "telegram_file_id"
"""The key of an attachment's ``source`` that holds Telegram's ``file_id``."""


class TelegramFiles:
    """Downloads files sent to an account's bot, through the Bot API at the account's ``api_url``."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 30.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._bots: dict[tuple[str, str], Bot] = {}

    def _bot(self, token: str, api_url: str) -> Bot:
        key = (token, api_url)
        bot = self._bots.get(key)
        if bot is None:
            bot = self._bots[key] = Bot(token, base_url=f"{api_url}/bot", base_file_url=f"{api_url}/file/bot")
        return bot

    @asynccontextmanager
    async def open(self, account: AccountConfig, source: Mapping[str, Any]) -> AsyncIterator[RemoteFile]:
        token = account.secrets.get("bot_token", "")
        if not token:
            raise FetchError("this Telegram channel has no bot token", retryable=False)
        file_id = source.get(FILE_ID_KEY)
        if not isinstance(file_id, str) or not file_id:
            raise FetchError("Telegram gave no file id for this file", retryable=False)
        try:
            found = await self._bot(token, api_base_url(account)).get_file(file_id)
        except RetryAfter as exc:
            raise FetchError(
                "Telegram asks to slow down", retryable=True, retry_after=_seconds(exc)
            ) from None
        except BadRequest as exc:  # before NetworkError: PTB derives it from NetworkError
            if "too big" in exc.message.lower():
                raise RemoteTooLargeError from None
            raise FetchError(f"Telegram refused the file: {_safe(exc, token)}", retryable=False) from None
        except (Forbidden, InvalidToken):
            raise FetchError("Telegram does not accept this channel's bot token", retryable=False) from None
        except NetworkError as exc:  # timeouts, connection trouble, 5xx
            raise FetchError(f"Telegram could not be reached: {_safe(exc, token)}", retryable=True) from None
        except TelegramError as exc:
            raise FetchError(f"Telegram refused the file: {_safe(exc, token)}", retryable=False) from None
        if not found.file_path:
            raise FetchError("Telegram gave no download path for this file", retryable=False)
        async with http_download(self._client, found.file_path, what="Telegram's file server") as remote:
            size = found.file_size or remote.size
            yield RemoteFile(chunks=remote.chunks, size=size, content_type=remote.content_type)

    async def aclose(self) -> None:
        bots, self._bots = list(self._bots.values()), {}
        for bot in bots:
            await bot.request.shutdown()
        await self._client.aclose()


def _safe(exc: TelegramError, token: str) -> str:
    """Telegram's description of a refusal, with the token blanked should it ever echo a URL."""
    return exc.message.replace(token, "***")


def _seconds(exc: RetryAfter) -> float:
    """PTB 22 gives ``retry_after`` as seconds with a deprecation warning, later as a ``timedelta``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
