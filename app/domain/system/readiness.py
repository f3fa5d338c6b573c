"""Whether this process can do its work now: the database answers and, in production, Redis does.

``/health`` says the process runs (liveness: restart it if not); ``/ready`` says its dependencies
answer (readiness: send it traffic, or wait). Each check has a short deadline, so ``/ready`` answers
within about :data:`CHECK_TIMEOUT` seconds even when PostgreSQL or Redis hang instead of refusing.
The worker's port answers the same (``app.domain.system.worker_http``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.settings import Settings

CHECK_TIMEOUT = 1.5
"""Seconds each dependency gets to answer (they are asked at the same time)."""


@dataclass
class Readiness:
    """The checks of one process; owns a Redis client with short socket timeouts of its own (the
    app's clients wait longer, as they should for real work)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None = None
    timeout: float = CHECK_TIMEOUT
    _closed: bool = field(default=False, init=False)

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        timeout: float = CHECK_TIMEOUT,
    ) -> Readiness:
        redis = (
            Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry_on_timeout=False,
            )
            if settings.redis_url
            else None
        )
        return cls(sessionmaker, redis, timeout)

    async def _database(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def _redis(self) -> None:
        assert self.redis is not None
        await self.redis.ping()

    async def _check(self, name: str, probe: asyncio.Future[None] | asyncio.Task[None]) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe, self.timeout)
        except TimeoutError:
            return name, f"no answer within {self.timeout:g} s"
        except Exception as exc:
            return name, f"unreachable ({type(exc).__name__})"
        return name, "ok"

    async def check(self) -> dict[str, str]:
        """``{"database": "ok", "redis": "ok"}``, or the reason in place of ``ok`` for each failing one."""
        probes = [self._check("database", asyncio.ensure_future(self._database()))]
        if self.redis is not None:
            probes.append(self._check("redis", asyncio.ensure_future(self._redis())))
        return dict(await asyncio.gather(*probes))

    async def aclose(self) -> None:
        if self.redis is not None and not self._closed:
            self._closed = True
            await self.redis.aclose()
