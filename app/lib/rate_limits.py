"""Fixed-window request counters, shared through Redis in production and kept in memory embedded.

Litestar's ``RateLimitConfig`` keys on the client address only; the widget also needs limits per
visitor token (many visitors share one office NAT, one visitor may open many tabs), so this counts
any key the caller names. A window is a key with a TTL: ``INCR`` + ``EXPIRE`` on Redis, a dict
entry here. A visitor over the limit is told when to come back (``retry_after``), never queued.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from app.lib.errors import DomainError


class RateLimitedError(DomainError):
    """429 with ``Retry-After``: the caller sent more than its share."""

    status_code = 429
    type_slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` hits per ``seconds`` for one key."""

    count: int
    seconds: int


class Counter(Protocol):
    async def hit(self, key: str, seconds: int) -> tuple[int, int]:
        """Count one hit on ``key``'s current window; (hits so far, seconds until it ends)."""
        ...


class MemoryCounter:
    """One process's counters (the embedded shape has one process)."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._next_sweep = 0.0

    async def hit(self, key: str, seconds: int) -> tuple[int, int]:
        now = time.monotonic()
        if now >= self._next_sweep:  # drop ended windows now and then, so idle keys do not pile up
            self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
            self._next_sweep = now + 60
        ends, hits = self._windows.get(key, (0.0, 0))
        if ends <= now:
            ends, hits = now + seconds, 0
        self._windows[key] = (ends, hits + 1)
        return hits + 1, max(1, int(ends - now + 0.999))


class RedisCounter:
    """Counters every app process shares."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, seconds: int) -> tuple[int, int]:
        name = f"{self._prefix}:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, seconds, nx=True)
            pipe.ttl(name)
            hits, _, ttl = await pipe.execute()
        return int(hits), max(1, int(ttl))

    async def aclose(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    """Checks named limits; ``check`` raises ``RateLimitedError`` once a key is over its limit."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    async def check(self, key: str, limit: Limit, reason: str) -> None:
        hits, retry_after = await self.counter.hit(f"{key}:{limit.seconds}", limit.seconds)
        if hits > limit.count:
            raise RateLimitedError(reason, retry_after=retry_after)

    async def aclose(self) -> None:
        if isinstance(self.counter, RedisCounter):
            await self.counter.aclose()
