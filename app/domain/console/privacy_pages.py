"""Privacy in the console, for admins: the audit log, and a customer's export and erasure.

``/settings/audit`` lists the audit log, newest first, a page at a time. The contact panel shows an
admin "Download data" (the GDPR export's ZIP) and "Erase contact…", which opens a page naming the
customer and what will go, with the mode to use; only its form's post erases. Every route here sits
behind ``requires_admin`` (one router), so an agent gets the "Admins only" page (403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect, Template
from litestar.types import ControllerRouterHandler
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import i18n
from app.db.models import Agent, Contact, Identity, Message
from app.domain.console import roles
from app.domain.console.forms import FORM
from app.domain.console.notices import flash
from app.domain.console.settings_pages import SECTIONS
from app.domain.privacy import audit_text, queries
from app.domain.privacy.actions import actor_of, do_erase_contact, erase_mode, refuse_if_erased
from app.domain.privacy.controllers import export_response
from app.domain.privacy.customer import customer_group
from app.domain.system.services import Services
from app.i18n import N_
from app.lib.errors import ConflictError, DomainError, Reason

AUDIT_PAGE = 50


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An audit row as the page shows it: who in words, what as a sentence (escaped, a contact linked)."""

    entry: queries.AuditOut
    actor: str
    what: Markup


@dataclass
class EraseForm:
    mode: Literal["anonymize", "delete"] = "anonymize"
    confirm: Literal["", "1"] = ""


@get("/settings/audit", include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    before: Annotated[int | None, QueryParameter(ge=1)] = None,
) -> Template:
    """The audit log, newest first; "Older" follows ``before``."""
    items, next_cursor = await queries.audit_page(db_session, before_id=before, limit=AUDIT_PAGE)
    contacts = await queries.audit_contacts(db_session, items)
    agent = request.scope.get("user")
    language = i18n.language_of({"request": request, "agent": agent})
    catalog = i18n.translations(language)
    rows = [
        AuditRow(
            entry=item,
            actor=audit_text.actor_text(item, catalog),
            what=audit_text.describe(item, catalog, language, contacts=contacts).html(),
        )
        for item in items
    ]
    nav = [(key, path, label) for key, path, label, _ in SECTIONS]
    return Template(
        template_name="pages/settings/audit.html",
        context={
            "agent": agent,
            "settings_section": "audit",
            "settings_nav": nav,
            "entries": rows,
            "next_cursor": next_cursor,
            "paged": before is not None,
        },
    )


@get("/contacts/{contact_id:int}/export", include_in_schema=False)
async def export_contact(
    services: NamedDependency[Services], agent: NamedDependency[Agent], contact_id: FromPath[int]
) -> Response[Any]:
    """The customer's ZIP, downloaded (the same as the API's)."""
    return await export_response(services, agent, contact_id)


async def _erase_context(session: AsyncSession, contact_id: int, **extra: Any) -> dict[str, Any]:
    """The customer to name on the confirmation page and what would go with them.

    Two states offer no erase button: ``merged_into`` (the id was merged into another contact: the
    page points there, where both are erased together) and ``erased_at`` (nothing left to erase).
    """
    try:
        customer = await customer_group(session, contact_id, follow_merges=False)
    except ConflictError as exc:
        if exc.type_slug != "contact-merged":
            raise
        live = await customer_group(session, contact_id, follow_merges=True)
        return {"contact": await session.get(Contact, contact_id), "merged_into": live.contact, **extra}
    thread_id = customer.thread_ids[0] if customer.thread_ids else None
    try:
        await refuse_if_erased(session, customer)
    except ConflictError:
        return {
            "contact": customer.contact,
            "erased_at": customer.contact.erased_at,
            "thread_id": thread_id,
            **extra,
        }
    messages = (
        await session.execute(
            select(func.count(col(Message.id))).where(col(Message.thread_id).in_(customer.thread_ids))
        )
    ).scalar() or 0
    identities = list(
        (
            await session.execute(
                select(Identity)
                .where(col(Identity.contact_id).in_(customer.contact_ids))
                .order_by(col(Identity.id))
            )
        ).scalars()
    )
    return {
        "contact": customer.contact,
        "thread_id": thread_id,
        "messages": int(messages),
        "identities": identities,
        **extra,
    }


@get("/contacts/{contact_id:int}/erase", include_in_schema=False)
async def erase_page(
    db_session: NamedDependency[AsyncSession],
    services: NamedDependency[Services],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
) -> Template:
    """The confirmation step: who is erased, what goes, in which mode (or why there is nothing to do)."""
    context = await _erase_context(db_session, contact_id, mode=services.settings.erase_mode)
    return Template(template_name="pages/contact_erase.html", context={"agent": agent, **context})


@post("/contacts/{contact_id:int}/erase", include_in_schema=False, status_code=200)
async def erase_contact(
    request: HTMXRequest,
    db_session: NamedDependency[AsyncSession],
    services: NamedDependency[Services],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    data: Annotated[EraseForm, FORM],
) -> Response[Any]:
    """Erase, then back to the inbox (the thread is gone or holds nothing to read), which says so."""
    try:
        if data.confirm != "1":
            raise DomainError(N_("Tick the box to confirm the erasure."), type_slug="erase-unconfirmed")
        erasure = await do_erase_contact(
            services.writer,
            services.files,
            contact_id=contact_id,
            mode=erase_mode(data.mode, services.settings.erase_mode),
            actor=actor_of(agent.id),
        )
    except DomainError as exc:
        status = exc.status_code if exc.status_code in (404, 409) else 422
        context = await _erase_context(db_session, contact_id, mode=data.mode, error=exc.reason)
        return Template(
            template_name="pages/contact_erase.html", context={"agent": agent, **context}, status_code=status
        )
    done = ERASED_NOTICE["delete" if erasure.mode == "delete" else "anonymize"]
    flash(request, Reason(done, {"id": str(erasure.contact_id)}))
    if request.htmx:
        return ClientRedirect("/")
    return Redirect("/", status_code=303)


ERASED_NOTICE = {
    "anonymize": N_("Contact #%(id)s erased (anonymized)."),
    "delete": N_("Contact #%(id)s erased (deleted)."),
}


admin_router = Router(
    path="/",
    guards=[roles.requires_admin],
    exception_handlers=roles.exception_handlers,
    route_handlers=[audit_page, export_contact, erase_page, erase_contact],
)
"""Every page here is an admin's: the guard sits on the router so none can forget it."""

route_handlers: list[ControllerRouterHandler] = [admin_router]
