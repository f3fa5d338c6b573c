"""The inbox list: every thread, newest activity first, filtered, paged by cursor."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.console import views
from app.domain.inbox import queries

INBOX_PAGE = 50


@get("/", include_in_schema=False, name="console:inbox")
async def inbox(
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    status: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The inbox list, newest activity first; ``?status=`` filters (one of STATUSES, or all)."""
    status_filter = status if status in views.STATUSES else None
    threads, next_cursor = await queries.inbox_page(
        db_session, agent, status=status_filter, cursor=cursor, limit=INBOX_PAGE
    )
    assignees = await views.agent_names(db_session, (t.assignee_id for t in threads))
    return Template(
        template_name="pages/inbox.html",
        context={
            "agent": agent,
            "threads": threads,
            "assignees": assignees,
            "status": status_filter,
            "statuses": views.STATUSES,
            "next_cursor": next_cursor,
        },
    )


TEMPLATE_FILTERS: dict[str, Any] = {}

route_handlers: list[ControllerRouterHandler] = [inbox]
