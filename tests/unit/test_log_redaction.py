"""Credentials in URLs never reach a log handler."""

from __future__ import annotations

import logging

import pytest

from app.lib.logs import RedactSecrets, redact


def test_tokens_in_query_strings_are_blanked() -> None:
    assert redact("WebSocket /api/v1/events?token=ot_secret&last_event_id=4") == (
        "WebSocket /api/v1/events?token=***&last_event_id=4"
    )
    assert redact("GET /webhooks/messenger/x?hub.verify_token=abc&hub.challenge=1") == (
        "GET /webhooks/messenger/x?hub.verify_token=***&hub.challenge=1"
    )


def test_filter_rewrites_message_arguments(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactSecrets())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/api/v1/events?token=ot_abc")
    assert "ot_abc" not in caplog.text and "token=***" in caplog.text
