"""The bot's console pages (admins), on one router under ``/bot`` behind ``roles.requires_admin``.

The guard is on the router, so no bot page can be added without it. The pages are in
``bot_rule_pages`` (rules, settings), ``bot_review_pages`` (try it, unanswered questions, figures)
and ``bot_transfer_pages`` (YAML import and export); their frame is ``bot_frame``.
"""

from __future__ import annotations

from litestar import Router, get
from litestar.response import Redirect
from litestar.types import ControllerRouterHandler

from app.domain.console import bot_review_pages, bot_rule_pages, bot_transfer_pages, roles


@get("/", include_in_schema=False, name="console:bot")
async def bot_index() -> Redirect:
    return Redirect("/bot/rules", status_code=303)


bot_router = Router(
    path="/bot",
    guards=[roles.requires_admin],
    exception_handlers=roles.exception_handlers,
    route_handlers=[
        bot_index,
        *bot_rule_pages.route_handlers,
        *bot_review_pages.route_handlers,
        *bot_transfer_pages.route_handlers,
    ],
)
"""Every bot page; admins only."""

route_handlers: list[ControllerRouterHandler] = [bot_router]
