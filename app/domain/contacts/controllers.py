"""JSON API for contacts, merges and merge suggestions (API.md)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent, Merge
from app.domain.accounts.auth import requires_agent
from app.domain.contacts import actions, queries
from app.domain.contacts.schemas import ContactOut, ContactPatch, MergeIn, MergeOut
from app.domain.inbox.schemas import Page
from app.domain.realtime.writer import Writer
from app.settings import Settings


def merge_out(merge: Merge) -> MergeOut:
    return MergeOut(
        id=merge.id or 0,
        primary_contact_id=merge.primary_contact_id,
        other_contact_id=merge.other_contact_id,
        reason=merge.reason,
        created_at=merge.created_at,
        undone_at=merge.undone_at,
    )


class ContactController(Controller):
    path = "/api/v1/contacts"
    guards = [requires_agent]
    tags = ["contacts"]

    @get("/", summary="Search contacts by name, email, phone or channel id")
    async def list_contacts(
        self,
        db_session: NamedDependency[AsyncSession],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        cursor: Annotated[int | None, QueryParameter(ge=1)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> Page:
        items, next_cursor = await queries.search_contacts(db_session, q, after_id=cursor, limit=limit)
        return Page(items=items, next_cursor=next_cursor)

    @get("/{contact_id:int}")
    async def get_contact(
        self, db_session: NamedDependency[AsyncSession], contact_id: FromPath[int]
    ) -> ContactOut:
        return await queries.get_contact(db_session, contact_id)

    @patch("/{contact_id:int}", summary="Edit; a new email or phone adds an identity")
    async def update_contact(
        self,
        writer: NamedDependency[Writer],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        agent: NamedDependency[Agent],
        contact_id: FromPath[int],
        data: JSONBody[ContactPatch],
    ) -> ContactOut:
        live_id = await actions.do_update_contact(
            writer,
            agent=agent,
            contact_id=contact_id,
            name=data.name,
            email=data.email,
            phone=data.phone,
            attributes=data.attributes,
            default_region=settings.default_phone_region,
        )
        return await queries.get_contact(db_session, live_id)

    @post("/{contact_id:int}/merge", status_code=201, summary="Merge another contact into this one")
    async def merge(
        self,
        writer: NamedDependency[Writer],
        agent: NamedDependency[Agent],
        contact_id: FromPath[int],
        data: JSONBody[MergeIn],
    ) -> MergeOut:
        return merge_out(
            await actions.do_merge(writer, agent=agent, contact_id=contact_id, other_id=data.other_id)
        )


@post("/api/v1/merges/{merge_id:int}/undo", status_code=200, guards=[requires_agent], tags=["contacts"])
async def undo_merge(
    writer: NamedDependency[Writer], agent: NamedDependency[Agent], merge_id: FromPath[int]
) -> MergeOut:
    return merge_out(await actions.do_undo_merge(writer, agent=agent, merge_id=merge_id))


@get("/api/v1/merge-suggestions", guards=[requires_agent], tags=["contacts"], summary="Suggested duplicates")
async def list_suggestions(
    db_session: NamedDependency[AsyncSession],
    cursor: Annotated[int | None, QueryParameter(ge=1)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
) -> Page:
    """Open suggestions, newest first, cursor-paginated like every list (API.md)."""
    items, next_cursor = await queries.suggestions_page(db_session, before_id=cursor, limit=limit)
    return Page(items=items, next_cursor=next_cursor)


@post(
    "/api/v1/merge-suggestions/{suggestion_id:int}/dismiss",
    status_code=204,
    guards=[requires_agent],
    tags=["contacts"],
)
async def dismiss_suggestion(
    writer: NamedDependency[Writer], agent: NamedDependency[Agent], suggestion_id: FromPath[int]
) -> None:
    await actions.do_dismiss_suggestion(writer, agent=agent, suggestion_id=suggestion_id)


route_handlers: list[ControllerRouterHandler] = [
    ContactController,
    undo_merge,
    list_suggestions,
    dismiss_suggestion,
]
