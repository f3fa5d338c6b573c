"""Refuse a body by its declared size before anything runs, on every route alike.

Litestar enforces ``request_max_body_size`` only while a handler reads the body, so a route that
reads none (an undo, a toggle, a logout) answered an announced 50 MB body as if it were empty, and
a webhook checked its token before noticing. This ``before_request`` hook (wired in ``app.core``)
compares ``Content-Length`` with the route's limit first: 413 with the limit as the reason, before
any work. Chunked bodies (no length) are still cut off where they are read.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions.http_exceptions import RequestEntityTooLarge


async def refuse_declared_oversize(request: Request[Any, Any, Any]) -> None:
    declared = request.headers.get("content-length", "")
    if not (declared.isascii() and declared.isdigit()):
        return
    limit = request.route_handler.resolve_request_max_body_size()
    if limit is not None and int(declared) > limit:
        raise RequestEntityTooLarge(f"the request body is larger than this address takes ({limit:,} bytes)")
