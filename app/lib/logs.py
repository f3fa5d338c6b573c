"""Logging that keeps credentials out of log files, as text or as one JSON object per line.

Websocket clients that cannot set headers pass their token in the URL (``?token=…``), and uvicorn
logs request lines; Telegram's Bot API carries the bot token in its URL paths, and httpx logs every
request it makes. This filter blanks such values before any handler sees them, and so do the
formatters (a header such as ``Authorization`` or ``X-Hub-Signature-256`` logged by anyone is
blanked too).

``configure_logging`` is called where ``onethread serve`` and ``onethread worker`` start
(``ONETHREAD_LOG_FORMAT``): ``text`` for a person at a terminal, ``json`` for a log collector.
Every line logged while a request is served carries its request id (``request_context``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.logging.config import LoggingConfig

_SECRET_IN_URL = re.compile(r"((?:token|access_token|hub\.verify_token)=)[^&\s\"']+")
_BOT_TOKEN_IN_PATH = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+")
"""Telegram puts the bot token in the path: ``/bot<token>/getFile``, ``/file/bot<token>/…``."""
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-hub-signature",
        "x-hub-signature-256",
        "x-telegram-bot-api-secret-token",
        "x-onethread-signature",
        "x-csrftoken",
    }
)
_SECRET_HEADER_IN_TEXT = re.compile(
    r"(?i)(\b(?:" + "|".join(re.escape(name) for name in sorted(SECRET_HEADERS)) + r")[\"']?\s*[:=]\s*[\"']?)"
    r"[^\"'\r\n,}]+"
)

_configured = False

REQUEST_ID: ContextVar[str | None] = ContextVar("onethread_request_id", default=None)
"""The id of the request being served in this task (set by ``request_context``)."""


def redact(text: str) -> str:
    text = _SECRET_HEADER_IN_TEXT.sub(r"\1***", text)
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


# ------------------------------------------------------------------------------------------------
# formats
# ------------------------------------------------------------------------------------------------
# What every LogRecord has; anything else on a record came from ``extra=`` and is a field of its own.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or ``-``) on every record as ``record.request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


def _field(name: str, value: Any) -> Any:
    if name.lower().replace("_", "-") in SECRET_HEADERS:
        return "***"
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _own_id(record: logging.LogRecord) -> str | None:
    value = getattr(record, "request_id", None)
    return value if value and value != "-" else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": REQUEST_ID.get() or _own_id(record),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_") and name not in out:
                out[name] = _field(name, value)
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = redact(record.exc_text)
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id]: message``, redacted like the JSON lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in ``log_format`` (``json`` or ``text``), redacted.

    The filters sit on the handler, so they see the records of every logger that propagates to the
    root, libraries' children included (a logger's own filters see only its own records).
    """
    global _configured
    _configured = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RedactSecrets())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # library warnings become records, in the same format
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin, each start
    if log_format == "json":
        # uvicorn's loggers propagate to this handler (``serve`` passes it no config of its own).
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True


def litestar_logging_config() -> LoggingConfig:
    """Litestar's logging: its defaults (a root handler of its own) unless ``configure_logging``
    ran, in which case its logger only propagates to ours and the root is left alone."""
    if not _configured:
        return LoggingConfig()
    return LoggingConfig(
        configure_root_logger=False,
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
    )
