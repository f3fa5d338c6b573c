"""Writers for privacy: the audit log, a customer's erasure, the retention prune.

An erase is one unit of work: every row it changes or removes, the purge of the event log and its
audit row commit together or not at all. Attachment files go after the commit (a rollback must not
have lost them) and only when no other attachment still uses the same bytes (the store is
content-addressed: one file can serve several messages).

What an erase leaves (API.md "Privacy"):

- ``anonymize``: the contact row (no name, email, phone or attributes; ``erased_at`` set) and its
  thread, resolved, with every message's timing, direction, channel, author agent and delivery
  status; every text (the customer's, the agents' and the bot's: replies quote and name the customer)
  is replaced by ``ERASED_TEXT``. Identities are removed, so the same Telegram account or address
  writing again starts a new contact with no link to the old one.
- ``delete``: nothing of the customer at all.

Either way the event log's rows about them, their merge history and suggestions, and the question
text of the bot's decisions go; the audit row holds ids and counts only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import (
    Attachment,
    AuditEntry,
    BotDecision,
    Contact,
    Event,
    Identity,
    Merge,
    MergeSuggestion,
    Message,
    Thread,
    ThreadRead,
    utcnow,
)
from app.domain.privacy.customer import Customer, customer_group
from app.domain.privacy.export import ExportSummary, write_export
from app.domain.realtime.writer import Transaction, Writer
from app.domain.reports.actions import refresh_threads
from app.i18n import N_
from app.lib.errors import ConflictError, InvalidInputError, Reason
from app.lib.storage import FileStorage, UnknownFileError

log = logging.getLogger(__name__)

ERASED_TEXT = "[erased]"
"""What an anonymized message says instead of its text (stored data, so not translated)."""
ERASED_EVENT = "contact.erased"
"""The realtime event after an erase: consoles drop the thread's row and reload an open thread."""
EraseMode = Literal["anonymize", "delete"]
ERASE_MODES: tuple[EraseMode, ...] = ("anonymize", "delete")

PRUNE_BATCH = 5_000
"""Event rows deleted per transaction: each batch commits on its own, so a big log is never locked long."""
ORPHAN_GRACE = timedelta(days=1)
"""A stored file no attachment names is left this long: an upload writes its bytes before its row."""
KEY_BATCH = 500


def actor_of(agent_id: int | None, *, default: str = "cli") -> str:
    """How the audit log names who acted: ``agent:<id>``, else ``cli`` or ``system``."""
    return f"agent:{agent_id}" if agent_id is not None else default


