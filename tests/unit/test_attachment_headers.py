"""How a stored attachment is labelled when served, and bot tokens kept out of HTTP client logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from app.domain.inbox.downloads import content_disposition, media_type
from app.lib.logs import install_redaction_below

TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("declared", "served", "kind"),
    [
        ("image/jpeg", "image/jpeg", "inline"),
        ("IMAGE/PNG; charset=binary", "image/png", "inline"),
        ("audio/ogg", "audio/ogg", "inline"),
        ("video/mp4", "video/mp4", "inline"),
        ("image/svg+xml", "image/svg+xml", "attachment"),
        ("text/html", "text/html", "attachment"),
        ("application/pdf", "application/pdf", "attachment"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream", "attachment"),
        ("", "application/octet-stream", "attachment"),
    ],
)
def test_only_media_types_are_shown_inline(declared: str, served: str, kind: str) -> None:
    assert media_type(declared) == served
    assert content_disposition("f", media_type(declared)).startswith(f"{kind};")


def test_a_filename_is_given_as_rfc_6266_says_whatever_it_contains() -> None:
    assert content_disposition("Testfile.pdf", "application/pdf") == (
        "attachment; filename=\"Testfile.pdf\"; filename*=UTF-8''Testfile.pdf"
    )
    tricky = content_disposition('a"b\\c%d\r\nSet-Cookie: x=1;ü.html', "text/html")
    assert "\r" not in tricky and "\n" not in tricky
    assert tricky.startswith('attachment; filename="a_b_c_dSet-Cookie: x=1;_.html";')
    assert tricky.endswith("filename*=UTF-8''a%22b%5Cc%25dSet-Cookie%3A%20x%3D1%3B%C3%BC.html")
    assert content_disposition("", "image/png") == "inline; filename=\"file\"; filename*=UTF-8''file"


def test_httpx_request_lines_lose_the_bot_token(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction_below("httpx")
    url = httpx.URL(f"http://127.0.0.1:8081/file/bot{TOKEN}/photos/file_0.jpg")
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 200, "OK")
    assert "/file/bot***/photos/file_0.jpg" in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
