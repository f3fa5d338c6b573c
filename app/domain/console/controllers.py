"""The agent console: server-rendered pages (Jinja2 + HTMX) over the same queries and actions as the API.

Routes here authenticate with the console session (``SessionAuth``, wired in ``app.core``), never
with bearer tokens, and every unsafe request carries a CSRF token (a form field, or the
``X-CSRFToken`` header HTMX adds from ``hx-headers`` on ``<body>``). Forms work without JavaScript
(post, then a 303 redirect); with HTMX the same handlers answer with the partial to swap in.

One module per area of the page; this one only gathers them for ``app.core``.
"""

from __future__ import annotations

from typing import Any

from litestar.types import ControllerRouterHandler

from app.domain.console import (
    auth_pages,
    bot_frame,
    bot_pages,
    bot_timeline,
    contact_pages,
    inbox_pages,
    live,
    privacy_pages,
    problems,
    settings_pages,
    thread_pages,
    views,
)

AREAS = (
    auth_pages,
    inbox_pages,
    thread_pages,
    contact_pages,
    settings_pages,
    privacy_pages,
    bot_pages,
    live,
)

login_submit = auth_pages.login_submit
exception_handlers: dict[Any, Any] = {**problems.exception_handlers, **auth_pages.exception_handlers}
"""The console's answers to what it cannot serve: pages and form messages (never problem JSON)."""

route_handlers: list[ControllerRouterHandler] = [h for area in AREAS for h in area.route_handlers]
"""Everything but ``login_submit`` (rate limited in the handler, see ``accounts.login_limits``) and the
``upload_handlers``, which it mounts under a body limit with room for files."""
upload_handlers: list[ControllerRouterHandler] = list(thread_pages.upload_handlers)

TEMPLATE_FILTERS: dict[str, Any] = {
    **views.TEMPLATE_FILTERS,
    **contact_pages.TEMPLATE_FILTERS,
    **bot_frame.TEMPLATE_FILTERS,
    **bot_timeline.TEMPLATE_FILTERS,
}
"""The console's Jinja filters: the shared display helpers and the contact panel's."""
