"""Merging two contacts into one customer, and undoing it exactly.

A merge moves the other contact's identities and timeline into the primary contact's thread
(messages interleave by time), keeps the other contact and thread as tombstones, and stores in the
``merges`` row everything undo needs: which rows moved and which fields the merge filled in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Contact, Identity, Merge, MergeSuggestion, Message, Thread, utcnow
from app.domain.inbox.schemas import to_builtins
from app.domain.inbox.threads import recompute_thread_summary, system_message, thread_of_contact
from app.domain.realtime.writer import Transaction
from app.domain.reports.actions import refresh_threads
from app.i18n import N_
from app.lib.errors import ConflictError

_THREAD_FIELDS = ("status", "assignee_id", "episode", "snoozed_until")
_CONTACT_FIELDS = ("name", "email", "phone")
# When both threads are live the busier state wins: an open conversation must not vanish into a
# resolved one.
_STATUS_RANK = {"open": 5, "bot": 4, "pending": 3, "snoozed": 2, "resolved": 1, "merged": 0}


async def lock_threads(session: AsyncSession, contact_ids: list[int]) -> None:
    """Lock the contacts' threads in id order, before anything else, so merges, undos and
    ingest serialise on them without deadlocking each other."""
    await session.execute(
        select(col(Thread.id))
        .where(col(Thread.contact_id).in_(sorted(set(contact_ids))))
        .order_by(col(Thread.id))
        .with_for_update()
    )


def _thread_state(thread: Thread) -> dict[str, Any]:
    state: dict[str, Any] = to_builtins({field: getattr(thread, field) for field in _THREAD_FIELDS})
    return state


def display_name(contact: Contact) -> str:
    return contact.name or contact.email or contact.phone or f"contact #{contact.id}"


async def merge_contacts(
    tx: Transaction, primary: Contact, other: Contact, *, reason: str, agent_id: int | None = None
) -> Merge:
    """Merge ``other`` into ``primary`` and record how to undo it."""
    session = tx.session
    if primary.id == other.id:
        raise ConflictError(N_("a contact cannot be merged with itself"), type_slug="merge-self")
    await lock_threads(session, [primary.id or 0, other.id or 0])
    await session.refresh(primary)
    await session.refresh(other)
    if primary.merged_into_id is not None or other.merged_into_id is not None:
        raise ConflictError(
            N_("one of these contacts is already merged into another"), type_slug="merge-merged"
        )
    primary_thread = await thread_of_contact(session, primary)
    other_thread = await thread_of_contact(session, other)

    moved_messages = list(
        (
            await session.execute(select(col(Message.id)).where(col(Message.thread_id) == other_thread.id))
        ).scalars()
    )
    moved_identities = list(
        (
            await session.execute(select(col(Identity.id)).where(col(Identity.contact_id) == other.id))
        ).scalars()
    )
    filled = {}
    for field in _CONTACT_FIELDS:
        if not getattr(primary, field) and getattr(other, field):
            filled[field] = getattr(other, field)
            setattr(primary, field, getattr(other, field))
    added_attributes = {
        k: v for k, v in (other.attributes or {}).items() if k not in (primary.attributes or {})
    }
    if added_attributes:
        primary.attributes = {**(primary.attributes or {}), **added_attributes}

    snapshot: dict[str, Any] = {
        "moved_message_ids": moved_messages,
        "moved_identity_ids": moved_identities,
        "filled_fields": filled,
        "added_attributes": sorted(added_attributes),
        "primary_thread_id": primary_thread.id,
        "other_thread_id": other_thread.id,
        "primary_thread": _thread_state(primary_thread),
        "other_thread": _thread_state(other_thread),
    }

    if moved_messages:
        await session.execute(
            update(Message)
            .where(col(Message.thread_id) == other_thread.id)
            .values(thread_id=primary_thread.id)
        )
    if moved_identities:
        await session.execute(
            update(Identity).where(col(Identity.contact_id) == other.id).values(contact_id=primary.id)
        )
    if _STATUS_RANK.get(other_thread.status, 0) > _STATUS_RANK.get(primary_thread.status, 0):
        primary_thread.status = other_thread.status
        primary_thread.snoozed_until = other_thread.snoozed_until
        if primary_thread.assignee_id is None:
            primary_thread.assignee_id = other_thread.assignee_id
    primary_thread.episode = max(primary_thread.episode, other_thread.episode)
    other.merged_into_id = primary.id
    other.updated_at = primary.updated_at = utcnow()
    other_thread.status = "merged"
    other_thread.updated_at = utcnow()

    accepted = (
        await session.execute(
            select(MergeSuggestion).where(
                col(MergeSuggestion.status) == "open",
                col(MergeSuggestion.contact_id).in_(sorted((primary.id or 0, other.id or 0))),
                col(MergeSuggestion.other_contact_id).in_(sorted((primary.id or 0, other.id or 0))),
            )
        )
    ).scalars()
    accepted_ids = []
    for suggestion in accepted:
        suggestion.status = "accepted"
        suggestion.decided_at = utcnow()
        accepted_ids.append(suggestion.id)
    snapshot["accepted_suggestion_ids"] = accepted_ids

    assert primary.id is not None and other.id is not None
    merge = Merge(
        primary_contact_id=primary.id,
        other_contact_id=other.id,
        reason=reason,
        merged_by_id=agent_id,
        snapshot=snapshot,
    )
    session.add(merge)
    await session.flush()
    line = system_message(
        primary_thread,
        f"{display_name(other)} was merged into {display_name(primary)} ({reason})",
        merge_id=merge.id,
        event="merge",
        other_name=display_name(other),
        primary_name=display_name(primary),
        reason=reason,
    )
    session.add(line)
    await session.flush()
    merge.snapshot = {**snapshot, "system_message_id": line.id}
    await recompute_thread_summary(session, primary_thread)

    tx.emit(
        "contact.merged",
        {
            "merge_id": merge.id,
            "primary_contact_id": primary.id,
            "other_contact_id": other.id,
            "reason": reason,
        },
        thread_id=primary_thread.id,
        contact_id=primary.id,
    )
    tx.emit("thread.updated", {"thread_id": other_thread.id, "status": "merged"}, thread_id=other_thread.id)
    tx.emit(
        "thread.updated",
        {"thread_id": primary_thread.id, "status": primary_thread.status, "reason": "merge"},
        thread_id=primary_thread.id,
    )
    # The reports' rollup keeps rows per thread: the moved messages now count for the primary.
    await session.flush()
    await refresh_threads(session, [primary_thread.id, other_thread.id])
    return merge


async def undo_merge(tx: Transaction, merge: Merge, *, agent_id: int | None = None) -> None:
    """Put both contacts, their identities and their timelines back as they were."""
    session = tx.session
    if merge.undone_at is not None:
        raise ConflictError(N_("this merge was already undone"), type_slug="merge-already-undone")
    await lock_threads(session, [merge.primary_contact_id, merge.other_contact_id])
    primary = await session.get(Contact, merge.primary_contact_id, populate_existing=True)
    other = await session.get(Contact, merge.other_contact_id, populate_existing=True)
    assert primary is not None and other is not None
    if primary.merged_into_id is not None:
        raise ConflictError(
            N_("the merged contact was merged again since; undo that merge first"),
            type_slug="merge-not-latest",
        )
    snap = merge.snapshot
    primary_thread = await session.get(Thread, snap["primary_thread_id"])
    other_thread = await session.get(Thread, snap["other_thread_id"])
    assert primary_thread is not None and other_thread is not None

    identity_ids = snap["moved_identity_ids"]
    # Messages that came in after the merge through the other contact's identities belong to it too.
    later = select(col(Message.id)).where(
        col(Message.thread_id) == primary_thread.id,
        col(Message.identity_id).in_(identity_ids),
    )
    message_ids = set(snap["moved_message_ids"]) | set((await session.execute(later)).scalars())
    if message_ids:
        await session.execute(
            update(Message).where(col(Message.id).in_(sorted(message_ids))).values(thread_id=other_thread.id)
        )
    if identity_ids:
        await session.execute(
            update(Identity).where(col(Identity.id).in_(identity_ids)).values(contact_id=other.id)
        )
    line_id = snap.get("system_message_id")
    if line_id is not None:
        line = await session.get(Message, line_id)
        if line is not None:
            await session.delete(line)

    for field, value in snap["filled_fields"].items():
        if getattr(primary, field) == value:
            setattr(primary, field, None)
    if snap["added_attributes"]:
        primary.attributes = {
            k: v for k, v in (primary.attributes or {}).items() if k not in set(snap["added_attributes"])
        }
    other.merged_into_id = None
    other.updated_at = primary.updated_at = utcnow()

    _restore_thread(primary_thread, snap["primary_thread"])
    _restore_thread(other_thread, snap["other_thread"])
    await session.flush()
    await recompute_thread_summary(session, primary_thread)
    await recompute_thread_summary(session, other_thread)
    await refresh_threads(session, [primary_thread.id, other_thread.id])

    for suggestion_id in snap.get("accepted_suggestion_ids", []):
        suggestion = await session.get(MergeSuggestion, suggestion_id)
        if suggestion is not None:
            suggestion.status = "open"
            suggestion.decided_at = None
    merge.undone_at = utcnow()
    merge.undone_by_id = agent_id

    tx.emit(
        "contact.updated",
        {"contact_id": other.id, "reason": "merge undone", "merge_id": merge.id},
        thread_id=other_thread.id,
        contact_id=other.id,
    )
    for thread in (primary_thread, other_thread):
        tx.emit(
            "thread.updated",
            {"thread_id": thread.id, "status": thread.status, "reason": "merge undone"},
            thread_id=thread.id,
        )


def _restore_thread(thread: Thread, state: dict[str, Any]) -> None:
    from datetime import datetime

    for field in _THREAD_FIELDS:
        value = state[field]
        if field == "snoozed_until" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        setattr(thread, field, value)
