"""The job queue that delivers outbound messages (taskiq).

Embedded shape: taskiq's ``InMemoryBroker`` runs jobs inside the ``serve`` process. Production:
``RedisStreamBroker`` on ``ONETHREAD_REDIS_URL``; app processes only enqueue and ``onethread worker``
runs them. A Redis stream keeps unacknowledged jobs, so a worker that dies mid-job leaves its job to
be claimed again; the message row's status makes a repeated job a no-op once delivered, and the
per-message delivery lock (see ``delivery``) keeps two copies of a job from sending twice.

A worker also looks after messages no job is carrying any more (the process died between commit
and enqueue, Redis was down when the reply was stored): it re-enqueues every queued message when it
starts, and every ``sweep_interval`` seconds those no delivery has touched for a while.

Stopping is orderly: no new jobs are taken, deliveries waiting to retry end at once (the message
stays ``queued`` for the next start), sends in flight get ``shutdown_grace`` seconds to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from app.db.models import utcnow
from app.domain.channels.delivery import (
    DeliveryLocks,
    LocalLocks,
    RedisLocks,
    RetryPolicy,
    deliver_message,
    queued_message_ids,
)
from app.domain.channels.messenger_profile import MessengerProfiles
from app.domain.realtime.writer import Writer
from app.lib.storage import FileStorage
from app.settings import Settings
from integrations.registry import AdapterRegistry

log = logging.getLogger(__name__)

DELIVER_TASK = "onethread.deliver_message"
CONSUMER_GROUP = "onethread-workers"
STREAM_MAX_LENGTH = 100_000
"""Acknowledged jobs stay in a Redis stream until trimmed; keep roughly this many."""


class Jobs:
    """Enqueues deliveries and, where this process is the worker, runs them."""

    def __init__(
        self,
        settings: Settings,
        writer: Writer,
        registry: AdapterRegistry,
        *,
        sweep_interval: float = 60.0,
        stale_after: float | None = None,
        shutdown_grace: float = 5.0,
        lock_lease: float = 30.0,
        stream_idle_timeout: float = 120.0,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.registry = registry
        self.files = FileStorage(settings.files_dir)
        self.policy = RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            base_delay=settings.delivery_backoff_base,
            max_delay=settings.delivery_backoff_cap,
        )
        self.sweep_interval = sweep_interval
        self.stale_after = self.policy.max_delay + 60.0 if stale_after is None else stale_after
        """A queued message no delivery wrote to for this long has probably lost its job (sweep)."""
        self.shutdown_grace = shutdown_grace
        self.broker: AsyncBroker
        self._redis: Redis | None = None
        self.locks: DeliveryLocks
        if settings.redis_url:
            self.broker = RedisStreamBroker(
                url=settings.redis_url,
                queue_name=settings.job_queue,
                consumer_group_name=CONSUMER_GROUP,
                # A group created after jobs were enqueued must still see them.
                consumer_id="0",
                idle_timeout=int(stream_idle_timeout * 1000),
                maxlen=STREAM_MAX_LENGTH,
                approximate=True,
            )
            self._redis = Redis.from_url(settings.redis_url)
            self.locks = RedisLocks(self._redis, f"{settings.job_queue}:delivering", lease=lock_lease)
        else:
            self.broker = InMemoryBroker(await_inplace=False)
            self.locks = LocalLocks()

        self._stopping = asyncio.Event()
        self._active: set[asyncio.Task[Any]] = set()
        self._receiver: asyncio.Task[Any] | None = None
        self._sweeper: asyncio.Task[None] | None = None

        async def deliver(message_id: int) -> str | None:
            task = asyncio.current_task()
            if task is not None:
                self._active.add(task)
            try:
                return await deliver_message(
                    self.writer,
                    self.registry,
                    message_id,
                    self.policy,
                    locks=self.locks,
                    pause=self._pause,
                    files=self.files,
                )
            finally:
                if task is not None:
                    self._active.discard(task)

        self._deliver = self.broker.register_task(deliver, task_name=DELIVER_TASK)
        self.messenger_profiles = MessengerProfiles(self.broker, writer, self.policy, self._pause)

    async def enqueue_delivery(self, message_id: int) -> None:
        await self._deliver.kiq(message_id)

    async def start(self, *, as_worker: bool) -> None:
        """Connect; a worker also starts consuming and re-enqueues deliveries left queued by a crash."""
        self._stopping.clear()
        if isinstance(self.broker, InMemoryBroker):
            # Without Redis there is no other worker: jobs run here whatever the setting says, so
            # this process must also pick up what an earlier run left queued.
            as_worker = True
        self.broker.is_worker_process = as_worker
        await self.broker.startup()
        if not as_worker:
            return
        if not isinstance(self.broker, InMemoryBroker):
            self._receiver = asyncio.create_task(run_receiver_task(self.broker, max_async_tasks=100))
        await self.requeue_waiting()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def requeue_waiting(self, *, stale_only: bool = False) -> int:
        """Enqueue a delivery for queued messages (only those untouched for a while with ``stale_only``)."""
        since = utcnow() - timedelta(seconds=self.stale_after) if stale_only else None
        pending = [
            message_id
            for message_id in await queued_message_ids(self.writer, untouched_since=since)
            if not await self.locks.is_held(message_id)  # a live job has it
        ]
        if pending:
            log.info("re-enqueueing %d message(s) still queued for delivery", len(pending))
        for message_id in pending:
            await self.enqueue_delivery(message_id)
        return len(pending)

    async def _sweep_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.sweep_interval)
                return
            try:
                await self.requeue_waiting(stale_only=True)
            except Exception:
                log.exception("re-enqueueing stranded deliveries failed")

    async def _pause(self, delay: float) -> bool:
        """Wait ``delay`` seconds before a retry; ``False`` (at once) when the process is stopping."""
        if self._stopping.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            return False
        return True

    async def stop(self) -> None:
        self._stopping.set()
        for background in (self._sweeper, self._receiver):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await background
        self._sweeper = self._receiver = None
        running = set(self._active)
        if isinstance(self.broker, InMemoryBroker):
            running |= set(self.broker._running_tasks)
        if running:
            _, late = await asyncio.wait(running, timeout=self.shutdown_grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("cancelled %d delivery job(s) still sending at shutdown", len(late))
                await asyncio.wait(late, timeout=self.shutdown_grace)
        await self.broker.shutdown()
        if self._redis is not None:
            await self._redis.aclose()
