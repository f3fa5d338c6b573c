"""Around every HTTP request and websocket: its request id, its access log line, the socket gauge.

It wraps the application's whole ASGI handler (``app.asgi_handler``), outside routing, so requests
for unknown paths get an id and a log line too; route middleware would only see matched routes.

- **Request id.** An incoming ``X-Request-ID`` (a proxy's, or the client's) is kept when it is short
  and made of safe characters, else replaced by a new one; it is put in a context variable that
  every log line written while serving the request carries (``logs.REQUEST_ID``), and echoed in the
  response's ``X-Request-ID`` header, so a user's report, the proxy's log and ours meet.
- **Access log.** With ``access_log`` on (``onethread serve`` in the JSON log format, where it
  replaces uvicorn's line), one ``app.access`` record per request when it ends: method, the route
  template (``/api/v1/threads/{thread_id}``, never ids or the query string, which may hold a
  token), status, duration in ms, client address.
- **Websockets open** (``onethread_websocket_connections``): counted from the accept to the end.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.lib import metrics
from app.lib.logs import REQUEST_ID

access_log = logging.getLogger("app.access")

HEADER = b"x-request-id"
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's id when it is safe to log and echo, else a new one (32 hex digits)."""
    for name, value in headers:
        if name == HEADER:
            if _SAFE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return secrets.token_hex(16)


class RequestContext:
    """ASGI wrapper; ``access_log`` is switched on by ``onethread serve`` (JSON log format)."""

    access_log_enabled = False

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope["headers"])
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode("ascii"))
        started = time.perf_counter()
        state: dict[str, Any] = {"status": None, "socket": None}

        async def send_with_id(message: Message) -> None:
            event = cast("dict[str, Any]", message)
            message_type = event["type"]
            if message_type == "http.response.start":
                state["status"] = event["status"]
                event["headers"] = [*event.get("headers", ()), header]
            elif message_type == "websocket.accept":
                state["status"] = 101
                state["socket"] = metrics.socket_kind(scope.get("path_template", ""))
                metrics.websocket_opened(state["socket"])
                event["headers"] = [*(event.get("headers") or ()), header]
            elif message_type == "websocket.close" and state["status"] is None:
                state["status"] = 403  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if state["socket"] is not None:
                metrics.websocket_closed(state["socket"])
            if self.access_log_enabled:
                self._log(scope, state["status"], started)
            REQUEST_ID.reset(token)

    @staticmethod
    def _log(scope: Scope, status: int | None, started: float) -> None:
        client = scope.get("client")
        access_log.info(
            "%s %s %s",
            scope.get("method", "WEBSOCKET"),
            scope.get("path_template") or "(unmatched)",
            status or 500,
            extra={
                "method": scope.get("method", "WEBSOCKET"),
                "path": scope.get("path_template") or "(unmatched)",
                "status": status or 500,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None,
            },
        )
