"""``/metrics``: this process's Prometheus registry, with the gauges that are read when scraped.

Request counts and latencies come from Litestar's Prometheus plugin (``http_metrics_config``: route
templates as the ``path`` label, never ids); OneThread's own counters from ``app.lib.metrics``.
The job queue's depth is asked of Redis (or counted in this process, embedded) at scrape time.

The endpoint is open unless ``ONETHREAD_METRICS_TOKEN`` is set; then it wants ``Authorization:
Bearer <token>`` (Prometheus' ``authorization`` scrape setting). docker/nginx.conf does not pass
``/metrics`` to the outside at all: Prometheus scrapes each process directly, since every process
has its own counters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from secrets import compare_digest
from typing import Any, ClassVar

from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from app.domain.channels.jobs import CONSUMER_GROUP, Jobs
from app.lib import metrics

log = logging.getLogger(__name__)

QUEUE_TIMEOUT = 1.0


class CachedLabelsMiddleware(PrometheusMiddleware):
    """The plugin's middleware with the same metrics and labels, at a fraction of its cost.

    The stock one builds a ``Request``, four label dicts and four label lookups per request (~50 µs,
    a tenth of an ingest on the fast path); this one reads the scope and keeps each route's
    labelled series in a dict.
    """

    _series: ClassVar[dict[tuple[str, str, int], tuple[Any, Any, Any]]] = {}
    _in_progress: ClassVar[dict[tuple[str, str], Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope.get("method", "")  # type: ignore[assignment]
        path: str = scope.get("path_template") or scope["path"]
        app_name = self._config.app_name
        labels: dict[str, str | int | float] = {
            "method": method,
            "path": path,
            "status_code": 200,
            "app_name": app_name,
        }
        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            in_progress = self.requests_in_progress(labels).labels(method, path, 200, app_name)
            self._in_progress[(method, path)] = in_progress
        status = 200
        started = time.perf_counter()
        ended = 0.0

        async def timed_send(message: Message) -> None:
            nonlocal status, ended
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                ended = time.perf_counter()
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            in_progress.dec()
            key = (method, path, status)
            series = self._series.get(key)
            if series is None:
                values = (method, path, status, app_name)
                series = (
                    self.request_count(labels).labels(*values),
                    self.request_time(labels).labels(*values),
                    self.requests_error_count(labels).labels(*values) if status >= 500 else None,
                )
                self._series[key] = series
            count, duration, errors = series
            count.inc()
            duration.observe((ended or time.perf_counter()) - started)
            if errors is not None:
                errors.inc()


def http_metrics_config() -> PrometheusConfig:
    """The plugin's request metrics (``onethread_http_*``): HTTP only (a websocket's "duration" is
    its whole life, counted by ``onethread_websocket_connections`` instead), grouped by route."""
    return PrometheusConfig(
        app_name="onethread",
        prefix="onethread_http",
        group_path=True,
        scopes={ScopeType.HTTP},
        exclude=[r"^/metrics$"],
        middleware_class=CachedLabelsMiddleware,
        # The default buckets, plus the few-millisecond ones webhook and API answers live in.
        buckets=[0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
    )


def token_ok(expected: str, authorization: str) -> bool:
    """Whether the ``Authorization`` header carries ``expected`` as a bearer token (any when unset)."""
    if not expected:
        return True
    scheme, _, value = authorization.partition(" ")
    return scheme.lower() == "bearer" and compare_digest(value.strip().encode(), expected.encode())


async def redis_queue_depth(redis: Redis, stream: str) -> tuple[int, int]:
    """(waiting, running) of the job stream: entries the workers' group has not been handed yet,
    and entries handed out but not acknowledged (a job running, or lost with its worker)."""
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such stream: nothing was ever enqueued
        return 0, 0
    group = next((g for g in groups if _text(g.get("name")) == CONSUMER_GROUP), None)
    if group is None:  # no worker has started yet: every entry waits
        return int(await redis.xlen(stream)), 0
    running = int(group.get("pending") or 0)
    lag = group.get("lag")
    if lag is None:  # Redis cannot tell after deletions; count what follows the group's position
        after = _text(group.get("last-delivered-id")) or "0"
        lag = len(await redis.xrange(stream, min=f"({after}", count=10_000) or ())
    return int(lag), running


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def local_queue_depth(jobs: Jobs) -> tuple[int, int]:
    """Embedded: jobs run as tasks of this process as soon as they are enqueued."""
    running = getattr(jobs.broker, "_running_tasks", ())
    return 0, len(running)


async def refresh_queue_depth(jobs: Jobs, redis: Redis | None, stream: str) -> None:
    try:
        if redis is None:
            waiting, running = local_queue_depth(jobs)
        else:
            waiting, running = await asyncio.wait_for(redis_queue_depth(redis, stream), QUEUE_TIMEOUT)
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("the job queue's depth is unknown (%s)", type(exc).__name__)
        metrics.set_queue_depth(float("nan"), float("nan"))
        return
    metrics.set_queue_depth(waiting, running)


def exposition() -> tuple[bytes, str]:
    """The text format and its media type (without the charset, which Litestar adds itself)."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")
