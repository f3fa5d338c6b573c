"""Delivering stored outbound messages through the adapters, with retries and backoff.

The message row is the record: a delivery attempt reads it, sends through the channel's adapter,
and writes the outcome back as a ``message.updated`` event. Retryable failures back off
exponentially (``base · 2^(attempt-1)``, capped, or the platform's ``Retry-After``) up to a number
of attempts; permanent failures stop at once. Every status change is an event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import select

from app.db.models import Message, utcnow
from app.domain.channels.accounts import account_config
from app.domain.inbox.schemas import message_out, to_builtins
from app.domain.realtime.writer import Transaction, Writer
from integrations.base import DeliveryError, PermanentDeliveryError
from integrations.registry import AdapterRegistry, UnknownChannelError
from integrations.types import AccountConfig, OutboundMessage

log = logging.getLogger(__name__)

PENDING = ("queued",)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 2.0
    max_delay: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        if retry_after is not None:
            return min(self.max_delay, max(backoff, retry_after))
        return backoff


@dataclass(frozen=True, slots=True)
class _Claim:
    account: AccountConfig
    outbound: OutboundMessage
    attempt: int


def _emit_update(tx: Transaction, message: Message) -> None:
    tx.emit(
        "message.updated",
        {"message": to_builtins(message_out(message))},
        thread_id=message.thread_id,
    )


async def _claim(writer: Writer, message_id: int) -> _Claim | None:
    """Read what to send and count the attempt; ``None`` when there is nothing (left) to send."""

    async def work(tx: Transaction) -> _Claim | None:
        message = await tx.session.get(Message, message_id)
        if message is None or message.delivery_status not in PENDING or message.channel_account_id is None:
            return None
        account = await account_config(tx.session, message.channel_account_id)
        if account is None:
            message.delivery_status = "failed"
            message.delivery_error = "the channel account is disabled or removed"
            message.updated_at = utcnow()
            _emit_update(tx, message)
            return None
        message.delivery_attempts += 1
        assert message.id is not None
        outbound = OutboundMessage(
            message_id=message.id,
            thread_id=message.thread_id,
            recipient_id=str(message.meta.get("recipient", "")),
            text=message.text,
            author_name=message.author_name,
            subject=message.subject,
            html=message.html,
            idempotency_key=f"onethread-message-{message.id}",
            metadata=dict(message.meta or {}),
        )
        return _Claim(account=account, outbound=outbound, attempt=message.delivery_attempts)

    return await writer.run(work)


async def _record(
    writer: Writer, message_id: int, *, status: str, error: str | None, external_id: str | None = None
) -> None:
    async def work(tx: Transaction) -> None:
        message = await tx.session.get(Message, message_id)
        if message is None:
            return
        message.delivery_status = status
        message.delivery_error = error
        message.updated_at = utcnow()
        if external_id and message.external_id is None:
            duplicate = (
                await tx.session.execute(
                    select(Message.id).where(
                        Message.channel_account_id == message.channel_account_id,
                        Message.external_id == external_id,
                    )
                )
            ).first()
            if duplicate is None:
                message.external_id = external_id
        _emit_update(tx, message)

    await writer.run(work)


async def deliver_message(
    writer: Writer, registry: AdapterRegistry, message_id: int, policy: RetryPolicy
) -> str | None:
    """Deliver one queued message, retrying until sent, permanently failed or out of attempts.

    Returns the final delivery status (``None`` when the message had nothing to deliver).
    """
    while True:
        claim = await _claim(writer, message_id)
        if claim is None:
            return None
        try:
            adapter = registry.get(claim.account.channel)
            result = await adapter.send(claim.account, claim.outbound)
        except UnknownChannelError:
            await _record(writer, message_id, status="failed", error="no adapter can send on this channel")
            return "failed"
        except PermanentDeliveryError as exc:
            await _record(writer, message_id, status="failed", error=exc.reason[:500])
            return "failed"
        except DeliveryError as exc:
            if claim.attempt >= policy.max_attempts:
                await _record(
                    writer,
                    message_id,
                    status="failed",
                    error=f"gave up after {claim.attempt} attempts: {exc.reason}"[:500],
                )
                return "failed"
            delay = policy.delay(claim.attempt, exc.retry_after)
            await _record(
                writer,
                message_id,
                status="queued",
                error=f"attempt {claim.attempt} failed ({exc.reason}); retrying in {delay:g}s"[:500],
            )
            await asyncio.sleep(delay)
            continue
        except Exception as exc:
            # An adapter bug must not strand the message as queued forever; treat it as retryable.
            log.exception("adapter %s crashed sending message %s", claim.account.channel, message_id)
            if claim.attempt >= policy.max_attempts:
                await _record(
                    writer, message_id, status="failed", error=f"adapter error: {type(exc).__name__}"
                )
                return "failed"
            await asyncio.sleep(policy.delay(claim.attempt))
            continue
        await _record(writer, message_id, status=result.status, error=None, external_id=result.external_id)
        return result.status


async def queued_message_ids(writer: Writer, limit: int = 10_000) -> list[int]:
    """Messages still waiting for delivery (after a restart the worker picks them up again)."""
    async with writer.sessionmaker() as session:
        rows = await session.execute(
            select(Message.id).where(Message.delivery_status == "queued").order_by(Message.id).limit(limit)  # type: ignore[arg-type]
        )
        return [row[0] for row in rows]
