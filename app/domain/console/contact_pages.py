"""The contact panel beside a thread: identities, attributes, edits, merges and their undo.

The panel partial (``partials/contact_panel.html``) is first rendered by the thread page with the
thread's context; every form in it posts here. With HTMX the answer is the panel again (swapped into
``#contact-panel``), or, when the timeline changed too (a merge, an undo), a client redirect to the
thread so the merge's system line is in view. Without JavaScript the same forms post and get a 303,
and the searches and previews are plain pages (``pages/contact.html``).

Labels are stored in ``contact.attributes["labels"]`` as a list of strings; every other attribute is
a free ``key: value`` pair the agent edits as lines of text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.plugins.htmx import ClientRedirect, ClientRefresh, HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, Merge, pk
from app.domain.channels.deep_links import continue_links
from app.domain.console.forms import FORM
from app.domain.contacts import actions, queries
from app.domain.contacts.resolution import live_contact
from app.domain.inbox.queries import get_thread
from app.domain.realtime.writer import Writer
from app.i18n import N_
from app.lib.errors import ConflictError, DomainError, InvalidInputError, NotFoundError, Reason
from app.lib.fields import text
from app.settings import Settings

LABELS = "labels"
MAX_LABELS = 20
MAX_LABEL_CHARS = 40
MAX_KEY_CHARS = 64
SEARCH_LIMIT = 10
PANEL = "#contact-panel"


@dataclass
class ContactEditForm:
    """Name, labels (comma-separated) and attributes (one ``key: value`` a line)."""

    name: Annotated[str, text(max_length=200)] = ""
    labels: Annotated[str, text(max_length=2_000)] = ""
    attributes: Annotated[str, text(max_length=10_000)] = ""
    # The attribute keys the form showed (a JSON list): only these can be removed by leaving them out.
    shown_keys: Annotated[str, text(max_length=20_000)] = ""


@dataclass
class IdentityForm:
    """An email address and/or phone number the agent vouches for (they become verified identities)."""

    email: Annotated[str, text(max_length=320)] = ""
    phone: Annotated[str, text(max_length=40)] = ""


@dataclass
class MergeForm:
    other_id: int = 0


# --- shaping attributes for the forms ---------------------------------------------------------------


def labels_of(attributes: dict[str, Any]) -> list[str]:
    raw = attributes.get(LABELS)
    return [str(label) for label in raw] if isinstance(raw, list) else []


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def editable_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """The attributes an agent edits as text: scalars, labels aside. Nested values (set through the
    API) are shown but not offered for editing, so saving the form cannot flatten them."""
    return {k: "" if v is None else str(v) for k, v in attributes.items() if k != LABELS and _scalar(v)}


def attribute_text(value: Any) -> str:
    """An attribute's value as shown in the panel."""
    if _scalar(value):
        return "" if value is None else str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def shown_keys(attributes: dict[str, Any]) -> str:
    """The keys the edit form offers, as the JSON list its hidden ``shown_keys`` field carries back."""
    return json.dumps(sorted(editable_attributes(attributes)), ensure_ascii=False)


def parse_shown_keys(raw: str) -> set[str]:
    """The keys a submitted form had shown. A form without the field (or a mangled one) showed
    nothing the agent could have removed, so nothing is dropped."""
    try:
        keys = json.loads(raw) if raw else []
    except ValueError:
        return set()
    return {key for key in keys if isinstance(key, str)} if isinstance(keys, list) else set()


def parse_labels(raw: str) -> list[str]:
    labels: list[str] = []
    for part in raw.split(","):
        label = " ".join(part.split())
        if not label or label in labels:
            continue
        if len(label) > MAX_LABEL_CHARS:
            raise InvalidInputError(f"a label is at most {MAX_LABEL_CHARS} characters: {label[:20]}…")
        labels.append(label)
    if len(labels) > MAX_LABELS:
        raise InvalidInputError(f"a contact has at most {MAX_LABELS} labels")
    return labels


