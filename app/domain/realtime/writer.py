"""The one way state changes: a transaction that appends its events, commits, then rings the bell.

Every action runs its work through ``Writer.run``. Inside, the action changes rows and calls
``tx.emit``; at the end the buffered events are inserted, the transaction commits, and only then are
the events published. Subscribers therefore never hear of a change that is not in the database.

Event ids must reach the log in commit order, or a client resuming from ``last_event_id`` could
skip an event that committed late with a smaller id. On PostgreSQL the event inserts and the commit
run under a transaction-scoped advisory lock, so ids are taken in commit order; SQLite has one
writer at a time, which gives the same guarantee.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import asyncpg
from advanced_alchemy.types import DateTimeUTC
from asyncpg.exceptions import InternalClientError, OperatorInterventionError
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.models import Event, utcnow
from app.domain.realtime.publisher import (
    PublishingPausedError,
    frame_channels,
    log_namespace,
    widget_doorbells,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

EVENT_LOG_LOCK = 0x0E7E_1065
"""The advisory lock that orders event ids by commit (any constant shared by every process)."""


class Publisher(Protocol):
    """Sends committed event frames to live subscribers (memory or Redis channels)."""

    async def publish(self, frames: list[dict[str, Any]]) -> None: ...


class RetryTransaction(Exception):
    """Raised inside ``Writer.run`` to roll back and run the whole unit again."""


@dataclass(slots=True)
class Transaction:
    """What an action sees: the session and the event buffer of one unit of work."""

    session: AsyncSession
    events: list[Event] = field(default_factory=list)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def emit(
        self,
        type_: str,
        data: dict[str, Any],
        *,
        thread_id: int | None = None,
        contact_id: int | None = None,
        audience: str = "agents",
    ) -> Event:
        """Buffer an event; it is written at the end of the transaction and published after commit."""
        event = Event(type=type_, thread_id=thread_id, contact_id=contact_id, audience=audience, data=data)
        self.events.append(event)
        return event

    def on_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once the transaction has committed (enqueue a job, say)."""
        self.after_commit.append(callback)


def event_frame(event: Event) -> dict[str, Any]:
    """The wire form of an event (API.md "Events")."""
    return {
        "id": event.id,
        "type": event.type,
        "thread_id": event.thread_id,
        "data": event.data,
        "audience": event.audience,
    }


