"""The contact panel beside a thread: identities, attributes, edits, merges and their undo."""

from __future__ import annotations

from typing import Any

from litestar.types import ControllerRouterHandler

TEMPLATE_FILTERS: dict[str, Any] = {}

route_handlers: list[ControllerRouterHandler] = []