def parse_attributes(raw: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or not key:
            raise InvalidInputError(f"attributes, line {number}: write it as key: value")
        if len(key) > MAX_KEY_CHARS:
            raise InvalidInputError(f"attributes, line {number}: a key is at most {MAX_KEY_CHARS} characters")
        if key == LABELS:
            raise InvalidInputError(f"attributes, line {number}: put labels in the Labels field")
        attributes[key] = value.strip()
    return attributes


# --- reads shared by the handlers ------------------------------------------------------------------


async def _live_thread_id(session: AsyncSession, contact_id: int) -> int:
    """The thread that stands for this customer now (following merges, however many)."""
    try:
        live = await live_contact(session, contact_id)
    except LookupError:
        raise NotFoundError(f"contact {contact_id} does not exist", type_slug="contact-not-found") from None
    contact = await queries.get_contact(session, pk(live.id))
    if contact.thread_id is None:
        raise NotFoundError(f"contact {contact_id} has no thread", type_slug="thread-not-found")
    return contact.thread_id


async def panel_context(session: AsyncSession, agent: Agent, contact_id: int, **panel: Any) -> dict[str, Any]:
    """The thread page's context for the panel (thread, contact, identities, agent) and ``panel``:
    suggestions, and whatever a form handler adds (errors, typed text, search results, a preview)."""
    thread, contact, identities = await get_thread(session, await _live_thread_id(session, contact_id))
    panel.setdefault("suggestions", await queries.suggestions_for_contact(session, contact.id or 0))
    return {"agent": agent, "thread": thread, "contact": contact, "identities": identities, "panel": panel}


def _panel(request: HTMXRequest, context: dict[str, Any], *, status: int = 200) -> Response[Any]:
    """The panel: swapped into the thread page (HTMX) or as a page of its own (no JavaScript)."""
    if request.htmx:
        return HTMXTemplate(
            template_name="partials/contact_panel.html",
            context=context,
            status_code=status,
            re_target=PANEL,
            re_swap="innerHTML",
        )
    return Template(template_name="pages/contact.html", context=context, status_code=status)


def _go_to_thread(request: HTMXRequest, thread_id: int, anchor: str = "") -> Response[Any]:
    """After a change to the timeline: load the thread page again (the merge line is in its newest page).

    With HTMX, a redirect to the page already open would only move to the ``#anchor`` without
    reloading it, so that case is a refresh instead.
    """
    path = f"/threads/{thread_id}"
    if not request.htmx:
        return Redirect(f"{path}{anchor}", status_code=303)
    current = urlsplit(request.htmx.current_url or "")
    if current.path == path and not current.query:
        return ClientRefresh()
    return ClientRedirect(f"{path}{anchor}")


# --- pages and forms -------------------------------------------------------------------------------


@get("/contacts/{contact_id:int}", include_in_schema=False, name="console:contact")
async def contact_page(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    settings: NamedDependency[Settings],
    contact_id: FromPath[int],
) -> Response[Any]:
    """The panel as a page (or partial): where the thread page's panel links without JavaScript.
    It carries the customer's "Continue on Telegram" links (a fresh token each time it is shown)."""
    context = await panel_context(db_session, agent, contact_id)
    context["panel"]["telegram_links"] = await continue_links(
        db_session, settings.secret_key, context["contact"].id
    )
    return _panel(request, context)


@get("/contacts/{contact_id:int}/continue-links", include_in_schema=False)
async def contact_continue_links(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    contact_id: FromPath[int],
) -> Template:
    """The panel's "Continue on Telegram" links, loaded after it (empty without a Telegram bot)."""
    try:
        live = await live_contact(db_session, contact_id)
    except LookupError:
        raise NotFoundError(f"contact {contact_id} does not exist", type_slug="contact-not-found") from None
    links = await continue_links(db_session, settings.secret_key, pk(live.id))
    return Template(
        template_name="partials/contact_continue_links.html", context={"contact": live, "links": links}
    )


@get("/contacts/{contact_id:int}/suggestions", include_in_schema=False)
async def contact_suggestions(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
) -> Response[Any]:
    """Merge suggestions for this contact with their reason (the panel loads them after the page)."""
    context = await panel_context(db_session, agent, contact_id)
    if request.htmx:
        return HTMXTemplate(template_name="partials/contact_suggestions.html", context=context)
    return Template(template_name="pages/contact.html", context=context)


@post("/contacts/{contact_id:int}/edit", include_in_schema=False, status_code=200)
async def edit_contact(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    data: Annotated[ContactEditForm, FORM],
) -> Response[Any]:
    """Save name, labels and attributes; a refused edit comes back on the form with the text kept."""
    try:
        labels = parse_labels(data.labels)
        attributes = parse_attributes(data.attributes)
        try:
            # The contact the edit lands on: a merged-away id stands for the one it was merged into.
            current = await live_contact(db_session, contact_id)
        except LookupError:
            raise NotFoundError(
                Reason(N_("contact %(id)s does not exist"), {"id": str(contact_id)}),
                type_slug="contact-not-found",
            ) from None
        # Only what this form showed and the agent removed goes: a key added meanwhile (by another
        # agent or the API) was never on this form, so leaving it out of the text is no removal.
        dropped = (parse_shown_keys(data.shown_keys) - set(attributes)) & set(
            editable_attributes(current.attributes or {})
        )
        await actions.do_update_contact(
            writer,
            agent=agent,
            contact_id=contact_id,
            name=data.name,
            attributes={**attributes, LABELS: labels},
            drop_attributes=dropped,
        )
    except (InvalidInputError, ConflictError) as exc:
        context = await panel_context(
            db_session, agent, contact_id, edit_error=exc.reason, edit_form=data, edit_open=True
        )
        return _panel(request, context, status=exc.status_code)
    db_session.expire_all()
    if not request.htmx:
        return Redirect(f"/threads/{await _live_thread_id(db_session, contact_id)}", status_code=303)
    context = await panel_context(db_session, agent, contact_id, notice=N_("Contact saved."))
    # The thread's heading names the customer too; a rename shows there at once.
    return _panel(request, {**context, "retitle": True})


@post("/contacts/{contact_id:int}/identities", include_in_schema=False, status_code=200)
async def add_identity(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    data: Annotated[IdentityForm, FORM],
) -> Response[Any]:
    """Add an email address or phone number. When another contact has it verified, the two are
    merged (``do_update_contact``); the agent then sees the merged thread with the merge's line."""
    before = await queries.last_merge_id(db_session)
    try:
        if not data.email.strip() and not data.phone.strip():
            raise InvalidInputError("fill in an email address or a phone number")
        live_id = await actions.do_update_contact(
            writer,
            agent=agent,
            contact_id=contact_id,
            email=data.email.strip() or None,
            phone=data.phone.strip() or None,
            default_region=settings.default_phone_region,
        )
    except (InvalidInputError, ConflictError) as exc:
        context = await panel_context(
            db_session, agent, contact_id, identity_error=exc.reason, identity_form=data, identity_open=True
        )
        return _panel(request, context, status=exc.status_code)
    db_session.expire_all()
    merged_in = await queries.latest_merge_into(db_session, live_id, after_id=before)
    if live_id != contact_id or merged_in is not None:
        # The timeline changed: open the surviving thread where the merge line (with Undo) shows.
        line = (merged_in.snapshot or {}).get("system_message_id") if merged_in else None
        anchor = f"#m-{line}" if line else ""
        return _go_to_thread(request, await _live_thread_id(db_session, live_id), anchor)
    if not request.htmx:
        return Redirect(f"/threads/{await _live_thread_id(db_session, contact_id)}", status_code=303)
    context = await panel_context(db_session, agent, contact_id, notice=N_("Contact saved."))
    # The thread's heading names the customer too; a rename shows there at once.
    return _panel(request, {**context, "retitle": True})


@get("/contacts/{contact_id:int}/candidates", include_in_schema=False)
async def merge_candidates(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    q: FromQuery[str] = "",
) -> Response[Any]:
    """Other contacts matching ``q`` (name, email, phone, any channel id), to merge into this one."""
    q = q.replace("\x00", "")[:200]
    found: list[Any] = []
    if q.strip():
        items, _ = await queries.search_contacts(db_session, q, limit=SEARCH_LIMIT + 1)
        found = [c for c in items if c.id != contact_id][:SEARCH_LIMIT]
    if request.htmx:
        return HTMXTemplate(
            template_name="partials/contact_candidates.html",
            context={"contact_id": contact_id, "q": q, "candidates": found},
        )
    context = await panel_context(db_session, agent, contact_id, q=q, candidates=found, searched=True)
    return Template(template_name="pages/contact.html", context=context)


@get("/contacts/{contact_id:int}/merge-preview", include_in_schema=False)
async def merge_preview(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    other_id: FromQuery[int],
) -> Response[Any]:
    """What a merge would do (the other's identities, how many messages move, which thread stays),
    with the button that does it."""
    preview = await queries.merge_preview(db_session, contact_id, other_id)
    if request.htmx:
        return HTMXTemplate(
            template_name="partials/contact_merge_preview.html",
            context={"preview": preview, "contact_id": contact_id},
        )
    context = await panel_context(db_session, agent, contact_id, preview=preview)
    return Template(template_name="pages/contact.html", context=context)


@post("/contacts/{contact_id:int}/merge", include_in_schema=False, status_code=200)
async def merge(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    data: Annotated[MergeForm, FORM],
) -> Response[Any]:
    """Merge the other contact into this one (this thread stays); then show the merged thread."""
    try:
        done = await actions.do_merge(writer, agent=agent, contact_id=contact_id, other_id=data.other_id)
    except DomainError as exc:
        context = await panel_context(db_session, agent, contact_id, merge_error=exc.reason)
        # An unknown other contact is a bad form value here (422), so htmx shows its reason too.
        return _panel(request, context, status=409 if exc.status_code == 409 else 422)
    line = (done.snapshot or {}).get("system_message_id")
    thread_id = await _live_thread_id(db_session, done.primary_contact_id)
    return _go_to_thread(request, thread_id, f"#m-{line}" if line else "")


@post(
    "/contacts/{contact_id:int}/suggestions/{suggestion_id:int}/dismiss",
    include_in_schema=False,
    status_code=200,
)
async def dismiss_suggestion(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    suggestion_id: FromPath[int],
) -> Response[Any]:
    """Not the same customer: the suggestion goes away (for every agent)."""
    try:
        await actions.do_dismiss_suggestion(writer, agent=agent, suggestion_id=suggestion_id)
    except (ConflictError, NotFoundError) as exc:
        context = await panel_context(db_session, agent, contact_id, suggestion_error=exc.reason)
        return _panel(request, context, status=exc.status_code)
    if not request.htmx:
        return Redirect(f"/threads/{await _live_thread_id(db_session, contact_id)}", status_code=303)
    return _panel(
        request, await panel_context(db_session, agent, contact_id, notice=N_("Suggestion dismissed."))
    )


@post("/merges/{merge_id:int}/undo", include_in_schema=False, status_code=200)
async def undo_merge(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    writer: NamedDependency[Writer],
    agent: NamedDependency[Agent],
    merge_id: FromPath[int],
) -> Response[Any]:
    """Undo a merge from its system line: both customers and their timelines come back apart."""
    try:
        undone = await actions.do_undo_merge(writer, agent=agent, merge_id=merge_id)
    except (ConflictError, NotFoundError) as exc:
        merge_row = await db_session.get(Merge, merge_id)
        context = {
            "agent": agent,
            "merge_id": merge_id,
            "undo_error": exc.reason,
            "undone": merge_row is not None and merge_row.undone_at is not None,
            "thread_id": (
                await _live_thread_id(db_session, merge_row.primary_contact_id) if merge_row else None
            ),
        }
        if request.htmx:
            return HTMXTemplate(
                template_name="partials/merge_undo.html",
                context=context,
                status_code=exc.status_code,
                re_target=f"#merge-undo-{merge_id}",
                re_swap="outerHTML",
            )
        return Template(
            template_name="pages/merge_undo_refused.html", context=context, status_code=exc.status_code
        )
    return _go_to_thread(request, await _live_thread_id(db_session, undone.primary_contact_id))


def contact_name(contact: Any) -> str:
    """How the panel names a contact (a ``Contact`` or a ``ContactOut``): its name, else a way to reach it."""
    return str(contact.name or contact.email or contact.phone or f"#{contact.id}")


TEMPLATE_FILTERS: dict[str, Any] = {
    "contact_labels": labels_of,
    "editable_attributes": editable_attributes,
    "shown_keys": shown_keys,
    "attribute_text": attribute_text,
    "contact_name": contact_name,
}

route_handlers: list[ControllerRouterHandler] = [
    contact_page,
    contact_continue_links,
    contact_suggestions,
    edit_contact,
    add_identity,
    merge_candidates,
    merge_preview,
    merge,
    dismiss_suggestion,
    undo_merge,
]
