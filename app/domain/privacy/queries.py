"""Reads for privacy: the audit log, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import Agent, AuditEntry, Contact


class AuditOut(msgspec.Struct):
    """One audit row as the API, the CLI and the console show it (API.md "Privacy")."""

    id: int
    at: datetime
    actor: str
    actor_name: str | None
    action: str
    subject_type: str | None
    subject_id: str | None
    details: dict[str, Any]


async def audit_page(
    session: AsyncSession, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[AuditOut], int | None]:
    """Up to ``limit`` rows older than ``before_id``, newest first, and the cursor of the next page."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    agent_ids = {
        int(r.actor.split(":", 1)[1]) for r in rows if r.actor.startswith("agent:") and r.actor[6:].isdigit()
    }
    names: dict[int, str] = {}
    if agent_ids:
        found = await session.execute(
            select(col(Agent.id), col(Agent.name)).where(col(Agent.id).in_(agent_ids))
        )
        names = {int(agent_id): name for agent_id, name in found.all() if agent_id is not None}
    items = [
        AuditOut(
            id=row.id or 0,
            at=row.at,
            actor=row.actor,
            actor_name=names.get(int(row.actor[6:])) if row.actor[6:].isdigit() else None,
            action=row.action,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            details=row.details or {},
        )
        for row in rows
    ]
    return items, (items[-1].id if more and items else None)


async def audit_contacts(session: AsyncSession, items: list[AuditOut]) -> dict[str, str | None]:
    """The contacts these rows are about that still exist, by id, with how the console names them
    (their name, else an address; ``None`` once erased): the audit log links and names them."""
    ids = {
        int(subject)
        for i in items
        if i.subject_type == "contact" and (subject := i.subject_id or "").isdigit()
    }
    if not ids:
        return {}
    found = await session.execute(
        select(col(Contact.id), col(Contact.name), col(Contact.email), col(Contact.phone)).where(
            col(Contact.id).in_(ids)
        )
    )
    return {str(row.id): row.name or row.email or row.phone or None for row in found.all()}