def audit(
    tx: Transaction,
    *,
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: object = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit row to the unit of work (it commits with what it records, or not at all)."""
    entry = AuditEntry(
        actor=actor[:40],
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        details=details or {},
    )
    tx.session.add(entry)
    return entry


async def do_record_audit(
    writer: Writer,
    *,
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: object = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record an action that changed nothing else (an export: reading needs no transaction)."""

    async def work(tx: Transaction) -> None:
        audit(
            tx, actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, details=details
        )

    await writer.run(work)


# --- export ----------------------------------------------------------------------------------------


async def do_export_contact(
    writer: Writer, files: FileStorage, *, contact_id: int, actor: str, out: IO[bytes]
) -> ExportSummary:
    """Write the customer's ZIP to ``out`` (``privacy.export``), then record who took it."""
    async with writer.sessionmaker() as session:
        summary = await write_export(session, files, contact_id, out)
    await do_record_audit(
        writer,
        actor=actor,
        action="contact.export",
        subject_type="contact",
        subject_id=summary.contact_id,
        details={"messages": summary.messages, "attachments": summary.attachments, "files": summary.files},
    )
    return summary


# --- erase -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erase did (counts only: this is what the audit row and the CLI show)."""

    contact_id: int
    mode: str
    contacts: int
    identities: int
    threads: int
    messages: int
    attachments: int
    bot_decisions: int
    merges: int
    merge_suggestions: int
    events: int
    files_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def erase_mode(value: str | None, default: str) -> EraseMode:
    mode = (value or default).strip().lower()
    if mode == "anonymize":
        return "anonymize"
    if mode == "delete":
        return "delete"
    raise InvalidInputError(f"the erase mode is anonymize or delete, not {mode!r}", type_slug="invalid-mode")


async def refuse_if_erased(session: AsyncSession, customer: Customer) -> None:
    """409 ``already-erased`` when nothing of the customer is left to erase.

    Every contact of the group must be erased: a contact merged into an erased one afterwards still
    holds data, and erasing the group again is how it goes.
    """
    erased_at = customer.contact.erased_at
    if erased_at is None:
        return
    live = (
        await session.execute(
            select(func.count(col(Contact.id))).where(
                col(Contact.id).in_(customer.contact_ids), col(Contact.erased_at).is_(None)
            )
        )
    ).scalar()
    if live:
        return
    raise ConflictError(
        Reason(
            N_("contact %(id)s was already erased (anonymized) on %(date)s"),
            {"id": str(customer.contact.id), "date": erased_at.strftime("%Y-%m-%d %H:%M UTC")},
        ),
        type_slug="already-erased",
        erased_at=erased_at.isoformat(),
    )


async def _ids(session: AsyncSession, query: Any) -> list[int]:
    return [int(i) for i in (await session.execute(query)).scalars()]


async def do_erase_contact(
    writer: Writer,
    files: FileStorage,
    *,
    contact_id: int,
    mode: EraseMode,
    actor: str,
) -> Erasure:
    """Erase a customer (the contact and every contact merged into it): see the module's docstring."""
    released_keys: list[str] = []
    erased: list[Customer] = []

    async def work(tx: Transaction) -> Erasure:
        session = tx.session
        released_keys.clear()
        erased.clear()
        customer = await customer_group(session, contact_id, follow_merges=False)
        await refuse_if_erased(session, customer)
        erased.append(customer)
        # Lock the threads first, as merges and ingest do, so a message arriving meanwhile waits.
        if customer.thread_ids:
            await session.execute(
                select(col(Thread.id))
                .where(col(Thread.id).in_(customer.thread_ids))
                .order_by(col(Thread.id))
                .with_for_update()
            )
        message_ids = await _ids(
            session, select(col(Message.id)).where(col(Message.thread_id).in_(customer.thread_ids))
        )
        attachments = list(
            (
                await session.execute(
                    select(col(Attachment.id), col(Attachment.storage_key)).where(
                        col(Attachment.message_id).in_(message_ids)
                    )
                )
            ).all()
        )
        released_keys.extend(key for _, key in attachments if key)
        identity_ids = await _ids(
            session, select(col(Identity.id)).where(col(Identity.contact_id).in_(customer.contact_ids))
        )
        merge_ids = await _ids(
            session,
            select(col(Merge.id)).where(
                or_(
                    col(Merge.primary_contact_id).in_(customer.contact_ids),
                    col(Merge.other_contact_id).in_(customer.contact_ids),
                )
            ),
        )
        decision_ids = await _ids(
            session, select(col(BotDecision.id)).where(col(BotDecision.thread_id).in_(customer.thread_ids))
        )
        await _delete_in(session, Attachment, col(Attachment.id), [row_id for row_id, _ in attachments])
        await _delete_in(session, Merge, col(Merge.id), merge_ids)
        suggestions = await session.execute(
            delete(MergeSuggestion).where(
                or_(
                    col(MergeSuggestion.contact_id).in_(customer.contact_ids),
                    col(MergeSuggestion.other_contact_id).in_(customer.contact_ids),
                )
            )
        )
        # Messages keep no link to an identity that is going away.
        await session.execute(
            update(Message).where(col(Message.id).in_(message_ids)).values(identity_id=None)
        )
        await _delete_in(session, Identity, col(Identity.id), identity_ids)
        if mode == "delete":
            await _delete_in(session, BotDecision, col(BotDecision.id), decision_ids)
            await _delete_in(session, Message, col(Message.id), message_ids)
            await session.execute(
                delete(ThreadRead).where(col(ThreadRead.thread_id).in_(customer.thread_ids))
            )
            await _delete_in(session, Thread, col(Thread.id), customer.thread_ids)
            await session.execute(
                update(Contact).where(col(Contact.id).in_(customer.contact_ids)).values(merged_into_id=None)
            )
            await _delete_in(session, Contact, col(Contact.id), customer.contact_ids)
        else:
            await _anonymize(session, customer, message_ids, decision_ids)
        # The reports' rollup follows what is left of these threads (no rows once deleted; an
        # anonymized thread's status lines lost their meta, so its conversations are read again).
        await session.flush()
        await refresh_threads(session, customer.thread_ids)
        events = await _purge_events(session, customer)
        erasure = Erasure(
            contact_id=customer.contact.id or contact_id,
            mode=mode,
            contacts=len(customer.contact_ids),
            identities=len(identity_ids),
            threads=len(customer.thread_ids),
            messages=len(message_ids),
            attachments=len(attachments),
            bot_decisions=len(decision_ids),
            merges=len(merge_ids),
            merge_suggestions=int(getattr(suggestions, "rowcount", 0) or 0),
            events=events,
        )
        audit(
            tx,
            actor=actor,
            action="contact.erase",
            subject_type="contact",
            subject_id=erasure.contact_id,
            details=erasure.as_dict(),
        )
        thread_ids: list[int | None] = [*customer.thread_ids] or [None]
        for thread_id in thread_ids:
            tx.emit(
                ERASED_EVENT,
                {"contact_id": erasure.contact_id, "thread_id": thread_id, "mode": mode},
                thread_id=thread_id,
                contact_id=erasure.contact_id,
            )
        return erasure

    erasure = await writer.run(work)

    async def purge_late(tx: Transaction) -> None:
        # A writer that read the customer's rows before the erase committed (a delivery, a file
        # fetch) may have appended an event quoting them just after it: those go too.
        await _purge_events(tx.session, erased[0], keep=ERASED_EVENT)

    await writer.run(purge_late)
    deleted = await release_files(writer, files, released_keys)
    return Erasure(**{**erasure.as_dict(), "files_deleted": deleted})


async def _delete_in(session: AsyncSession, model: Any, column: Any, ids: list[int]) -> None:
    for start in range(0, len(ids), KEY_BATCH):
        await session.execute(delete(model).where(column.in_(ids[start : start + KEY_BATCH])))


async def _anonymize(
    session: AsyncSession, customer: Customer, message_ids: list[int], decision_ids: list[int]
) -> None:
    now = utcnow()
    await session.execute(
        update(Contact)
        .where(col(Contact.id).in_(customer.contact_ids))
        .values(name=None, email=None, phone=None, attributes={}, erased_at=now, updated_at=now)
    )
    for start in range(0, len(message_ids), KEY_BATCH):
        batch = message_ids[start : start + KEY_BATCH]
        await session.execute(
            update(Message)
            .where(col(Message.id).in_(batch))
            .values(text=ERASED_TEXT, html=None, subject=None, meta={}, delivery_error=None, updated_at=now)
        )
        # Agents' and the bot's names are the team's, not the customer's: kept for statistics.
        await session.execute(
            update(Message)
            .where(col(Message.id).in_(batch), col(Message.author_type).not_in(("agent", "bot")))
            .values(author_name=None)
        )
        # A reply still waiting to go must not reach the customer as "[erased]".
        await session.execute(
            update(Message)
            .where(col(Message.id).in_(batch), col(Message.delivery_status) == "queued")
            .values(delivery_status="failed", delivery_error="the customer was erased")
        )
    await session.execute(
        update(BotDecision).where(col(BotDecision.id).in_(decision_ids)).values(question="")
    )
    # Nothing readable is left to work on: the thread leaves the open queues.
    await session.execute(
        update(Thread)
        .where(col(Thread.id).in_(customer.thread_ids))
        .values(
            last_message_preview=ERASED_TEXT,
            status=case((col(Thread.status) == "merged", "merged"), else_="resolved"),
            snoozed_until=None,
            updated_at=now,
        )
    )


async def _purge_events(session: AsyncSession, customer: Customer, *, keep: str | None = None) -> int:
    """Delete every event about the customer (message frames carry their text and name)."""
    # Every event naming one of their contacts has one of their threads, or none (both indexed).
    about = or_(
        col(Event.thread_id).in_(customer.thread_ids),
        and_(col(Event.thread_id).is_(None), col(Event.contact_id).in_(customer.contact_ids)),
    )
    query = delete(Event).where(about)
    if keep is not None:
        query = query.where(col(Event.type) != keep)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


async def release_files(writer: Writer, files: FileStorage, keys: Iterable[str]) -> int:
    """Delete stored files no attachment row names any more; returns how many were deleted.

    Run after the commit that removed the rows. A file another message still uses stays.
    """
    wanted = sorted(set(keys))
    deleted = 0
    for start in range(0, len(wanted), KEY_BATCH):
        batch = wanted[start : start + KEY_BATCH]
        async with writer.sessionmaker() as session:
            used = set(
                (
                    await session.execute(
                        select(col(Attachment.storage_key)).where(col(Attachment.storage_key).in_(batch))
                    )
                ).scalars()
            )
        for key in batch:
            if key in used:
                continue
            try:
                path = files.path(key)
            except UnknownFileError:
                continue
            if path.is_file():
                try:
                    await files.delete(key)
                    deleted += 1
                except OSError as exc:  # the next retention prune tries again
                    log.warning("could not delete stored file %s: %s", key, exc)
    return deleted


# --- retention -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What a retention prune removed (or, dry, would remove)."""

    dry_run: bool
    retention_days: int
    events: int
    erased_attachments: int
    orphan_files: int
    files_deleted: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def do_prune(
    writer: Writer,
    files: FileStorage,
    *,
    retention_days: int,
    actor: str,
    dry_run: bool = False,
) -> PruneReport:
    """Apply the retention policy:

    - realtime events older than ``retention_days`` (always a prefix of the log: everything up to the
      newest old one, so a client resuming from before it is told to ``resync``), in batches;
    - attachments (rows and files) still left under erased contacts (a fetch that finished after the
      erase, a file whose deletion failed);
    - stored files no attachment names, untouched for ``ORPHAN_GRACE`` (an upload whose message was
      never stored), and temporary files left by interrupted writes.
    """
    if retention_days < 1:
        raise InvalidInputError("the event retention is at least 1 day", type_slug="invalid-retention")
    cutoff = utcnow() - timedelta(days=retention_days)
    async with writer.sessionmaker() as session:
        boundary = (
            await session.execute(select(func.max(Event.id)).where(col(Event.created_at) < cutoff))
        ).scalar()
        old_events = (
            int(
                (
                    await session.execute(select(func.count(col(Event.id))).where(col(Event.id) <= boundary))
                ).scalar()
                or 0
            )
            if boundary is not None
            else 0
        )
        erased = list(
            (
                await session.execute(
                    select(col(Attachment.id), col(Attachment.storage_key))
                    .join(Message, col(Message.id) == col(Attachment.message_id))
                    .join(Thread, col(Thread.id) == col(Message.thread_id))
                    .join(Contact, col(Contact.id) == col(Thread.contact_id))
                    .where(col(Contact.erased_at).is_not(None))
                )
            ).all()
        )
    orphans = await _orphan_files(writer, files)
    if dry_run:
        return PruneReport(True, retention_days, old_events, len(erased), len(orphans), 0)

    async def prune_batch(tx: Transaction) -> int:
        oldest = select(col(Event.id)).where(col(Event.id) <= boundary).order_by(col(Event.id))
        result = await tx.session.execute(delete(Event).where(col(Event.id).in_(oldest.limit(PRUNE_BATCH))))
        return int(getattr(result, "rowcount", 0) or 0)

    events = 0
    while boundary is not None:
        removed = await writer.run(prune_batch)
        events += removed
        if removed < PRUNE_BATCH:
            break

    async def drop_erased(tx: Transaction) -> None:
        await _delete_in(tx.session, Attachment, col(Attachment.id), [row_id for row_id, _ in erased])

    if erased:
        await writer.run(drop_erased)
    files_deleted = await release_files(writer, files, [key for _, key in erased if key])
    files_deleted += await _delete_orphans(writer, files, orphans)
    report = PruneReport(False, retention_days, events, len(erased), len(orphans), files_deleted)
    await do_record_audit(writer, actor=actor, action="retention.prune", details=report.as_dict())
    return report


def _stored_files(root: Path, older_than: float) -> tuple[list[str], list[Path]]:
    """Keys of stored files and temporary leftovers last modified before ``older_than`` (epoch s)."""
    keys: list[str] = []
    leftovers = [p for p in root.glob(".incoming-*") if p.is_file() and p.stat().st_mtime < older_than]
    base = root / "sha256"
    if base.is_dir():
        for path in base.glob("*/*"):
            if path.is_file() and path.stat().st_mtime < older_than:
                keys.append(f"sha256/{path.parent.name}/{path.name}")
    return keys, leftovers


async def _orphan_files(writer: Writer, files: FileStorage) -> list[str | Path]:
    """Stored files older than the grace period that no attachment row names (and temp leftovers)."""
    if not files.root.is_dir():
        return []
    older_than = time.time() - ORPHAN_GRACE.total_seconds()
    keys, leftovers = await asyncio.to_thread(_stored_files, files.root, older_than)
    orphans: list[str | Path] = list(leftovers)
    for start in range(0, len(keys), KEY_BATCH):
        batch = keys[start : start + KEY_BATCH]
        async with writer.sessionmaker() as session:
            used = set(
                (
                    await session.execute(
                        select(col(Attachment.storage_key)).where(col(Attachment.storage_key).in_(batch))
                    )
                ).scalars()
            )
        orphans.extend(key for key in batch if key not in used)
    return orphans


async def _delete_orphans(writer: Writer, files: FileStorage, orphans: list[str | Path]) -> int:
    leftovers = [item for item in orphans if isinstance(item, Path)]
    for path in leftovers:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    # Checked again just before deleting: an upload may have claimed the bytes since.
    return len(leftovers) + await release_files(writer, files, [k for k in orphans if isinstance(k, str)])
