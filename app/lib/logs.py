"""Logging that keeps credentials out of log files.

Websocket clients that cannot set headers pass their token in the URL (``?token=…``), and uvicorn
logs request lines; Telegram's Bot API carries the bot token in its URL paths, and httpx logs every
request it makes. This filter blanks such values before any handler sees them.
"""

from __future__ import annotations

import logging
import re

_SECRET_IN_URL = re.compile(r"((?:token|access_token|hub\.verify_token)=)[^&\s\"']+")
_BOT_TOKEN_IN_PATH = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+")
"""Telegram puts the bot token in the path: ``/bot<token>/getFile``, ``/file/bot<token>/…``."""


def redact(text: str) -> str:
    return _BOT_TOKEN_IN_PATH.sub(r"\1***", _SECRET_IN_URL.sub(r"\1***", text))


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact(arg)
    if arg is None or isinstance(arg, int | float):
        return arg
    # httpx logs its URL objects: redact their text, keep any other object as it is
    text = str(arg)
    cleaned = redact(text)
    return cleaned if cleaned != text else arg


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments with credentials blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        return True


def install_redaction(*logger_names: str) -> None:
    """Attach the filter to the named loggers (idempotent)."""
    for name in logger_names or ("uvicorn.error", "uvicorn.access", "app", "litestar"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def install_redaction_below(*prefixes: str) -> None:
    """Attach the filter to the named loggers and every one already created below them.

    A logger's filters only see the records logged to that very logger, not its children's, and
    libraries log to their own children (python-telegram-bot's ``telegram.Bot`` logs its API URL,
    token included, at DEBUG), so each of them needs the filter.
    """
    existing = [name for name in logging.root.manager.loggerDict if isinstance(name, str)]
    names = {
        name for name in existing for prefix in prefixes if name == prefix or name.startswith(f"{prefix}.")
    }
    install_redaction(*sorted(names | set(prefixes)))
