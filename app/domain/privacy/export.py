"""A customer's data as a ZIP (GDPR article 15/20): ``contact.json`` and the files under ``attachments/``.

``contact.json`` holds the contact (and every contact merged into it), their identities, threads,
every message with its metadata, delivery status and attachments' descriptions, the bot's decisions
about them, and the merges and merge suggestions involving them. Each stored attachment's bytes are
in the ZIP at the ``file`` path its description names. Read only: the action that calls this
(``do_export_contact``) records the export in the audit log.
"""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from app.db.models import (
    Attachment,
    BotDecision,
    Contact,
    Identity,
    Merge,
    MergeSuggestion,
    Message,
    Thread,
    utcnow,
)
from app.domain.inbox.schemas import to_builtins
from app.domain.privacy.customer import customer_group
from app.lib.storage import FileStorage, UnknownFileError

FORMAT = "onethread-contact-export/1"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ExportSummary:
    contact_id: int
    messages: int
    attachments: int
    files: int


def _row(model: SQLModel, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    data: dict[str, Any] = to_builtins({k: v for k, v in model.model_dump().items() if k not in drop})
    return data


def attachment_path(attachment: Attachment) -> str:
    """Where an attachment's bytes sit in the ZIP: its id keeps two files of one name apart."""
    name = _UNSAFE_NAME.sub("_", attachment.filename).strip("._") or "file"
    return f"attachments/{attachment.id}-{name[:100]}"


async def contact_document(session: AsyncSession, contact_id: int) -> tuple[dict[str, Any], list[Attachment]]:
    """``contact.json``'s content and the attachments whose bytes go with it."""
    customer = await customer_group(session, contact_id, follow_merges=True)
    ids, threads = customer.contact_ids, customer.thread_ids

    async def rows(query: Any) -> list[Any]:
        return list((await session.execute(query)).scalars())

    contacts = await rows(select(Contact).where(col(Contact.id).in_(ids)).order_by(col(Contact.id)))
    identities = await rows(
        select(Identity).where(col(Identity.contact_id).in_(ids)).order_by(col(Identity.id))
    )
    thread_rows = await rows(select(Thread).where(col(Thread.id).in_(threads)).order_by(col(Thread.id)))
    messages = await rows(
        select(Message)
        .where(col(Message.thread_id).in_(threads))
        .order_by(col(Message.created_at), col(Message.id))
    )
    attachments = await rows(
        select(Attachment)
        .where(col(Attachment.message_id).in_([m.id for m in messages]))
        .order_by(col(Attachment.id))
    )
    decisions = await rows(
        select(BotDecision).where(col(BotDecision.thread_id).in_(threads)).order_by(col(BotDecision.id))
    )
    merges = await rows(
        select(Merge)
        .where(or_(col(Merge.primary_contact_id).in_(ids), col(Merge.other_contact_id).in_(ids)))
        .order_by(col(Merge.id))
    )
    suggestions = await rows(
        select(MergeSuggestion)
        .where(or_(col(MergeSuggestion.contact_id).in_(ids), col(MergeSuggestion.other_contact_id).in_(ids)))
        .order_by(col(MergeSuggestion.id))
    )
    by_message: dict[int, list[dict[str, Any]]] = {}
    for attachment in attachments:
        described = _row(attachment, drop=("source", "storage_key"))
        described["file"] = attachment_path(attachment) if attachment.storage_key else None
        by_message.setdefault(attachment.message_id, []).append(described)
    document = {
        "format": FORMAT,
        "exported_at": to_builtins(utcnow()),
        "contact": _row(customer.contact),
        "merged_contacts": [_row(c) for c in contacts if c.id != customer.contact.id],
        "identities": [_row(i) for i in identities],
        "threads": [_row(t) for t in thread_rows],
        "messages": [{**_row(m), "attachments": by_message.get(m.id or 0, [])} for m in messages],
        "bot_decisions": [_row(d) for d in decisions],
        # The snapshot is undo's bookkeeping (row ids); what the merge was is in the other fields.
        "merges": [_row(m, drop=("snapshot",)) for m in merges],
        "merge_suggestions": [_row(s) for s in suggestions],
    }
    return document, [a for a in attachments if a.storage_key]


async def write_export(
    session: AsyncSession, files: FileStorage, contact_id: int, out: IO[bytes]
) -> ExportSummary:
    """Write the customer's ZIP to ``out`` (a file opened for binary writing)."""
    document, stored = await contact_document(session, contact_id)
    present = 0

    def build() -> int:
        written = 0
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("contact.json", json.dumps(document, ensure_ascii=False, indent=2))
            for attachment in stored:
                try:
                    path = files.path(attachment.storage_key or "")
                except UnknownFileError:
                    continue
                if path.is_file():
                    archive.write(path, attachment_path(attachment))
                    written += 1
        return written

    present = await asyncio.to_thread(build)
    return ExportSummary(
        contact_id=int(document["contact"]["id"]),
        messages=len(document["messages"]),
        attachments=sum(len(m["attachments"]) for m in document["messages"]),
        files=present,
    )
