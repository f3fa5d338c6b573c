"""Processes other than the web app: the job worker and one-shot CLI commands.

They share the web app's database config and writer; their publisher talks to Redis directly
(production). Without Redis there is no one to tell, and the event log
alone carries the news to clients when they next resume.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import configure, default_registry
from app.db.engine import build_db_config
from app.domain.channels.jobs import Jobs
from app.domain.realtime.publisher import RedisPublisher
from app.domain.realtime.writer import Publisher, Writer
from app.domain.system.readiness import Readiness
from app.domain.system.worker_http import WorkerStatus
from app.lib.logs import configure_logging
from app.settings import Settings

log = logging.getLogger(__name__)


class _NoSubscribers:
    async def publish(self, frames: list[dict[str, Any]]) -> None:
        return None


@asynccontextmanager
async def standalone_writer(settings: Settings) -> AsyncIterator[Writer]:
    configure(settings)
    db_config = build_db_config(settings)
    redis_publisher = RedisPublisher.from_url(settings.redis_url) if settings.redis_url else None
    publisher: Publisher = redis_publisher or _NoSubscribers()
    try:
        sessionmaker = cast("async_sessionmaker[AsyncSession]", db_config.create_session_maker())
        writer = Writer(sessionmaker, publisher, is_postgres=not settings.is_sqlite)
        try:
            yield writer
        finally:
            await writer.aclose()
    finally:
        if redis_publisher is not None:
            await redis_publisher.aclose()
        await db_config.get_engine().dispose()


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Consume delivery jobs until ``stop`` is set (SIGINT/SIGTERM); with
    ``worker_metrics_port``, also answer ``/health``, ``/ready`` and ``/metrics`` there."""
    configure_logging(settings.log_format)
    install = getattr(stop, "install", None)
    if install is not None:
        install()
    registry = default_registry()
    try:
        async with standalone_writer(settings) as writer:
            jobs = Jobs(settings, writer, registry)
            readiness = Readiness.for_settings(settings, writer.sessionmaker)
            status = WorkerStatus(settings, jobs, readiness)
            try:
                await jobs.start(as_worker=True)
                if settings.worker_metrics_port:
                    await status.start(settings.host, settings.worker_metrics_port)
                log.info("worker started")
                await stop.wait()
            finally:
                await status.stop()
                await jobs.stop()
                await readiness.aclose()
                log.info("worker stopped")
    finally:
        await registry.aclose()