class Writer:
    """Runs actions as units of work and publishes their events after commit."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        *,
        is_postgres: bool,
        channel_namespace: str | None = None,
        direct_pool_size: int = 10,
    ) -> None:
        """``channel_namespace`` names this event log's channels; by default the database's name
        (``publisher.log_namespace``), which every process on the same database agrees on."""
        self._sessionmaker = sessionmaker
        self._publisher = publisher
        self._is_postgres = is_postgres
        if channel_namespace is None:
            bind = sessionmaker.kw.get("bind")
            channel_namespace = log_namespace(bind.url) if isinstance(bind, AsyncEngine) else ""
        self.channel_namespace = channel_namespace
        bind = sessionmaker.kw.get("bind")
        self._direct_dsn = (
            bind.url.set(drivername="postgresql").render_as_string(hide_password=False)
            if is_postgres and isinstance(bind, AsyncEngine)
            else None
        )
        self._direct_pool: asyncpg.Pool | None = None
        self._direct_pool_size = direct_pool_size
        self._direct_pool_lock = asyncio.Lock()

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self._sessionmaker

    @property
    def supports_direct(self) -> bool:
        """Whether ``run_statement`` is available (PostgreSQL only)."""
        return self._direct_dsn is not None

    async def _direct(self) -> asyncpg.Pool:
        if self._direct_pool is None:
            async with self._direct_pool_lock:
                if self._direct_pool is None:
                    assert self._direct_dsn is not None
                    self._direct_pool = await asyncpg.create_pool(
                        self._direct_dsn,
                        min_size=1,
                        max_size=self._direct_pool_size,
                        max_inactive_connection_lifetime=300,
                        reset=_nothing_to_reset,
                    )
        return self._direct_pool

    async def run_statement(
        self, work: Callable[[asyncpg.Connection], Awaitable[tuple[T, list[dict[str, Any]]] | None]]
    ) -> T | None:
        """The hot-path twin of ``run`` for PostgreSQL: ``work`` runs one SQL statement, in autocommit.

        One statement is one transaction, so it keeps ``run``'s guarantees by itself provided it
        appends its events the way ``run`` does: in a ``SELECT pg_advisory_xact_lock(EVENT_LOG_LOCK)``
        CTE that the events ``INSERT`` selects from (the lock is then taken before the event ids are,
        and held until commit). ``work`` returns the result and the committed frames (with their
        ids), which are published here; or ``None`` for "not my case", having written nothing, so the
        caller takes the general ORM path. Used where the ORM's per-statement cost dominates.
        """
        pool = await self._direct()
        try:
            async with pool.acquire() as connection:
                outcome = await work(connection)
        except (
            OSError,
            asyncpg.InterfaceError,
            asyncpg.PostgresConnectionError,
            OperatorInterventionError,
            InternalClientError,  # a connection left mid-protocol by a server that went away
        ):
            # The server went away (a restart, a failover): every pooled connection is dead, not
            # only this one. Replace them all on their next use instead of failing once each.
            await pool.expire_connections()
            raise
        if outcome is None:
            return None
        result, frames = outcome
        if frames:
            routed = [
                {**frame, "channels": frame_channels(frame, self.channel_namespace)} for frame in frames
            ]
            routed += widget_doorbells(frames, self.channel_namespace)
            try:
                await self._publisher.publish(routed)
            except Exception as exc:
                _publish_failed(exc, len(routed))
        return result

    async def aclose(self) -> None:
        if self._direct_pool is not None:
            await self._direct_pool.close()
            self._direct_pool = None

    async def publish_ephemeral(self, frame: dict[str, Any], channels: list[str]) -> None:
        """Ring ``channels`` with a frame that is not an event (no id, never replayed): ``seen``, say.

        Best effort, like every publish: a listener that misses it learns the same on its next read.
        """
        try:
            await self._publisher.publish([{**frame, "audience": "", "channels": channels}])
        except Exception:
            log.exception("publishing an ephemeral frame failed")

    def routed_frame(self, event: Event) -> dict[str, Any]:
        """``event_frame`` plus the channels it is published on (stripped from the wire form)."""
        frame = event_frame(event)
        return {**frame, "channels": frame_channels(frame, self.channel_namespace)}

    async def run(self, work: Callable[[Transaction], Awaitable[T]], *, attempts: int = 4) -> T:
        """Run ``work`` in one transaction; retry it whole when a concurrent writer won a race.

        A unique-key conflict (two webhooks creating the same contact at once, a retried message)
        rolls back and runs ``work`` again, where it finds the other writer's row. ``work`` must
        therefore be safe to re-run: read first, then write.
        """
        for attempt in range(1, attempts + 1):
            async with self._sessionmaker() as session:
                tx = Transaction(session)
                try:
                    if not self._is_postgres:
                        await session.execute(text("BEGIN IMMEDIATE"))
                    result = await work(tx)
                    await self._append_events(tx)
                    await session.commit()
                except (IntegrityError, RetryTransaction) as exc:
                    await session.rollback()
                    if attempt == attempts:
                        raise
                    log.debug("retrying unit of work after %s", type(exc).__name__)
                    continue
                except DBAPIError as exc:
                    await session.rollback()
                    # A lost race: SQLite says "database is locked", PostgreSQL reports a deadlock
                    # or serialization failure; a pooled connection may also have died. Running
                    # the whole unit again is safe.
                    if attempt == attempts or not is_transient(exc):
                        raise
                    log.info(
                        "retrying unit of work after a transient database error: %s", type(exc.orig).__name__
                    )
                    continue
                except BaseException:
                    await session.rollback()
                    raise
            await self._after_commit(tx)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _append_events(self, tx: Transaction) -> None:
        if not tx.events:
            return
        # Row locks first, the event-log lock last (and only for the inserts and the commit): every
        # writer takes them in that order, so the two kinds of lock never deadlock each other.
        await tx.session.flush()
        now = utcnow()
        for event in tx.events:
            event.created_at = now
        if not self._is_postgres:
            tx.session.add_all(tx.events)
            await tx.session.flush()
            return
        # One statement takes the lock and inserts every event (the ids are drawn after the lock,
        # in the buffer's order); the commit follows at once. The lock is held for two round trips
        # instead of three: every other writer waits on it, so each one saved counts many times.
        rows = [
            {
                "type": event.type,
                "thread_id": event.thread_id,
                "contact_id": event.contact_id,
                "audience": event.audience,
                "data": event.data,
            }
            for event in tx.events
        ]
        result = await tx.session.execute(_APPEND_EVENTS, {"key": EVENT_LOG_LOCK, "rows": rows, "now": now})
        for event, event_id in zip(tx.events, sorted(result.scalars()), strict=True):
            event.id = event_id

    async def _after_commit(self, tx: Transaction) -> None:
        if tx.events:
            try:
                routed = [self.routed_frame(event) for event in tx.events]
                await self._publisher.publish(routed + widget_doorbells(routed, self.channel_namespace))
            except Exception as exc:
                # The database is the record: clients catch up from their cursor on reconnect.
                _publish_failed(exc, len(tx.events))
        for callback in tx.after_commit:
            try:
                await callback()
            except Exception:
                log.exception("after-commit callback failed")


_APPEND_EVENTS = text(
    """
    WITH event_log AS (SELECT pg_advisory_xact_lock(:key))
    INSERT INTO events (type, thread_id, contact_id, audience, data, created_at)
    SELECT r.type, r.thread_id, r.contact_id, r.audience, r.data, :now
    FROM event_log,
         ROWS FROM (jsonb_to_recordset(:rows)
                    AS (type text, thread_id integer, contact_id integer, audience text, data jsonb))
         WITH ORDINALITY AS r(type, thread_id, contact_id, audience, data, position)
    ORDER BY r.position
    RETURNING id
    """
).bindparams(bindparam("rows", type_=JSONB), bindparam("now", type_=DateTimeUTC(timezone=True)))


def _publish_failed(exc: Exception, count: int) -> None:
    """Log a failed publish: one line while the bus is unreachable (every write hits it), a
    traceback for anything else."""
    if isinstance(exc, PublishingPausedError):
        log.debug("publishing %d event(s) skipped: %s", count, exc)
    elif isinstance(exc, ConnectionError):
        log.warning("publishing %d event(s) failed: %s; clients catch up from the event log", count, exc)
    else:
        log.exception("publishing %d event(s) failed", count)


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """Pool release hook: ``run_statement`` runs single autocommit statements and sets no session
    state, so asyncpg's default reset (one more round trip per use) has nothing to undo."""


_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock timeout


def is_transient(exc: DBAPIError) -> bool:
    """Whether running the unit of work again may succeed."""
    if exc.connection_invalidated:
        return True
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        if getattr(candidate, "sqlstate", None) in _TRANSIENT_SQLSTATES:
            return True
    message = str(exc.orig).lower()
    return "database is locked" in message or "deadlock" in message
