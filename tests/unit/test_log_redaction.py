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


def _json_line(logger_name: str, message: str, *args: object, **extra: object) -> dict[str, object]:
    import json

    from app.lib.logs import JsonFormatter, RequestIdFilter

    record = logging.getLogger(logger_name).makeRecord(
        logger_name, logging.INFO, __file__, 1, message, args, None, extra=extra or None
    )
    RedactSecrets().filter(record)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def test_json_lines_carry_the_request_id_and_extra_fields_and_no_secrets() -> None:
    from app.lib.logs import REQUEST_ID

    token = REQUEST_ID.set("req-7")
    try:
        line = _json_line(
            "app.access",
            "%s %s",
            "GET",
            "/api/v1/events?token=ot_secret",
            status=200,
            duration_ms=1.5,
            authorization="Bearer ot_other",
        )
    finally:
        REQUEST_ID.reset(token)
    assert line["request_id"] == "req-7"
    assert line["level"] == "info" and line["logger"] == "app.access"
    assert line["message"] == "GET /api/v1/events?token=***"
    assert line["status"] == 200 and line["duration_ms"] == 1.5
    assert line["authorization"] == "***"
    assert "ot_secret" not in str(line) and "ot_other" not in str(line)
    assert {"time", "level", "logger", "message", "request_id"} <= set(line)


def test_secret_headers_written_into_messages_are_blanked() -> None:
    text = redact(
        "headers: {'Authorization': 'Bearer abc', 'X-Hub-Signature-256': 'sha256=ff', 'Cookie': 'sid=1'}"
    )
    assert "abc" not in text and "sha256=ff" not in text and "sid=1" not in text
    assert redact("Authorization: Bearer abc") == "Authorization: ***"


def test_outside_a_request_the_json_request_id_is_null() -> None:
    assert _json_line("app.x", "started")["request_id"] is None


def test_request_ids_are_kept_when_safe_and_replaced_otherwise() -> None:
    from app.lib.request_context import incoming_request_id

    assert incoming_request_id([(b"x-request-id", b"abc-123_X.y:z")]) == "abc-123_X.y:z"
    for unsafe in (b"has space", b"a" * 65, b"", b'quote"', b"new\nline", "é".encode()):
        replaced = incoming_request_id([(b"x-request-id", unsafe)])
        assert len(replaced) == 32 and all(c in "0123456789abcdef" for c in replaced)
    assert len(incoming_request_id([])) == 32
