"""Delivering stored outbound messages through the adapters, with retries and backoff.

The message row is the record: a delivery attempt reads it, sends through the channel's adapter,
and writes the outcome back as a ``message.updated`` event. Retryable failures back off
exponentially (``base · 2^(attempt-1)``, capped; a platform's ``Retry-After`` is honoured when it
asks for longer) up to a number of attempts; permanent failures stop at once. Every status change,
including each failed attempt that will be retried, is an event.

One message is delivered by one job at a time. Jobs for the same message can meet: a worker
re-enqueues every queued message when it starts, a Redis stream hands an unacknowledged job to
another consumer after a while, the periodic sweep re-enqueues stragglers. Each delivery
therefore holds a per-message lock (in-process embedded, a Redis lock with a renewed lease in
production) for as long as it works on the message, backoff waits included; a job that finds the
lock taken leaves the message to its holder. A holder that dies loses the lock when its lease
runs out, and the next job for the message takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError
from sqlalchemy import func
from sqlmodel import col, select

from app.db.models import Attachment, Identity, Message, utcnow
from app.domain.channels.accounts import account_config
from app.domain.inbox.schemas import message_out, to_builtins
from app.domain.realtime.writer import Transaction, Writer
from app.lib import metrics
from app.lib.storage import FileStorage, UnknownFileError
from integrations.base import (
    SENT_PARTS,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    UnconfirmedDeliveryError,
)
from integrations.registry import AdapterRegistry, UnknownChannelError
from integrations.types import AccountConfig, OutboundAttachment, OutboundMessage

log = logging.getLogger(__name__)

PENDING = ("queued",)
MAX_ERROR_CHARS = 500
SENDING = "sending_attempt"
"""Message ``meta`` key set (to the attempt number) from the claim until the attempt's outcome is
recorded: found on a later claim, it means the sender died mid-send (see ``_deliver_owned``)."""
UNCONFIRMED = (
    "unconfirmed: the worker stopped while sending this, before the platform answered; it was "
    "not sent again (the platform would have shown it twice) and has most likely arrived"
)

UNANSWERED = (
    "unconfirmed: {reason}; the request had gone out, so it was not sent again (the platform "
    "would have shown it twice) and has most likely arrived"
)

Pause = Callable[[float], Awaitable[bool]]
"""Wait before the next attempt; ``False`` means the process is stopping and the job should end."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 300.0
    max_retry_after: float = 3600.0
    """Longest ``Retry-After`` obeyed; a receiver asking for more gets retried after this long."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        ``base · 2^(attempt-1)`` capped at ``max_delay``; a receiver's ``Retry-After`` wins when it
        asks for longer (up to ``max_retry_after``), since coming back earlier only earns another
        refusal.
        """
        exponent = min(max(attempt, 1), 64) - 1
        backoff = min(self.max_delay, self.base_delay * 2.0**exponent)
        if retry_after is not None and retry_after > backoff:
            return min(retry_after, max(self.max_retry_after, backoff))
        return backoff


# ------------------------------------------------------------------------------------------------
# one delivery at a time per message
# ------------------------------------------------------------------------------------------------
class DeliveryLocks(Protocol):
    def hold(self, message_id: int) -> AbstractAsyncContextManager[bool]:
        """Enter with ``True`` when this job now owns the message, ``False`` when another job does."""
        ...

    async def is_held(self, message_id: int) -> bool:
        """Whether some job owns the message right now."""
        ...


class LocalLocks:
    """Ownership within one process: enough where one process runs every job (embedded)."""

    def __init__(self) -> None:
        self._held: set[int] = set()

    async def is_held(self, message_id: int) -> bool:
        return message_id in self._held

    @asynccontextmanager
    async def hold(self, message_id: int) -> AsyncIterator[bool]:
        if message_id in self._held:
            yield False
            return
        self._held.add(message_id)
        try:
            yield True
        finally:
            self._held.discard(message_id)


