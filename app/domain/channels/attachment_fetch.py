"""The fetch job: download a customer's file from the platform into our ``FileStorage``.

Inbound webhooks store a platform's file as a ``pending`` attachment and enqueue this job with its
id (``Jobs.enqueue_fetch``). The job asks the channel's fetcher (``integrations/*/files.py``) for
the bytes, streams them into the store under the size cap, and records the outcome through
``do_record_fetch``: ``stored``, ``too_large`` (announced or found over the cap, or refused by the
platform for its size), or ``failed`` with a short reason once retries are spent or the platform
refuses for good. Transient trouble (timeouts, 5xx, rate limits) is retried with the delivery
job's backoff.

Idempotent: only a pending attachment is fetched, so a repeated job does nothing once an outcome is
recorded; two copies running at once write the same content-addressed file and the second record
is a no-op. Nothing is logged that could hold a URL (a Telegram file URL contains the bot token).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db.models import Attachment, Message, pk
from app.domain.channels.accounts import account_config
from app.domain.channels.delivery import RetryPolicy
from app.domain.inbox.attachments import FetchOutcome, do_record_fetch
from app.domain.realtime.writer import Writer
from app.lib.storage import FileStorage, FileTooLargeError
from integrations.files import FetchError, FileFetcher, RemoteTooLargeError
from integrations.messenger.files import MessengerFiles
from integrations.telegram.files import TelegramFiles
from integrations.types import AccountConfig

log = logging.getLogger(__name__)

Pause = Callable[[float], Awaitable[bool]]
"""Wait before the next attempt; ``False`` means the process is stopping and the job should end."""


def default_fetchers() -> dict[str, FileFetcher]:
    """A fetcher for every channel whose inbound attachments carry a ``source``."""
    return {"telegram": TelegramFiles(), "messenger": MessengerFiles()}


@dataclass(frozen=True, slots=True)
class _Pending:
    channel: str
    account: AccountConfig | None
    source: Mapping[str, Any]


async def _pending(writer: Writer, attachment_id: int) -> _Pending | None:
    """What to fetch, or ``None`` when the attachment is not (or no longer) waiting for its bytes."""
    async with writer.sessionmaker() as session:
        row = (
            await session.execute(
                select(Attachment, col(Message.channel), col(Message.channel_account_id))
                .join(Message, col(Message.id) == col(Attachment.message_id))
                .where(col(Attachment.id) == attachment_id)
            )
        ).first()
        if row is None or row[0].status != "pending":
            return None
        attachment, channel, account_id = row
        account = await account_config(session, account_id) if account_id is not None else None
        return _Pending(channel, account, dict(attachment.source or {}))


async def pending_attachment_ids(writer: Writer, *, created_before: datetime | None = None) -> list[int]:
    """Attachments still waiting for their bytes (a worker re-enqueues them: all when it starts,
    those older than a fetch could take on its sweeps)."""
    query = select(col(Attachment.id)).where(col(Attachment.status) == "pending")
    if created_before is not None:
        query = query.where(col(Attachment.created_at) < created_before)
    async with writer.sessionmaker() as session:
        rows = await session.execute(query.order_by(col(Attachment.id)))
        return [pk(attachment_id) for attachment_id in rows.scalars().all()]


async def fetch_attachment(
    writer: Writer,
    files: FileStorage,
    fetchers: Mapping[str, FileFetcher],
    attachment_id: int,
    *,
    limit: int,
    policy: RetryPolicy,
    pause: Pause,
) -> FetchOutcome | None:
    """Fetch one pending attachment; the outcome recorded, or ``None`` when there was nothing to do
    (already settled) or the process is stopping (it stays pending for the next start)."""
    job = await _pending(writer, attachment_id)
    if job is None:
        return None
    fetcher = fetchers.get(job.channel)
    if job.account is None or fetcher is None:
        reason = (
            "the channel account is disabled or removed"
            if job.account is None
            else f"files cannot be fetched from {job.channel}"
        )
        return await _record(writer, attachment_id, "failed", error=reason)
    attempt = 0
    while True:
        attempt += 1
        try:
            async with fetcher.open(job.account, job.source) as remote:
                if remote.size is not None and remote.size > limit:
                    raise FileTooLargeError(limit)  # announced: not a byte downloaded
                key, size = await files.put_stream(remote.chunks, limit=limit)
                content_type = _media_type(remote.content_type)
        except (FileTooLargeError, RemoteTooLargeError):
            return await _record(writer, attachment_id, "too_large")
        except FetchError as exc:
            if exc.retryable and attempt < policy.max_attempts:
                delay = policy.delay(attempt, exc.retry_after)
                log.info(
                    "attachment %s: fetch attempt %d failed (%s); retrying in %.1fs",
                    attachment_id,
                    attempt,
                    exc.reason,
                    delay,
                )
                if await pause(delay):
                    continue
                return None
            log.warning("attachment %s: fetch failed: %s", attachment_id, exc.reason)
            return await _record(writer, attachment_id, "failed", error=exc.reason)
        except Exception as exc:  # no traceback: its messages could carry the file's URL
            log.error("attachment %s: fetch failed unexpectedly (%s)", attachment_id, type(exc).__name__)
            return await _record(writer, attachment_id, "failed", error="the file could not be fetched")
        return await _record(
            writer,
            attachment_id,
            "stored",
            storage_key=key,
            size=size,
            content_type=content_type,
        )


async def _record(
    writer: Writer,
    attachment_id: int,
    status: FetchOutcome,
    *,
    storage_key: str | None = None,
    size: int | None = None,
    content_type: str | None = None,
    error: str | None = None,
) -> FetchOutcome | None:
    changed = await do_record_fetch(
        writer,
        attachment_id,
        status=status,
        storage_key=storage_key,
        size=size,
        content_type=content_type,
        error=error,
    )
    return status if changed else None


def _media_type(header: str | None) -> str | None:
    """``type/subtype`` of a Content-Type header, parameters dropped; ``None`` when it is not one."""
    if not header:
        return None
    value = header.split(";", 1)[0].strip().lower()
    kind, slash, subtype = value.partition("/")
    return value if slash and kind and subtype and len(value) <= 255 else None
