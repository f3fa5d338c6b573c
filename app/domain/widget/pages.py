"""What the browser loads: ``/widget.js`` (the loader), the iframe page, and the public config."""

from __future__ import annotations

from typing import Any

route_handlers: list[Any] = []
