"""One customer's thread: the unified timeline, older history by cursor, the composer, phone notes,
status and assignment.

Every form here works without JavaScript (post, then a 303 back to the thread) and with HTMX (the
new timeline entries are appended to ``#timeline``, the form or header comes back out of band). A
mistake the agent can fix comes back on its form with the reason and what they typed (409/422).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, utcnow
from app.domain.canned.queries import list_canned_responses
from app.domain.console import views
from app.domain.console.forms import FORM
from app.domain.inbox import actions, queries
from app.domain.inbox.reads import do_mark_read, is_unread
from app.domain.inbox.routing import ReplyOption, reply_options
from app.domain.inbox.schemas import MessageOut
from app.domain.inbox.timeline import (
    channel_switches,
    inbound_channel_before,
    newest_message_id,
    timeline_message,
)
from app.domain.inbox.uploads import invalid_body, read_uploads
from app.domain.realtime.writer import Writer
from app.domain.system.services import Services
from app.i18n import N_, zone
from app.lib.errors import DomainError, InvalidInputError
from app.lib.fields import text
from app.settings import Settings
from integrations.identifiers import InvalidIdentifierError, normalize_phone
from integrations.registry import AdapterRegistry

TIMELINE_PAGE = 50
AGENT_STATUSES = ("open", "pending", "snoozed", "resolved")
"""What an agent may set (``bot`` is the bot's own state; a thread enters it, never goes back)."""

SNOOZE_NEEDS_TIME = N_("Pick the date and time to snooze until.")
SNOOZE_IN_THE_PAST = N_("Pick a time in the future to snooze until.")
SNOOZE_BAD_TIME = N_("That is not a date and time.")
PHONE_BAD_DURATION = N_("Minutes and seconds are whole numbers (seconds below 60).")
PHONE_TOO_LONG = N_("A call lasts at most 24 hours.")
SNOOZE_TOO_FAR = N_("Snooze at most 5 years ahead.")
SNOOZE_LIMIT = timedelta(days=5 * 365 + 2)  # five years, leap days included
_WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")
UNKNOWN_AGENT = N_("Pick an agent from the list.")
NOTE_WITH_FILES = N_("An internal note cannot carry files; send them with a reply.")


# --- forms ----------------------------------------------------------------------------------------
@dataclass
class ComposeForm:
    """The composer. Empty text is let through so the action's own reason is shown on the form.
    Its files (``files``, a multipart form) are read apart: see ``compose``."""

    text: Annotated[str, text(max_length=65_536)] = ""
    mode: Literal["reply", "note"] = "reply"
    channel: Annotated[str, text(max_length=40)] = ""


async def _compose_form(request: HTMXRequest) -> tuple[ComposeForm, list[UploadFile]]:
    """The composer's fields and files, from a multipart form (what the page sends, so files can
    come) or a URL-encoded one (scripts, older pages). A field the form cannot hold is refused like
    any console form (``problems.refused_form``)."""
    form = await request.form()
    fields = {name: form.get(name) for name in ("text", "mode", "channel")}
    try:
        data = msgspec.convert(
            {name: value for name, value in fields.items() if isinstance(value, str)}, ComposeForm
        )
    except msgspec.MsgspecError as error:
        raise invalid_body(error) from None
    return data, [item for item in form.getall("files", []) if isinstance(item, UploadFile)]


@dataclass
class PhoneNoteForm:
    """A call with the customer. Minutes and seconds are text so an empty box is "unknown"."""

    phone: Annotated[str, text(max_length=40)] = ""
    direction: Literal["inbound", "outbound"] = "inbound"
    minutes: Annotated[str, text(max_length=6)] = ""
    seconds: Annotated[str, text(max_length=6)] = ""
    text: Annotated[str, text(max_length=65_536)] = ""


@dataclass
class StatusForm:
    """A status button; ``snoozed_until`` is a ``datetime-local`` value in the agent's time zone."""

    status: Literal["open", "pending", "snoozed", "resolved"] = "open"
    snoozed_until: Annotated[str, text(max_length=40)] = ""


@dataclass
class AssignForm:
    """``me``, ``none`` (unassign) or an agent id."""

    assignee: Annotated[str, text(max_length=20)] = ""


# --- what the templates get -----------------------------------------------------------------------
def _composer(
    thread_id: int,
    options: list[ReplyOption],
    last_inbound: str | None,
    *,
    text: str = "",
    mode: str = "reply",
    channel: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What the composer partial needs; rebuilt after a send to reset the form.

    The picker defaults to the channel the customer last wrote on; when that one cannot deliver
    now, to the first one that can, and the composer says so.
    """
    available = [o.channel for o in options if o.available]
    default = last_inbound if last_inbound in available else (available[0] if available else last_inbound)
    return {
        "thread_id": thread_id,
        "options": options,
        "channel": channel or default or "",
        "last_inbound": last_inbound,
        "fell_back": bool(last_inbound and default != last_inbound),
        "text": text,
        "mode": mode,
        "error": error,
    }


def _phone_form(
    thread_id: int, default_phone: str | None, form: PhoneNoteForm | None = None, error: str | None = None
) -> dict[str, Any]:
    return {
        "thread_id": thread_id,
        "phone": form.phone if form else (default_phone or ""),
        "direction": form.direction if form else "inbound",
        "minutes": form.minutes if form else "",
        "seconds": form.seconds if form else "",
        "text": form.text if form else "",
        "error": error,
        "open": error is not None,
    }


async def _timeline(
    session: AsyncSession, thread_id: int, before: int | None
) -> tuple[list[MessageOut], str | None, dict[int, str]]:
    # Every caller has read the thread (and answered 404 for a missing one) just before.
    messages, older = await queries.timeline_page(
        session, thread_id, before=before, limit=TIMELINE_PAGE, thread_known=True
    )
    previous = await inbound_channel_before(session, thread_id, messages[0]) if messages else None
    return messages, older, channel_switches(messages, previous)


async def head_context(session: AsyncSession, agent: Agent, thread_id: int) -> dict[str, Any]:
    """What ``partials/thread_head.html`` shows (also rendered live when another agent changes it)."""
    thread, contact, identities = await queries.get_thread(session, thread_id)
    agents = await views.active_agents(session)
    return {
        "agent": agent,
        "thread": thread,
        "contact": contact,
        "identities": identities,
        "agents": agents,
        "assignee": dict(agents).get(thread.assignee_id or 0)
        or ((await views.agent_names(session, [thread.assignee_id])).get(thread.assignee_id or 0)),
        "statuses": AGENT_STATUSES,
        "zone_name": zone(agent.timezone).key,
        "snooze_presets": snooze_presets(agent),
        "head_error": None,
    }


async def _thread_context(
    session: AsyncSession,
    registry: AdapterRegistry,
    agent: Agent,
    thread_id: int,
    *,
    before: int | None = None,
    show_images_for: int | None = None,
    composer: dict[str, Any] | None = None,
    phone: tuple[PhoneNoteForm, str] | None = None,
    head_error: str | None = None,
) -> dict[str, Any]:
    context = await head_context(session, agent, thread_id)
    thread, contact, identities = context["thread"], context["contact"], context["identities"]
    messages, older, switches = await _timeline(session, thread_id, before)
    options = await reply_options(session, registry, thread, contact)
    canned = await list_canned_responses(session)
    default_phone = contact.phone or next((i.external_id for i in identities if i.channel == "phone"), None)
    context.update(
        {
            "messages": messages,
            "switches": switches,
            "older_cursor": older,
            "before": before,
            "show_images_for": show_images_for,
            "composer": _composer(thread_id, options, thread.last_inbound_channel, **(composer or {})),
            "phone_form": _phone_form(thread_id, default_phone, *(phone or ())),
            "canned": [{"shortcut": c.shortcut, "title": c.title, "text": c.text} for c in canned],
            "head_error": head_error,
        }
    )
    return context


def allow_https_images(policy: str) -> str:
    """``policy`` with ``https:`` added to ``img-src``.

    Email images load only after the agent asks for them, by an HTMX swap into the page already
    shown, so the page's own policy must admit them. Only the thread page widens it, and only for
    images: the sanitizer (not the CSP) decides which images carry a source; scripts, styles,
    frames and ``http:`` stay refused.
    """
    directives = []
    for directive in (part.strip() for part in policy.split(";")):
        if not directive:
            continue
        words = directive.split()
        if words[0] == "img-src" and "https:" not in words:
            directive = f"{directive} https:"
        directives.append(directive)
    return "; ".join(directives)


def _page(request: HTMXRequest, context: dict[str, Any], status_code: int = 200) -> Template:
    headers = {
        header.name: allow_https_images(header.value)
        for header in request.route_handler.resolve_response_headers()
        if header.name.lower() == "content-security-policy" and header.value
    }
    return Template(
        template_name="pages/thread.html", context=context, status_code=status_code, headers=headers
    )


# --- the page ---------------------------------------------------------------------------------------
@get("/threads/{thread_id:int}", include_in_schema=False, name="console:thread")
async def thread_page(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    registry: NamedDependency[AdapterRegistry],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    before: FromQuery[int | None] = None,
    images: FromQuery[int | None] = None,
) -> Response[Any]:
    """The newest page of the customer's timeline and the composer (``?before=`` for older history).

    HTMX asks for ``?before=`` when the top of the timeline scrolls into view and gets only the
    older entries (and the next sentinel) to put in place of the sentinel it came from.
    """
    if request.htmx and before is not None:
        thread, _, _ = await queries.get_thread(db_session, thread_id)
        messages, older, switches = await _timeline(db_session, thread_id, before)
        return HTMXTemplate(
            template_name="partials/timeline_page.html",
            context={
                "agent": agent,
                "thread": thread,
                "messages": messages,
                "switches": switches,
                "older_cursor": older,
            },
        )
    context = await _thread_context(
        db_session, registry, agent, thread_id, before=before, show_images_for=images
    )
    thread = context["thread"]
    # Read up to the newest customer message this page shows (read before its timeline, so that
    # message is on it), not up to now: one committed since stays unread. An older page
    # (?before=) does not show the newest, so it marks nothing.
    shown = thread.last_inbound_at
    if before is None and await is_unread(db_session, agent.id or 0, thread_id, shown):
        await do_mark_read(writer, agent_id=agent.id or 0, thread_id=thread_id, read_at=shown)
    return _page(request, context)


@get("/threads/{thread_id:int}/messages/{message_id:int}", include_in_schema=False)
async def timeline_entry(
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    message_id: FromPath[int],
    images: FromQuery[bool] = False,
) -> Template:
    """One timeline entry again: "Show images" swaps in the email with its remote images."""
    message = await timeline_message(db_session, thread_id, message_id)
    return Template(
        template_name="partials/message.html",
        context={"agent": agent, "message": message, "show_images_for": message_id if images else None},
    )


# --- what comes back after a change ---------------------------------------------------------------
async def _after_change(
    request: HTMXRequest,
    session: AsyncSession,
    registry: AdapterRegistry,
    agent: Agent,
    thread_id: int,
    newest_before: int | None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    reset: dict[str, Any] | None = None,
) -> Response[Any]:
    """Without JS: back to the thread (at ``fragment``). With HTMX: the new timeline entries, to
    append to ``#timeline``, and the header, composer and phone form fresh, out of band."""
    if not request.htmx:
        return Redirect(f"/threads/{thread_id}{fragment or ''}", status_code=303)
    # The action committed in its own session; forget what this one may have read before it.
    session.expire_all()
    context = await head_context(session, agent, thread_id)
    if newest_before is None:
        messages, _, switches = await _timeline(session, thread_id, None)
    else:
        messages, _ = await queries.timeline_page(
            session, thread_id, after=newest_before, limit=TIMELINE_PAGE
        )
        previous = await inbound_channel_before(session, thread_id, messages[0]) if messages else None
        switches = channel_switches(messages, previous)
    thread, contact = context["thread"], context["contact"]
    reset = reset or {}
    context.update({"messages": messages, "switches": switches, "oob_head": True})
    if "composer" in reset:
        options = await reply_options(session, registry, thread, contact)
        context["composer"] = _composer(thread_id, options, thread.last_inbound_channel, **reset["composer"])
    if "phone" in reset:
        context["phone_form"] = _phone_form(thread_id, reset["phone"])
    return HTMXTemplate(template_name="partials/thread_update.html", context=context, status_code=status_code)


async def _refused(
    request: HTMXRequest,
    session: AsyncSession,
    registry: AdapterRegistry,
    agent: Agent,
    thread_id: int,
    *,
    status_code: int,
    partial: str,
    target: str,
    **form_state: Any,
) -> Response[Any]:
    """The form again with the reason and what the agent typed (HTMX: only that form is swapped)."""
    session.expire_all()
    context = await _thread_context(session, registry, agent, thread_id, **form_state)
    if request.htmx:
        return HTMXTemplate(
            template_name=partial,
            context=context,
            status_code=status_code,
            re_target=target,
            re_swap="outerHTML",
        )
    return _page(request, context, status_code=status_code)


# --- the composer -----------------------------------------------------------------------------------
@post("/threads/{thread_id:int}/compose", include_in_schema=False, status_code=200)
async def compose(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    services: NamedDependency[Services],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
) -> Response[Any]:
    """Send a reply (on the chosen channel, with the files attached) or add an internal note.

    A channel that cannot deliver (or cannot carry files) is refused by ``do_send_reply`` with its
    reason (409), a file over the size cap with its name (422); the form comes back with that
    reason and the agent's text kept, so nothing typed is lost (a browser cannot be given files
    back: the agent picks them again). Mounted by ``app.core`` under a body limit with room for
    files (``upload_handlers``).
    """
    writer, registry = services.writer, services.registry
    data, uploads = await _compose_form(request)
    newest = await newest_message_id(db_session, thread_id)
    try:
        if data.mode == "note":
            if any(upload.filename for upload in uploads):
                raise InvalidInputError(NOTE_WITH_FILES, type_slug="note-with-files")
            message = await actions.do_add_note(writer, agent=agent, thread_id=thread_id, text=data.text)
            created = 201
        else:
            limit = services.settings.max_attachment_bytes
            message = await actions.do_send_reply(
                writer,
                registry,
                services.jobs.enqueue_delivery,
                agent=agent,
                thread_id=thread_id,
                text=data.text,
                channel=data.channel or None,
                attachments=await read_uploads(uploads, limit=limit),
                files=services.files,
            )
            created = 202
    except DomainError as exc:
        composer = {
            "text": data.text,
            "mode": data.mode,
            "channel": data.channel or None,
            "error": exc.reason,
        }
        return await _refused(
            request,
            db_session,
            registry,
            agent,
            thread_id,
            status_code=exc.status_code,
            partial="partials/composer.html",
            target="#composer",
            composer=composer,
        )
    keep = {"mode": data.mode, "channel": data.channel if data.mode == "reply" else None}
    return await _after_change(
        request,
        db_session,
        registry,
        agent,
        thread_id,
        newest,
        fragment=f"#m-{message.id}",
        status_code=created,
        reset={"composer": keep},
    )


# --- phone notes ------------------------------------------------------------------------------------
def _duration(form: PhoneNoteForm) -> int | None:
    """Seconds from the two boxes; ``None`` when both are empty (the length was not noted)."""
    raw_minutes, raw_seconds = form.minutes.strip(), form.seconds.strip()
    if not raw_minutes and not raw_seconds:
        return None
    # ASCII digits only: int() would also read "1_0" as 10 and "٣" as 3, which no agent meant.
    if any(raw and not _WHOLE_NUMBER.fullmatch(raw) for raw in (raw_minutes, raw_seconds)):
        raise InvalidInputError(PHONE_BAD_DURATION)
    minutes, seconds = int(raw_minutes or 0), int(raw_seconds or 0)
    if not 0 <= seconds < 60:
        raise InvalidInputError(PHONE_BAD_DURATION)
    total = minutes * 60 + seconds
    if total > 86_400:
        raise InvalidInputError(PHONE_TOO_LONG)
    return total


@post("/threads/{thread_id:int}/phone-notes", include_in_schema=False, status_code=201)
async def log_phone_note(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    registry: NamedDependency[AdapterRegistry],
    settings: NamedDependency[Settings],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    data: Annotated[PhoneNoteForm, FORM],
) -> Response[Any]:
    """Log a call with this customer (``do_log_phone_note``, the API's phone-note action)."""
    thread, contact, _ = await queries.get_thread(db_session, thread_id)
    newest = await newest_message_id(db_session, thread_id)
    try:
        duration = _duration(data)
        try:
            phone = normalize_phone(data.phone, settings.default_phone_region)
        except InvalidIdentifierError as exc:
            raise InvalidInputError(str(exc), type_slug="invalid-phone") from None
        message = await actions.do_log_phone_note(
            writer,
            agent=agent,
            phone=phone,
            text=data.text,
            direction=data.direction,
            duration_seconds=duration,
            contact_id=contact.id,
        )
    except DomainError as exc:
        return await _refused(
            request,
            db_session,
            registry,
            agent,
            thread_id,
            status_code=exc.status_code,
            partial="partials/phone_note_form.html",
            target="#phone-note",
            phone=(data, exc.reason),
        )
    # A phone number another verified customer holds links the two (a merge): follow the call,
    # with or without JavaScript, to the thread that stands for the customer now.
    target = message.thread_id if message.thread_id != thread.id else thread_id
    if target != thread_id:
        location = f"/threads/{target}#m-{message.id}"
        if request.htmx:
            return Response(content="", status_code=200, headers={"HX-Redirect": location})
        return Redirect(location, status_code=303)
    return await _after_change(
        request,
        db_session,
        registry,
        agent,
        thread_id,
        newest,
        fragment=f"#m-{message.id}",
        status_code=201,
        reset={"phone": contact.phone or data.phone},
    )


# --- status and assignment --------------------------------------------------------------------------
SNOOZE_PRESETS = (N_("In 3 hours"), N_("Tomorrow 9:00"), N_("Monday 9:00"))


def snooze_presets(agent: Agent, now: datetime | None = None) -> list[tuple[str, str]]:
    """The usual snoozes as ``(label, datetime-local value)`` in the agent's time zone: three hours
    from now, tomorrow at nine, next Monday at nine (a week on when it is Monday already)."""
    local = (now or utcnow()).astimezone(zone(agent.timezone)).replace(second=0, microsecond=0)
    later = local + timedelta(hours=3)
    tomorrow = (local + timedelta(days=1)).replace(hour=9, minute=0)
    monday = (local + timedelta(days=7 - local.weekday())).replace(hour=9, minute=0)
    return [
        (label, when.strftime("%Y-%m-%dT%H:%M"))
        for label, when in zip(SNOOZE_PRESETS, (later, tomorrow, monday), strict=True)
    ]


def snooze_time(value: str, agent: Agent, now: datetime | None = None) -> datetime:
    """A ``datetime-local`` value read in the agent's time zone, as UTC; it must lie ahead, and
    at most :data:`SNOOZE_LIMIT` (a snooze meant for year 9999 is a typo, not a plan)."""
    if not value.strip():
        raise InvalidInputError(SNOOZE_NEEDS_TIME, type_slug="invalid-status")
    try:
        local = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(SNOOZE_BAD_TIME, type_slug="invalid-status") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone(agent.timezone))
    until = local.astimezone(UTC)
    now = now or utcnow()
    if until <= now:
        raise InvalidInputError(SNOOZE_IN_THE_PAST, type_slug="invalid-status")
    if until > now + SNOOZE_LIMIT:
        raise InvalidInputError(SNOOZE_TOO_FAR, type_slug="invalid-status")
    return until


async def _head_refused(
    request: HTMXRequest,
    session: AsyncSession,
    registry: AdapterRegistry,
    agent: Agent,
    thread_id: int,
    exc: DomainError,
) -> Response[Any]:
    """A refused status or assignment change: the thread's head again, with the reason in it."""
    return await _refused(
        request,
        session,
        registry,
        agent,
        thread_id,
        status_code=exc.status_code,
        partial="partials/thread_head.html",
        target="#thread-head",
        head_error=exc.reason,
    )


@post("/threads/{thread_id:int}/status", include_in_schema=False, status_code=200)
async def change_status(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    registry: NamedDependency[AdapterRegistry],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    data: Annotated[StatusForm, FORM],
) -> Response[Any]:
    """Open, pending, snoozed until a time, or resolved (``do_update_thread``)."""
    newest = await newest_message_id(db_session, thread_id)
    try:
        until = snooze_time(data.snoozed_until, agent) if data.status == "snoozed" else None
        await actions.do_update_thread(
            writer, agent=agent, thread_id=thread_id, status=data.status, snoozed_until=until
        )
    except DomainError as exc:
        return await _head_refused(request, db_session, registry, agent, thread_id, exc)
    return await _after_change(request, db_session, registry, agent, thread_id, newest)


@post("/threads/{thread_id:int}/assign", include_in_schema=False, status_code=200)
async def assign(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    registry: NamedDependency[AdapterRegistry],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
    data: Annotated[AssignForm, FORM],
) -> Response[Any]:
    """Assign to me, to another agent, or to nobody (``do_update_thread``)."""
    newest = await newest_message_id(db_session, thread_id)
    choice = data.assignee.strip()
    try:
        if choice == "none":
            await actions.do_update_thread(writer, agent=agent, thread_id=thread_id, unassign=True)
        else:
            if choice != "me" and not (choice.isascii() and choice.isdigit() and int(choice) < 2**31):
                raise InvalidInputError(UNKNOWN_AGENT, type_slug="agent-not-found")
            assignee_id = agent.id if choice == "me" else int(choice)
            await actions.do_update_thread(writer, agent=agent, thread_id=thread_id, assignee_id=assignee_id)
    except DomainError as exc:
        return await _head_refused(request, db_session, registry, agent, thread_id, exc)
    return await _after_change(request, db_session, registry, agent, thread_id, newest)


route_handlers: list[ControllerRouterHandler] = [
    thread_page,
    timeline_entry,
    log_phone_note,
    change_status,
    assign,
]
upload_handlers: list[ControllerRouterHandler] = [compose]
"""Routes that take files: ``app.core`` mounts them under a body limit with room for them."""
