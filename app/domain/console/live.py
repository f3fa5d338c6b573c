"""The console's live updates: one websocket per page, answering with HTML fragments to swap in."""

from __future__ import annotations

from typing import Any

from litestar.types import ControllerRouterHandler

TEMPLATE_FILTERS: dict[str, Any] = {}

route_handlers: list[ControllerRouterHandler] = []
