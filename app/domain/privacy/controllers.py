"""JSON API for privacy (API.md "Privacy"), for admins: a customer's export and erasure, the audit log.

``GET /api/v1/contacts/{id}/export`` answers the customer's ZIP; ``POST /api/v1/contacts/{id}/erase``
erases them (``{"mode": "anonymize" | "delete"}``, default ``ONETHREAD_ERASE_MODE``) and answers what
was removed; ``GET /api/v1/audit-log`` lists the audit log, newest first. Agents get 403.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.accounts.auth import requires_agent
from app.domain.inbox.schemas import Page
from app.domain.privacy import queries
from app.domain.privacy.actions import actor_of, do_erase_contact, do_export_contact, erase_mode
from app.domain.system.services import Services
from app.lib.errors import ForbiddenError

SPOOL_BYTES = 8 * 1024 * 1024
"""An export is built in memory up to this size, then in a temporary file."""
CHUNK = 64 * 1024


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A 403 problem for an agent who is not an admin (after ``requires_agent``: a 401 before it)."""
    user = connection.scope.get("user")
    if not isinstance(user, Agent) or user.role != "admin" or not user.is_active:
        raise ForbiddenError("only admins can export, erase or read the audit log", type_slug="admins-only")


class EraseIn(msgspec.Struct, forbid_unknown_fields=True):
    mode: str | None = None


class ErasureOut(msgspec.Struct):
    contact_id: int
    mode: str
    contacts: int
    identities: int
    threads: int
    messages: int
    attachments: int
    bot_decisions: int
    merges: int
    merge_suggestions: int
    events: int
    files_deleted: int


def export_filename(contact_id: int) -> str:
    return f"contact-{contact_id}-export.zip"


async def export_response(services: Services, agent: Agent, contact_id: int) -> Response[Any]:
    """The customer's ZIP as a download (shared with the console's button)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=None)  # noqa: SIM115
    try:
        summary = await do_export_contact(
            services.writer, services.files, contact_id=contact_id, actor=actor_of(agent.id), out=spool
        )
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := spool.read(CHUNK):
                yield chunk
        finally:
            spool.close()

    return Stream(
        chunks(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{export_filename(summary.contact_id)}"',
            "Content-Length": str(size),
            "Cache-Control": "no-store",
        },
    )


@get(
    "/api/v1/contacts/{contact_id:int}/export",
    guards=[requires_agent, requires_admin],
    tags=["privacy"],
    summary="A customer's data as a ZIP (contact.json and attachments/)",
    media_type="application/zip",
)
async def export_contact(
    services: NamedDependency[Services], agent: NamedDependency[Agent], contact_id: FromPath[int]
) -> Response[Any]:
    return await export_response(services, agent, contact_id)


@post(
    "/api/v1/contacts/{contact_id:int}/erase",
    status_code=200,
    guards=[requires_agent, requires_admin],
    tags=["privacy"],
    summary="Erase a customer (anonymize or delete)",
)
async def erase_contact(
    services: NamedDependency[Services],
    agent: NamedDependency[Agent],
    contact_id: FromPath[int],
    data: JSONBody[EraseIn | None] = None,
) -> ErasureOut:
    mode = erase_mode(data.mode if data else None, services.settings.erase_mode)
    erasure = await do_erase_contact(
        services.writer, services.files, contact_id=contact_id, mode=mode, actor=actor_of(agent.id)
    )
    return msgspec.convert(erasure.as_dict(), ErasureOut)


@get("/api/v1/audit-log", guards=[requires_agent, requires_admin], tags=["privacy"], summary="The audit log")
async def audit_log(
    db_session: NamedDependency[AsyncSession],
    cursor: Annotated[int | None, QueryParameter(ge=1)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
) -> Page:
    """Newest first, cursor-paginated like every list."""
    items, next_cursor = await queries.audit_page(db_session, before_id=cursor, limit=limit)
    return Page(items=items, next_cursor=str(next_cursor) if next_cursor else None)


route_handlers: list[ControllerRouterHandler] = [export_contact, erase_contact, audit_log]
