"""Logging that keeps credentials out of log files.

Websocket clients that cannot set headers pass their token in the URL (``?token=…``), and uvicorn
logs request lines; this filter blanks such values before any handler sees them.
"""

from __future__ import annotations

import logging
import re

_SECRET_IN_URL = re.compile(r"((?:token|access_token|hub\.verify_token)=)[^&\s\"']+")


def redact(text: str) -> str:
    return _SECRET_IN_URL.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments with credentials blanked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def install_redaction(*logger_names: str) -> None:
    """Attach the filter to the named loggers (idempotent)."""
    for name in logger_names or ("uvicorn.error", "uvicorn.access", "app", "litestar"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
