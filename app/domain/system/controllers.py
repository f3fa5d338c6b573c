"""Liveness, readiness and metrics: for load balancers, orchestrators, Prometheus and the tests."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ControllerRouterHandler

from app.domain.system.metrics import exposition, refresh_queue_depth, token_ok
from app.domain.system.readiness import Readiness
from app.domain.system.services import Services
from app.lib.problems import PROBLEM_MEDIA_TYPE, problem


class Health(msgspec.Struct):
    status: str


class Ready(msgspec.Struct):
    status: str
    checks: dict[str, str]


class NotReady(msgspec.Struct):
    """The problem document of a 503 from ``/ready``."""

    type: str
    title: str
    status: int
    detail: str
    checks: dict[str, str]


class Problem(msgspec.Struct):
    type: str
    title: str
    status: int
    detail: str


@get("/health", tags=["system"], summary="The process is up")
async def health() -> Health:
    """Liveness: answers without touching the database or Redis (a restart would not fix them)."""
    return Health(status="ok")


@get(
    "/ready",
    tags=["system"],
    summary="The database (and Redis, in production) answer",
    responses={
        503: ResponseSpec(NotReady, description="A dependency failed", media_type=PROBLEM_MEDIA_TYPE),
    },
)
async def ready(request: Request[Any, Any, Any]) -> Response[Any]:
    """200 ``{"status": "ok", "checks": {...}}``; 503 problem (``not-ready``) naming what failed."""
    readiness: Readiness = request.app.state["readiness"]
    checks = await readiness.check()
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if not failed:
        return Response(Ready(status="ok", checks=checks))
    return problem(
        503,
        "not-ready",
        "Not ready",
        "; ".join(f"{name}: {checks[name]}" for name in failed),
        headers={"Retry-After": "5"},
        checks=checks,
    )


@get(
    "/metrics",
    tags=["system"],
    summary="Prometheus metrics of this process (text format)",
    media_type="text/plain",
    responses={
        401: ResponseSpec(
            Problem, description="ONETHREAD_METRICS_TOKEN is set", media_type=PROBLEM_MEDIA_TYPE
        ),
    },
)
async def prometheus_metrics(
    request: Request[Any, Any, Any], services: NamedDependency[Services]
) -> Response[bytes]:
    """The text exposition format; ``ONETHREAD_METRICS_TOKEN``, when set, as a bearer token."""
    settings = services.settings
    if not token_ok(settings.metrics_token, request.headers.get("authorization", "")):
        return problem(  # type: ignore[return-value]
            401,
            "unauthenticated",
            "Unauthenticated",
            "this endpoint wants the metrics token (Authorization: Bearer …)",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    readiness: Readiness = request.app.state["readiness"]
    await refresh_queue_depth(services.jobs, readiness.redis, settings.job_queue)
    body, content_type = exposition()
    return Response(body, media_type=content_type)


route_handlers: list[ControllerRouterHandler] = [health, ready, prometheus_metrics]
