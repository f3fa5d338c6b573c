"""The agent console: server-rendered pages (Jinja2 + HTMX) over the same queries and actions as the API.

Routes here authenticate with the console session (``SessionAuth``, wired in ``app.core``), never
with bearer tokens, and every unsafe request carries a CSRF token (a form field, or the
``X-CSRFToken`` header HTMX adds from ``hx-headers`` on ``<body>``). Forms work without JavaScript
(post, then a 303 redirect); with HTMX the same handlers answer with the partial to swap in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.accounts.auth import check_credentials
from app.domain.channels.jobs import Jobs
from app.domain.console import views
from app.domain.console.sessions import AGENT_KEY, renew_session_id
from app.domain.inbox import actions, queries
from app.domain.inbox.schemas import message_out
from app.domain.realtime.writer import Writer
from app.lib.errors import AuthenticationError, DomainError
from app.lib.fields import text
from integrations.registry import AdapterRegistry

# Routes that must answer without a console session (the login form itself).
PUBLIC = {"exclude_from_auth": True}
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
TIMELINE_PAGE = 50
INBOX_PAGE = 50


@dataclass
class LoginForm:
    """The login form; the same limits as the token endpoint's body (NUL refused everywhere)."""

    email: Annotated[str, text(max_length=320)] = ""
    password: Annotated[str, text(max_length=1024)] = ""
    next: Annotated[str, text(max_length=2048)] = "/"


@dataclass
class ComposeForm:
    """The composer. Empty text is let through so the action's own reason is shown on the form."""

    text: Annotated[str, text(max_length=65_536)] = ""
    mode: Literal["reply", "note"] = "reply"
    channel: Annotated[str, text(max_length=40)] = ""


def safe_next(target: str | None) -> str:
    """Only same-site paths after login: ``//evil.example`` or ``https://…`` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(
    *, error: str | None = None, email: str = "", next_: str = "/", status: int = 200
) -> Template:
    return Template(
        template_name="pages/login.html",
        context={"error": error, "email": email, "next": safe_next(next_)},
        status_code=status,
    )


@get("/login", opt=PUBLIC, include_in_schema=False, name="console:login")
async def login_form(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Response[Any]:
    """The login form; an agent who is already logged in goes straight on."""
    if request.session.get(AGENT_KEY):
        return Redirect(safe_next(next), status_code=303)
    return _login_page(next_=next or "/")


@post("/login", opt=PUBLIC, include_in_schema=False, status_code=303)
async def login_submit(
    request: Request[Any, Any, Any],
    writer: NamedDependency[Writer],
    data: Annotated[LoginForm, FORM],
) -> Response[Any]:
    """Check the credentials, then start a session under a new id (no fixation)."""
    try:
        agent = await check_credentials(writer, email=data.email, password=data.password)
    except AuthenticationError:
        return _login_page(error="Wrong email or password.", email=data.email, next_=data.next, status=400)
    request.set_session({AGENT_KEY: agent.id})
    renew_session_id(request)
    return Redirect(safe_next(data.next), status_code=303)


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    """End the session: the store forgets it and the browser's cookie is cleared."""
    request.clear_session()
    return Redirect("/login", status_code=303)


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
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    before: FromQuery[int | None] = None,
) -> Template:
    """One customer's unified timeline (newest page; ``?before=`` for older history) and the composer."""
    context = await _thread_context(db_session, agent, thread_id, before=before)
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


def login_required(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    """No console session: pages redirect to the login form; HTMX requests get ``HX-Redirect``."""
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        return Response(content="", status_code=401, headers={"HX-Redirect": location})
    return Redirect(location, status_code=303)


def too_many_attempts(request: Request[Any, Any, Any], _: TooManyRequestsException) -> Response[Any]:
    """The login rate limit, said on the form rather than as a bare 429 body."""
    return _login_page(error="Too many login attempts. Wait a minute and try again.", status=429)


exception_handlers: dict[Any, Any] = {
    NotAuthorizedException: login_required,
    TooManyRequestsException: too_many_attempts,
}

route_handlers: list[ControllerRouterHandler] = [login_form, logout, inbox, thread_page, compose]
"""Everything but ``login_submit``, which core mounts behind the login rate limit."""
