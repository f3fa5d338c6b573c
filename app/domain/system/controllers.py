"""Liveness for load balancers and the test harness."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.types import ControllerRouterHandler


class Health(msgspec.Struct):
    status: str


@get("/health", tags=["system"], summary="The process is up")
async def health() -> Health:
    return Health(status="ok")


route_handlers: list[ControllerRouterHandler] = [health]
