"""Reading canned responses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import CannedResponse


async def list_canned_responses(session: AsyncSession) -> list[CannedResponse]:
    """Every canned response, by shortcut (a helpdesk has tens of them, not thousands)."""
    rows = await session.execute(select(CannedResponse).order_by(col(CannedResponse.shortcut)))
    return list(rows.scalars())