class RedisLocks:
    """Ownership across processes: a Redis lock per message whose lease the holder keeps renewing.

    A holder that dies stops renewing, so the lock frees itself after ``lease`` seconds.
    """

    def __init__(self, redis: Redis, prefix: str, *, lease: float = 30.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lease = lease

    def key(self, message_id: int) -> str:
        return f"{self.prefix}:{message_id}"

    async def is_held(self, message_id: int) -> bool:
        return bool(await self.redis.exists(self.key(message_id)))

    @asynccontextmanager
    async def hold(self, message_id: int) -> AsyncIterator[bool]:
        lock = self.redis.lock(self.key(message_id), timeout=self.lease, blocking=False, thread_local=False)
        if not await lock.acquire(token=uuid.uuid4().hex):
            yield False
            return
        keeper = asyncio.create_task(self._renew(lock, message_id))
        try:
            yield True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            with contextlib.suppress(LockError, RedisError):
                await asyncio.shield(lock.release())

    async def _renew(self, lock: Lock, message_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await lock.reacquire()
            except (LockError, RedisError):
                log.warning("lost the delivery lock of message %s; another job may take over", message_id)
                return


_process_locks = LocalLocks()


async def _sleep(delay: float) -> bool:
    await asyncio.sleep(delay)
    return True


# ------------------------------------------------------------------------------------------------
# the units of work
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Claim:
    account: AccountConfig
    outbound: OutboundMessage
    attempt: int
    files: tuple[Attachment, ...] = ()
    """The reply's stored files, whose bytes are read (outside the transaction) before sending."""
    interrupted: bool = False
    """An earlier attempt was claimed and never recorded: its sender died mid-send."""


def emit_message_updated(tx: Transaction, message: Message) -> None:
    """The ``message.updated`` event for a changed delivery status (agents redraw the message)."""
    tx.emit(
        "message.updated",
        {"message": to_builtins(message_out(message))},
        thread_id=message.thread_id,
    )


def _fail(tx: Transaction, message: Message, reason: str) -> None:
    message.delivery_status = "failed"
    message.delivery_error = reason[:MAX_ERROR_CHARS]
    message.updated_at = utcnow()
    emit_message_updated(tx, message)


async def _claim(writer: Writer, message_id: int) -> _Claim | None:
    """Read what to send and count the attempt; ``None`` when there is nothing (left) to send."""

    async def work(tx: Transaction) -> _Claim | None:
        # Locked: an erase that changed the row meanwhile is read, never written back in an event.
        message = await tx.session.get(Message, message_id, with_for_update=True)
        if message is None or message.delivery_status not in PENDING:
            return None
        if message.channel_account_id is None:
            _fail(tx, message, "the message has no channel account to send from")
            metrics.delivery_failed(message.channel, "unavailable")
            return None
        account = await account_config(tx.session, message.channel_account_id)
        if account is None:
            _fail(tx, message, "the channel account is disabled or removed")
            metrics.delivery_failed(message.channel, "unavailable")
            return None
        message.delivery_attempts += 1
        message.updated_at = utcnow()
        # Committed before the send: if this job dies before recording the outcome, the next
        # claim finds the marker and knows the platform may have the message already.
        meta = dict(message.meta or {})
        interrupted = SENDING in meta
        message.meta = {**meta, SENDING: message.delivery_attempts}
        assert message.id is not None
        # When the recipient last wrote: reply windows (Messenger's) are checked again at send time.
        last_inbound_at = (
            await tx.session.execute(
                select(func.max(col(Message.created_at))).where(
                    col(Message.identity_id) == message.identity_id, col(Message.direction) == "in"
                )
            )
        ).scalar_one_or_none()
        outbound = OutboundMessage(
            message_id=message.id,
            thread_id=message.thread_id,
            recipient_id=str(message.meta.get("recipient", "")),
            text=message.text,
            author_name=message.author_name,
            subject=message.subject,
            html=message.html,
            idempotency_key=f"onethread-message-{message.id}",
            metadata=meta,
            last_inbound_at=last_inbound_at,
        )
        files = (
            await tx.session.execute(
                select(Attachment)
                .where(col(Attachment.message_id) == message.id, col(Attachment.storage_key).is_not(None))
                .order_by(col(Attachment.id))
            )
        ).scalars()
        return _Claim(
            account=account,
            outbound=outbound,
            attempt=message.delivery_attempts,
            files=tuple(files),
            interrupted=interrupted,
        )

    return await writer.run(work)


async def _with_files(claim: _Claim, files: FileStorage | None) -> OutboundMessage:
    """The claimed message with its files' bytes; a file gone from storage fails the message."""
    if not claim.files:
        return claim.outbound
    if files is None:
        raise PermanentDeliveryError("the reply has files but this process has no file storage")
    loaded = []
    for row in claim.files:
        try:
            data = await files.read(row.storage_key or "")
        except UnknownFileError:
            raise PermanentDeliveryError(f"the file {row.filename} is missing from storage") from None
        loaded.append(OutboundAttachment(row.filename, row.content_type, len(data), data))
    return replace(claim.outbound, attachments=tuple(loaded))


async def _record(
    writer: Writer,
    message_id: int,
    *,
    status: str,
    error: str | None,
    external_id: str | None = None,
    sent_parts: tuple[str, ...] = (),
) -> None:
    async def work(tx: Transaction) -> None:
        # Locked: an erase that changed the row meanwhile is read, never written back in an event.
        message = await tx.session.get(Message, message_id, with_for_update=True)
        if message is None:
            return
        # A new dict: the JSON column only notices an assignment, not an update in place.
        meta = {key: value for key, value in (message.meta or {}).items() if key != SENDING}
        if sent_parts:
            meta[SENT_PARTS] = list(sent_parts)
        if meta != message.meta:
            message.meta = meta
        message.delivery_status = status
        message.delivery_error = error[:MAX_ERROR_CHARS] if error else None
        message.updated_at = utcnow()
        if external_id and message.external_id is None:
            duplicate = (
                await tx.session.execute(
                    select(col(Message.id)).where(
                        col(Message.channel_account_id) == message.channel_account_id,
                        col(Message.external_id) == external_id,
                    )
                )
            ).first()
            if duplicate is None:
                message.external_id = external_id[:255]
        emit_message_updated(tx, message)

    await writer.run(work)


async def deliver_message(
    writer: Writer,
    registry: AdapterRegistry,
    message_id: int,
    policy: RetryPolicy,
    *,
    locks: DeliveryLocks | None = None,
    pause: Pause = _sleep,
    files: FileStorage | None = None,
) -> str | None:
    """Deliver one queued message, retrying until sent, permanently failed or out of attempts.

    Returns the final delivery status; ``None`` when there was nothing to deliver or another job
    is delivering it; ``"queued"`` when ``pause`` said to stop before the next attempt.
    """
    async with (locks or _process_locks).hold(message_id) as owned:
        if not owned:
            log.info("message %s is already being delivered by another job", message_id)
            return None
        return await _deliver_owned(writer, registry, message_id, policy, pause, files)


async def _deliver_owned(
    writer: Writer,
    registry: AdapterRegistry,
    message_id: int,
    policy: RetryPolicy,
    pause: Pause,
    files: FileStorage | None,
) -> str | None:
    while True:
        claim = await _claim(writer, message_id)
        if claim is None:
            return None
        try:
            adapter = registry.get(claim.account.channel)
        except UnknownChannelError:
            await _record(
                writer,
                message_id,
                status="failed",
                error=f"no adapter can send on the {claim.account.channel} channel",
            )
            metrics.delivery_failed(claim.account.channel, "unavailable")
            return "failed"
        if claim.interrupted and not adapter.idempotent_sends:
            # The last attempt's sender died after sending began and before the platform's answer
            # was recorded. Without an idempotency key (Telegram, Messenger, mail) sending again
            # could show the customer the message twice; a request that went out almost always
            # arrived (dying between the claim and the request leaving is the narrow exception).
            # At most once, then: recorded as sent, with the doubt spelled out for the agent.
            log.warning("message %s: the previous sender died mid-send; not sending it again", message_id)
            await _record(writer, message_id, status="sent", error=UNCONFIRMED)
            return "sent"
        try:
            result = await adapter.send(claim.account, await _with_files(claim, files))
        except DeliveryError as exc:
            error: DeliveryError = exc
        except Exception as exc:
            # An adapter bug must not strand the message as queued forever; retry it, visibly.
            log.exception("adapter %s crashed sending message %s", claim.account.channel, message_id)
            error = RetryableDeliveryError(f"adapter error: {type(exc).__name__}")
        else:
            await _record(
                writer,
                message_id,
                status=result.status,
                error=None,
                external_id=result.external_id,
                sent_parts=result.part_ids if len(result.part_ids) > 1 else (),
            )
            return result.status

        if isinstance(error, UnconfirmedDeliveryError) and not adapter.idempotent_sends:
            # As for a sender that died mid-send (above): at most once where a repeat would show.
            log.warning("message %s: no answer to a send that went out; not sending it again", message_id)
            await _record(
                writer,
                message_id,
                status="sent",
                error=UNANSWERED.format(reason=error.reason),
                sent_parts=error.sent_parts,
            )
            return "sent"
        if not error.retryable:
            await _record(
                writer, message_id, status="failed", error=error.reason, sent_parts=error.sent_parts
            )
            metrics.delivery_failed(claim.account.channel, "permanent")
            return "failed"
        if claim.attempt >= policy.max_attempts:
            await _record(
                writer,
                message_id,
                status="failed",
                error=f"gave up after {claim.attempt} attempts: {error.reason}",
                sent_parts=error.sent_parts,
            )
            metrics.delivery_failed(claim.account.channel, "exhausted")
            return "failed"
        delay = policy.delay(claim.attempt, error.retry_after)
        await _record(
            writer,
            message_id,
            status="queued",
            error=f"attempt {claim.attempt} failed ({error.reason}); retrying in {delay:g}s",
            sent_parts=error.sent_parts,
        )
        metrics.delivery_failed(claim.account.channel, "temporary")
        if not await pause(delay):
            return "queued"


async def queued_message_ids(
    writer: Writer, *, limit: int = 10_000, untouched_since: datetime | None = None
) -> list[int]:
    """Messages still waiting for delivery, oldest first (a starting worker picks them up again).

    ``untouched_since`` keeps only the stragglers: rows no delivery has written to since then, and
    rows a delivery has started on (one that is still alive holds the message's lock, which the
    caller checks; one that died left it queued, perhaps mid-send).
    """
    query = select(col(Message.id)).where(col(Message.delivery_status).in_(PENDING))
    if untouched_since is not None:
        query = query.where(
            (col(Message.updated_at) < untouched_since) | (col(Message.delivery_attempts) > 0)
        )
    async with writer.sessionmaker() as session:
        rows = await session.execute(query.order_by(col(Message.id)).limit(limit))
        return [int(row[0]) for row in rows]


# ------------------------------------------------------------------------------------------------
# receipts from the platform
# ------------------------------------------------------------------------------------------------
# What each receipt may move a message on from: a receipt never moves a status back, never
# revives a failed message, and cannot be for one we have not sent yet.
_RECEIPT_FROM = {"delivered": ("sent",), "read": ("sent", "delivered")}


async def do_apply_receipt(
    writer: Writer,
    *,
    account_id: str,
    channel: str,
    sender_external_id: str,
    kind: str,
    watermark: datetime,
) -> int:
    """A platform says the customer got (or read) everything we sent them up to ``watermark``.

    Our outbound messages to that identity through that account, sent by then, move on to
    ``kind`` (``delivered`` or ``read``), each with a ``message.updated`` event so open consoles
    show it. Returns how many changed; a repeated receipt changes nothing.
    """
    if kind not in _RECEIPT_FROM:
        raise ValueError(f"unknown receipt kind {kind!r}")
    account_uuid = uuid.UUID(account_id)

    async def work(tx: Transaction) -> int:
        identity_id = (
            await tx.session.execute(
                select(col(Identity.id)).where(
                    col(Identity.channel) == channel, col(Identity.external_id) == sender_external_id
                )
            )
        ).scalar_one_or_none()
        if identity_id is None:
            return 0
        rows = await tx.session.execute(
            select(Message)
            .where(
                col(Message.identity_id) == identity_id,
                col(Message.channel_account_id) == account_uuid,
                col(Message.direction) == "out",
                col(Message.delivery_status).in_(_RECEIPT_FROM[kind]),
                col(Message.created_at) <= watermark,
            )
            .order_by(col(Message.id))
            .with_for_update()
        )
        changed = 0
        for message in rows.scalars():
            message.delivery_status = kind
            message.updated_at = utcnow()
            emit_message_updated(tx, message)
            changed += 1
        return changed

    return await writer.run(work)


async def do_apply_bounce(
    writer: Writer, *, account_id: str, original_message_id: str, reason: str
) -> int | None:
    """A mail server reports that our mail ``original_message_id`` (its Message-ID, stored as the
    message's external id) could not be delivered: the message is marked ``failed`` with the
    reason, whatever receipt came before (a bounce can follow a ``sent``). Returns the message id,
    or ``None`` when the bounce is about no mail of ours on this account."""
    account_uuid = uuid.UUID(account_id)

    async def work(tx: Transaction) -> int | None:
        message = (
            await tx.session.execute(
                select(Message)
                .where(
                    col(Message.channel_account_id) == account_uuid,
                    col(Message.external_id) == original_message_id,
                    col(Message.direction) == "out",
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if not isinstance(message, Message):
            return None
        if message.delivery_status != "failed":
            _fail(tx, message, reason)
            metrics.delivery_failed(message.channel, "bounced")
        return message.id

    return await writer.run(work)
