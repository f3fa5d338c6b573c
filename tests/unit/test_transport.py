"""Which failed platform calls may have been carried out anyway (and so are not sent again where a
repeat would show twice), from the errors httpx and python-telegram-bot really raise."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from integrations.transport import may_have_arrived


def _raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as cause:
            raise outer from cause
    except Exception as caught:
        return caught


REQUEST = httpx.Request("POST", "https://api.telegram.org/botX/sendMessage")


@pytest.mark.parametrize(
    ("error", "maybe"),
    [
        (httpx.ReadTimeout("no answer", request=REQUEST), True),
        (httpx.WriteTimeout("half written", request=REQUEST), True),
        (httpx.RemoteProtocolError("peer closed the connection", request=REQUEST), True),
        (httpx.ConnectError("refused", request=REQUEST), False),
        (httpx.ConnectTimeout("no connection", request=REQUEST), False),
        (httpx.PoolTimeout("pool full", request=REQUEST), False),
        (_raised_from(TimedOut(), httpx.ReadTimeout("no answer", request=REQUEST)), True),
        (_raised_from(TimedOut("Pool timeout"), httpx.PoolTimeout("pool full", request=REQUEST)), False),
        (_raised_from(NetworkError("httpx.ConnectError"), httpx.ConnectError("x", request=REQUEST)), False),
        (NetworkError("Bad Gateway"), False),  # Telegram answered 502: it refused the call
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_only_an_unanswered_request_that_left_may_have_arrived(error: Exception, maybe: bool) -> None:
    assert may_have_arrived(error) is maybe
