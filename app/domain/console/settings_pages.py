"""Settings: the agent's own preferences, and (admins) agents, channel accounts, canned responses."""

from __future__ import annotations

from typing import Any

from litestar.types import ControllerRouterHandler

TEMPLATE_FILTERS: dict[str, Any] = {}

route_handlers: list[ControllerRouterHandler] = []
