"""The job queue that delivers outbound messages (taskiq).

Embedded shape: taskiq's ``InMemoryBroker`` runs jobs inside the ``serve`` process. Production:
``RedisStreamBroker`` on ``ONETHREAD_REDIS_URL``; app processes only enqueue and ``onethread worker``
runs them. A Redis stream keeps unacknowledged jobs, so a worker that dies mid-job leaves its job to
be claimed again; the message row's status makes a repeated job a no-op once delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from taskiq import AsyncBroker, InMemoryBroker
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from app.domain.channels.delivery import RetryPolicy, deliver_message, queued_message_ids
from app.domain.realtime.writer import Writer
from app.settings import Settings
from integrations.registry import AdapterRegistry

log = logging.getLogger(__name__)

DELIVER_TASK = "onethread.deliver_message"


class Jobs:
    """Enqueues deliveries and, where this process is the worker, runs them."""

    def __init__(self, settings: Settings, writer: Writer, registry: AdapterRegistry) -> None:
        self.settings = settings
        self.writer = writer
        self.registry = registry
        self.policy = RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            base_delay=settings.delivery_backoff_base,
            max_delay=settings.delivery_backoff_cap,
        )
        self.broker: AsyncBroker
        if settings.redis_url:
            self.broker = RedisStreamBroker(
                url=settings.redis_url,
                queue_name=settings.job_queue,
                consumer_group_name="onethread-workers",
                idle_timeout=120_000,
            )
        else:
            self.broker = InMemoryBroker(await_inplace=False)

        async def deliver(message_id: int) -> str | None:
            return await deliver_message(self.writer, self.registry, message_id, self.policy)

        self._deliver = self.broker.register_task(deliver, task_name=DELIVER_TASK)
        self._receiver: asyncio.Task[Any] | None = None

    async def enqueue_delivery(self, message_id: int) -> None:
        await self._deliver.kiq(message_id)

    async def start(self, *, as_worker: bool) -> None:
        """Connect; a worker also starts consuming and re-enqueues deliveries left queued by a crash."""
        if isinstance(self.broker, InMemoryBroker):
            self.broker.is_worker_process = as_worker
        else:
            self.broker.is_worker_process = as_worker
        await self.broker.startup()
        if as_worker:
            if not isinstance(self.broker, InMemoryBroker):
                self._receiver = asyncio.create_task(run_receiver_task(self.broker, max_async_tasks=100))
            pending = await queued_message_ids(self.writer)
            if pending:
                log.info("re-enqueueing %d message(s) still queued for delivery", len(pending))
            for message_id in pending:
                await self.enqueue_delivery(message_id)

    async def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._receiver
        if isinstance(self.broker, InMemoryBroker):
            for task in list(self.broker._running_tasks):
                task.cancel()
        await self.broker.shutdown()
