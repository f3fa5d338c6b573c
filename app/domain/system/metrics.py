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
from secrets import compare_digest
from typing import Any

from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from app.domain.channels.jobs import CONSUMER_GROUP, Jobs
from app.lib import metrics

log = logging.getLogger(__name__)

QUEUE_TIMEOUT = 1.0


def http_metrics_config() -> PrometheusConfig:
    """The plugin's request metrics (``onethread_http_*``): HTTP only (a websocket's "duration" is
    its whole life, counted by ``onethread_websocket_connections`` instead), grouped by route."""
    return PrometheusConfig(
        app_name="onethread",
        prefix="onethread_http",
        group_path=True,
        scopes={ScopeType.HTTP},
        exclude=[r"^/metrics$"],
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
