"""The job queue that delivers outbound messages and fetches inbound files (taskiq).

Embedded shape: taskiq's ``InMemoryBroker`` runs jobs inside the ``serve`` process. Production:
``RedisStreamBroker`` on ``ONETHREAD_REDIS_URL``; app processes only enqueue and ``onethread worker``
runs them. A Redis stream keeps unacknowledged jobs, so a worker that dies mid-job leaves its job to
be claimed again; the message row's status makes a repeated job a no-op once delivered, and the
per-message delivery lock (see ``delivery``) keeps two copies of a job from sending twice.

A worker also applies the retention policy (``privacy.actions.do_prune``) every
``retention_interval_hours``, the first time an hour after it starts (a worker restarted daily
still prunes, a test's short-lived app never does).

A worker also looks after messages no job is carrying any more (the process died between commit
and enqueue, Redis was down when the reply was stored, a worker died mid-delivery): it re-enqueues
every queued message when it starts and when the job queue comes back after an outage, and every
``sweep_interval`` seconds (by default the delivery lock's lease) those no delivery has touched for
a while or whose delivery started and holds no lock any more (its worker died); the same sweep
brings the reports' rollup up to the last message (``reports.actions``).

Stopping is orderly: no new jobs are taken, deliveries waiting to retry end at once (the message
stays ``queued`` for the next start), sends in flight get ``shutdown_grace`` seconds to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker, InMemoryBroker
from taskiq.api import run_receiver_task
from taskiq_redis import RedisStreamBroker

from app.db.models import utcnow
from app.domain.bot.actions import do_bot_turn
from app.domain.channels.attachment_fetch import default_fetchers, fetch_attachment, pending_attachment_ids
from app.domain.channels.delivery import (
    DeliveryLocks,
    LocalLocks,
    RedisLocks,
    RetryPolicy,
    deliver_message,
    queued_message_ids,
)
from app.domain.channels.email_inbound import MailStore
from app.domain.channels.email_polling import MailboxPoller
from app.domain.channels.messenger_profile import MessengerProfiles
from app.domain.inbox.actions import IngestResult
from app.domain.privacy.actions import do_prune
from app.domain.realtime.writer import Writer
from app.domain.reports.actions import do_catch_up
from app.lib.logs import install_redaction_below
from app.lib.storage import FileStorage
from app.settings import Settings
from integrations.files import FileFetcher
from integrations.registry import AdapterRegistry

log = logging.getLogger(__name__)

DELIVER_TASK = "onethread.deliver_message"
FETCH_TASK = "onethread.fetch_attachment"
BOT_TURN_TASK = "onethread.bot_turn"
CONSUMER_GROUP = "onethread-workers"
STREAM_MAX_LENGTH = 100_000
"""Acknowledged jobs stay in a Redis stream until trimmed; keep roughly this many."""


class _ResilientStreamBroker(RedisStreamBroker):
    """taskiq's Redis stream broker, made to outlive a Redis outage or restart.

    taskiq's receiver starts ``listen`` again at once whenever it raises, in a tight loop, and a
    Redis that restarted empty has no consumer group, so every read fails (``NOGROUP``). Here a
    failed read waits (backing off) and declares the group again before reading on; once reads
    work again, ``on_recovered`` runs (the jobs Redis held may be gone: the worker re-enqueues
    what the database still says is queued).
    """

    on_recovered: Callable[[], Awaitable[None]] | None = None

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        delay = 0.2
        while True:
            try:
                await self._declare_group()
                if delay > 0.2 and self.on_recovered is not None:
                    log.warning("the job queue is reachable again")
                    await self.on_recovered()
                delay = 0.2
                async for message in super().listen():
                    yield message
            except (RedisConnectionError, RedisTimeoutError, ResponseError, OSError) as exc:
                log.warning("the job queue failed (%s); retrying in %gs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _declare_group(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
                )


class Jobs:
    """Enqueues deliveries and attachment fetches and, where this process is the worker, runs them."""

    def __init__(
        self,
        settings: Settings,
        writer: Writer,
        registry: AdapterRegistry,
        *,
        sweep_interval: float | None = None,
        stale_after: float | None = None,
        shutdown_grace: float = 5.0,
        lock_lease: float | None = None,
        stream_idle_timeout: float = 120.0,
        files: FileStorage | None = None,
        fetchers: Mapping[str, FileFetcher] | None = None,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.registry = registry
        self.files = files or FileStorage(settings.files_dir)
        self.fetchers = dict(fetchers) if fetchers is not None else default_fetchers()
        # Telegram's file and API URLs carry the bot token; httpx logs every request's URL, and
        # python-telegram-bot its API URL (at DEBUG).
        install_redaction_below("httpx", "telegram")
        self.policy = RetryPolicy(
            max_attempts=settings.delivery_max_attempts,
            base_delay=settings.delivery_backoff_base,
            max_delay=settings.delivery_backoff_cap,
        )
        lock_lease = settings.delivery_lease_seconds if lock_lease is None else lock_lease
        # A delivery whose worker died is found by the sweep once its lock's lease has run out.
        self.sweep_interval = lock_lease if sweep_interval is None else sweep_interval
        self.stale_after = self.policy.max_delay + 60.0 if stale_after is None else stale_after
        """A queued message no delivery wrote to for this long has probably lost its job (sweep)."""
        self.shutdown_grace = shutdown_grace
        self.broker: AsyncBroker
        self._redis: Redis | None = None
        self.locks: DeliveryLocks
        if settings.redis_url:
            self.broker = _ResilientStreamBroker(
                url=settings.redis_url,
                queue_name=settings.job_queue,
                consumer_group_name=CONSUMER_GROUP,
                # A group created after jobs were enqueued must still see them.
                consumer_id="0",
                idle_timeout=int(stream_idle_timeout * 1000),
                maxlen=STREAM_MAX_LENGTH,
                approximate=True,
                # A pooled connection that died with a restarted Redis is replaced at once instead
                # of failing the enqueue (the reply would wait for the sweep).
                retry=Retry(NoBackoff(), 2),
            )
            self.broker.on_recovered = self._requeue_after_outage
            self._redis = Redis.from_url(settings.redis_url)
            self.locks = RedisLocks(self._redis, f"{settings.job_queue}:delivering", lease=lock_lease)
        else:
            self.broker = InMemoryBroker(await_inplace=False)
            self.locks = LocalLocks()

        self._stopping = asyncio.Event()
        self._active: set[asyncio.Task[Any]] = set()
        self._receiver: asyncio.Task[Any] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None

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

        async def fetch(attachment_id: int) -> str | None:
            task = asyncio.current_task()
            if task is not None:
                self._active.add(task)
            try:
                return await fetch_attachment(
                    self.writer,
                    self.files,
                    self.fetchers,
                    attachment_id,
                    limit=self.settings.max_attachment_bytes,
                    policy=self.policy,
                    pause=self._pause,
                )
            finally:
                if task is not None:
                    self._active.discard(task)

        self._fetch = self.broker.register_task(fetch, task_name=FETCH_TASK)

        async def bot_turn(message_id: int) -> str | None:
            task = asyncio.current_task()
            if task is not None:
                self._active.add(task)
            try:
                result = await do_bot_turn(self.writer, self.registry, self.enqueue_delivery, message_id)
                return None if result is None else result.outcome
            finally:
                if task is not None:
                    self._active.discard(task)

        self._bot_turn = self.broker.register_task(bot_turn, task_name=BOT_TURN_TASK)

    async def enqueue_delivery(self, message_id: int) -> None:
        await self._deliver.kiq(message_id)

    async def enqueue_fetch(self, attachment_ids: Iterable[int]) -> None:
        """Fetch these pending attachments' bytes from their platform (after the ingest committed).

        Never raises: the message is stored whatever happens here, and a worker's sweep picks up
        attachments left pending (a webhook must not answer 500 for a message it has kept).
        """
        try:
            for attachment_id in attachment_ids:
                await self._fetch.kiq(attachment_id)
        except Exception as exc:
            log.warning("could not enqueue an attachment fetch (%s); the sweep will retry it", exc)

    async def after_ingest(self, result: IngestResult) -> None:
        """What follows a stored customer message, whichever channel brought it: its files are
        fetched, and the bot takes its turn when the thread is with the bot.

        Never raises (the message is stored; a webhook must not answer 500 for it). A bot turn that
        could not be enqueued is lost, and the thread stays with the bot until the customer writes
        again or an agent picks it up from the inbox's bot filter.
        """
        if result.duplicate:
            return
        if result.pending_attachments:
            await self.enqueue_fetch(result.pending_attachments)
        if result.thread_status == "bot":
            try:
                await self._bot_turn.kiq(result.message_id)
            except Exception as exc:
                log.warning("could not enqueue the bot's turn for message %s (%s)", result.message_id, exc)

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
        await self.requeue_fetches()
        self._sweeper = asyncio.create_task(self._sweep_forever())
        poller = MailboxPoller(MailStore(self.writer, self.settings, self.files, self.after_ingest))
        self._poller = asyncio.create_task(poller.run(self._stopping))
        if self.settings.retention_interval_hours > 0:
            self._pruner = asyncio.create_task(self._prune_forever())

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

    async def _requeue_after_outage(self) -> None:
        """Redis was away (and may have come back empty): the jobs it held may be lost, and
        enqueues failed meanwhile. The database still knows what is queued."""
        try:
            await self.requeue_waiting()
            await self.requeue_fetches()
        except Exception:
            log.exception("re-enqueueing after a job queue outage failed; the sweep will retry")

    async def requeue_fetches(self, *, stale_only: bool = False) -> int:
        """Enqueue a fetch for attachments left pending (the job was lost with a stopped process,
        or could not be enqueued); with ``stale_only`` only those pending for a while."""
        since = utcnow() - timedelta(seconds=self.stale_after) if stale_only else None
        pending = await pending_attachment_ids(self.writer, created_before=since)
        if pending:
            log.info("re-enqueueing %d attachment(s) still to fetch", len(pending))
        await self.enqueue_fetch(pending)
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
            try:
                await self.requeue_fetches(stale_only=True)
            except Exception:
                log.exception("re-enqueueing stranded attachment fetches failed")
            try:
                # The reports' rollup follows the messages, so the page's own catch-up stays small.
                await do_catch_up(self.writer)
            except Exception:
                log.exception("bringing the reports' rollup up to date failed")

    async def _prune_forever(self) -> None:
        interval = self.settings.retention_interval_hours * 3600
        delay = min(interval, 3600.0)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                return
            delay = interval
            try:
                report = await do_prune(
                    self.writer,
                    self.files,
                    retention_days=self.settings.event_retention_days,
                    actor="system",
                )
                log.info("retention prune: %s", report.as_dict())
            except Exception:
                log.exception("the retention prune failed; it runs again in %.0f h", interval / 3600)

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
        lingering: set[asyncio.Task[Any]] = set()
        for background in (self._sweeper, self._receiver, self._poller, self._pruner):
            if background is not None:
                background.cancel()
                # taskiq's receiver, cancelled while its listener waits in a blocking stream read,
                # may wait for a next job that never comes; closing the broker below ends that read.
                _, late_background = await asyncio.wait({background}, timeout=self.shutdown_grace)
                lingering |= late_background
        self._sweeper = self._receiver = self._poller = self._pruner = None
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
        if lingering:
            _, still = await asyncio.wait(lingering, timeout=self.shutdown_grace)
            if still:
                log.warning("%d background job loop(s) did not stop; left behind", len(still))
        for fetcher in self.fetchers.values():
            with contextlib.suppress(Exception):
                await fetcher.aclose()
        if self._redis is not None:
            await self._redis.aclose()
