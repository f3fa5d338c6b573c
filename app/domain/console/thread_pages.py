"""One customer's thread: the unified timeline, older history by cursor, and the composer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.channels.jobs import Jobs
from app.domain.console import views
from app.domain.console.forms import FORM
from app.domain.inbox import actions, queries
from app.domain.inbox.reads import do_mark_read
from app.domain.inbox.schemas import message_out
from app.domain.realtime.writer import Writer
from app.lib.errors import DomainError
from app.lib.fields import text
from integrations.registry import AdapterRegistry

TIMELINE_PAGE = 50


@dataclass
class ComposeForm:
    """The composer. Empty text is let through so the action's own reason is shown on the form."""

    text: Annotated[str, text(max_length=65_536)] = ""
    mode: Literal["reply", "note"] = "reply"
    channel: Annotated[str, text(max_length=40)] = ""


async def _thread_context(
    session: AsyncSession,
    agent: Agent,
    thread_id: int,
    *,
    before: int | None = None,
    composer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    thread, contact, identities = await queries.get_thread(session, thread_id)
    messages, older = await queries.timeline_page(session, thread_id, before=before, limit=TIMELINE_PAGE)
    channels = sorted({i.channel for i in identities})
    assignees = await views.agent_names(session, [thread.assignee_id])
    return {
        "agent": agent,
        "thread": thread,
        "contact": contact,
        "identities": identities,
        "messages": messages,
        "older_cursor": older,
        "assignee": assignees.get(thread.assignee_id or 0),
        "composer": _composer(thread_id, channels, thread.last_inbound_channel, **(composer or {})),
    }


def _composer(
    thread_id: int,
    channels: list[str],
    default_channel: str | None,
    *,
    text: str = "",
    mode: str = "reply",
    channel: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What the composer partial needs; also rebuilt after a send, to reset the form."""
    return {
        "thread_id": thread_id,
        "channels": channels,
        "channel": channel or default_channel or (channels[0] if channels else ""),
        "text": text,
        "mode": mode,
        "error": error,
    }


@get("/threads/{thread_id:int}", include_in_schema=False, name="console:thread")
async def thread_page(
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    before: FromQuery[int | None] = None,
) -> Template:
    """One customer's unified timeline (newest page; ``?before=`` for older history) and the composer."""
    context = await _thread_context(db_session, agent, thread_id, before=before)
    await do_mark_read(writer, agent_id=agent.id or 0, thread_id=thread_id)
    return Template(template_name="pages/thread.html", context=context)


@post("/threads/{thread_id:int}/compose", include_in_schema=False, status_code=200)
async def compose(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    registry: NamedDependency[AdapterRegistry],
    jobs: NamedDependency[Jobs],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    data: Annotated[ComposeForm, FORM],
) -> Response[Any]:
    """Send a reply (on the chosen channel) or add an internal note.

    A channel that cannot deliver is refused by ``do_send_reply`` with its reason (409); the form
    comes back with that reason and the agent's text kept, so nothing typed is lost.
    """
    try:
        if data.mode == "note":
            message = await actions.do_add_note(writer, agent=agent, thread_id=thread_id, text=data.text)
            created = 201
        else:
            message = await actions.do_send_reply(
                writer,
                registry,
                jobs.enqueue_delivery,
                agent=agent,
                thread_id=thread_id,
                text=data.text,
                channel=data.channel or None,
            )
            created = 202
    except DomainError as exc:
        composer = {
            "text": data.text,
            "mode": data.mode,
            "channel": data.channel or None,
            "error": exc.detail,
        }
        context = await _thread_context(db_session, agent, thread_id, composer=composer)
        if request.htmx:
            return HTMXTemplate(
                template_name="partials/composer.html",
                context=context,
                status_code=exc.status_code,
                re_target="#composer",
                re_swap="outerHTML",
            )
        return Template(template_name="pages/thread.html", context=context, status_code=exc.status_code)
    if not request.htmx:
        return Redirect(f"/threads/{thread_id}#m-{message.id}", status_code=303)
    thread, _, identities = await queries.get_thread(db_session, thread_id)
    channels = sorted({i.channel for i in identities})
    keep_channel = data.channel if data.mode == "reply" else None
    return HTMXTemplate(
        template_name="partials/compose_result.html",
        context={
            "message": message_out(message),
            "composer": _composer(
                thread_id, channels, thread.last_inbound_channel, mode=data.mode, channel=keep_channel
            ),
        },
        status_code=created,
    )


TEMPLATE_FILTERS: dict[str, Any] = {}

route_handlers: list[ControllerRouterHandler] = [thread_page, compose]
