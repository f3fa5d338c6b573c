"""The inbox list: every thread, newest activity first, filtered, paged by cursor, kept live.

One handler answers three ways: the full page; with HTMX from the filter form, the results block
(list, next-page sentinel and the live socket's element, whose URL carries the same filters); with
HTMX from the sentinel at the list's end, just the next rows and the next sentinel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.console import views
from app.domain.inbox import queries
from app.domain.inbox.actions import CHANNEL_LABELS
from app.domain.inbox.reads import unread_thread_ids
from app.domain.realtime.controllers import latest_event_id
from app.i18n import N_

INBOX_PAGE = 50
MORE_ID = "thread-list-more"
"""The id of the sentinel at the list's end; a request targeting it wants only the next rows."""

CHANNELS = tuple(CHANNEL_LABELS)
ASSIGNEE_LABELS = {"all": N_("Everyone's"), "me": N_("Mine"), "unassigned": N_("Unassigned")}


@dataclass(frozen=True)
class InboxFilters:
    """What the agent narrowed the list to. Unknown values mean "no filter", never an error page."""

    status: str | None = None
    channel: str | None = None
    assignee: str = "all"
    q: str = ""

    @classmethod
    def parse(
        cls, *, status: str | None, channel: str | None, assignee: str | None, q: str | None
    ) -> InboxFilters:
        return cls(
            status=status if status in views.STATUSES else None,
            channel=channel if channel in CHANNELS else None,
            assignee=assignee if assignee in ASSIGNEE_LABELS else "all",
            q=(q or "").replace("\x00", "").strip()[:200],
        )

    def query_kwargs(self) -> dict[str, str | None]:
        """The filters as ``queries.inbox_page`` / ``queries.inbox_thread`` keywords."""
        return {
            "status": self.status,
            "channel": self.channel,
            "assignee": self.assignee,
            "q": self.q or None,
        }

    def query_string(self, **extra: str | int | None) -> str:
        """``status=…&q=…`` for links that keep the filters (next page, the live socket)."""
        pairs = {
            "status": self.status,
            "channel": self.channel,
            "assignee": None if self.assignee == "all" else self.assignee,
            "q": self.q or None,
            **extra,
        }
        return urlencode({k: v for k, v in pairs.items() if v not in (None, "")})


@get("/", include_in_schema=False, name="console:inbox")
async def inbox(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    status: FromQuery[str | None] = None,
    channel: FromQuery[str | None] = None,
    assignee: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The inbox list, newest activity first, filtered by status, channel, assignee and text."""
    filters = InboxFilters.parse(status=status, channel=channel, assignee=assignee, q=q)
    # Taken before the rows are read: any change that commits after is replayed to the live socket.
    last_event_id = await latest_event_id(db_session)
    threads, next_cursor = await queries.inbox_page(
        db_session, agent, **filters.query_kwargs(), cursor=cursor, limit=INBOX_PAGE
    )
    context: dict[str, Any] = {
        "agent": agent,
        "threads": threads,
        "assignees": await views.agent_names(db_session, (t.assignee_id for t in threads)),
        "unread": await unread_thread_ids(db_session, agent.id or 0, threads),
        "filters": filters,
        "statuses": views.STATUSES,
        "channels": CHANNELS,
        "assignee_labels": ASSIGNEE_LABELS,
        "next_cursor": next_cursor,
        "more_id": MORE_ID,
        "last_event_id": last_event_id,
        "paged": bool(cursor),
    }
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == MORE_ID:
            return HTMXTemplate(template_name="partials/inbox_rows.html", context=context)
        return HTMXTemplate(template_name="partials/inbox_results.html", context=context)
    return Template(template_name="pages/inbox.html", context=context)


route_handlers: list[ControllerRouterHandler] = [inbox]
