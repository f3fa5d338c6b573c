"""JSON API for threads, the timeline, replies, notes, phone notes and search (API.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Agent
from app.domain.accounts.auth import requires_agent
from app.domain.contacts.queries import search_contacts
from app.domain.contacts.schemas import ContactOut, IdentityOut, identity_out
from app.domain.inbox import actions, queries
from app.domain.inbox.schemas import MessageOut, Page, ThreadOut, ThreadStatus, message_out, thread_out
from app.domain.inbox.uploads import MAX_FILES, invalid_body, read_uploads
from app.domain.realtime.writer import Writer
from app.domain.system.services import Services
from app.lib import fields
from app.lib.errors import InvalidInputError
from app.lib.fields import MessageText
from app.settings import Settings
from integrations.identifiers import InvalidIdentifierError, normalize_phone


class ThreadDetail(msgspec.Struct):
    thread: ThreadOut
    identities: list[IdentityOut]


class ThreadPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``assignee_id: null`` unassigns; a field left out is left alone."""

    status: ThreadStatus | msgspec.UnsetType = msgspec.UNSET
    assignee_id: int | msgspec.UnsetType | None = msgspec.UNSET
    snoozed_until: datetime | None = None


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    text: MessageText
    channel: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class ReplyFormIn(msgspec.Struct):
    """A multipart reply's text fields; the text may be empty when files come with it."""

    text: Annotated[str, fields.text(max_length=65_536)] = ""
    channel: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: MessageText


class PhoneNoteIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, fields.text(min_length=3, max_length=40)]
    text: Annotated[str, fields.text(max_length=65_536)]
    direction: Literal["inbound", "outbound"]
    duration_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] | None = None
    contact_id: int | None = None


class SearchResult(msgspec.Struct):
    messages: list[MessageOut]
    contacts: list[ContactOut]


async def _thread_detail(session: AsyncSession, thread_id: int) -> ThreadDetail:
    thread, contact, identities = await queries.get_thread(session, thread_id)
    channels = sorted({i.channel for i in identities})
    return ThreadDetail(
        thread=thread_out(thread, contact, channels), identities=[identity_out(i) for i in identities]
    )


class ThreadController(Controller):
    path = "/api/v1/threads"
    guards = [requires_agent]
    tags = ["threads"]

    @get("/", summary="The inbox list, newest activity first")
    async def list_threads(
        self,
        db_session: NamedDependency[AsyncSession],
        agent: NamedDependency[Agent],
        status: FromQuery[str | None] = None,
        channel: FromQuery[str | None] = None,
        assignee: FromQuery[str | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> Page:
        items, next_cursor = await queries.inbox_page(
            db_session,
            agent,
            status=status,
            channel=channel,
            assignee=assignee,
            q=q,
            cursor=cursor,
            limit=limit,
        )
        return Page(items=items, next_cursor=next_cursor)

    @get("/{thread_id:int}", summary="A thread with its contact and the contact's identities")
    async def get_thread(
        self, db_session: NamedDependency[AsyncSession], thread_id: FromPath[int]
    ) -> ThreadDetail:
        return await _thread_detail(db_session, thread_id)

    @patch("/{thread_id:int}", summary="Change status and/or assignee")
    async def update_thread(
        self,
        writer: NamedDependency[Writer],
        db_session: NamedDependency[AsyncSession],
        agent: NamedDependency[Agent],
        thread_id: FromPath[int],
        data: JSONBody[ThreadPatch],
    ) -> ThreadDetail:
        await actions.do_update_thread(
            writer,
            agent=agent,
            thread_id=thread_id,
            status=None if data.status is msgspec.UNSET else data.status,
            assignee_id=None if data.assignee_id in (msgspec.UNSET, None) else data.assignee_id,  # type: ignore[arg-type]
            unassign=data.assignee_id is None,
            snoozed_until=data.snoozed_until,
        )
        return await _thread_detail(db_session, thread_id)

    @post("/{thread_id:int}/notes", status_code=201, summary="Internal note, never sent to the customer")
    async def add_note(
        self,
        writer: NamedDependency[Writer],
        agent: NamedDependency[Agent],
        thread_id: FromPath[int],
        data: JSONBody[NoteIn],
    ) -> MessageOut:
        return message_out(
            await actions.do_add_note(writer, agent=agent, thread_id=thread_id, text=data.text)
        )


def _schema(kind: OpenAPIType, **extra: Any) -> Schema:
    return Schema(type=kind, **extra)


_REPLY_FIELDS = {
    "text": _schema(OpenAPIType.STRING, max_length=65_536, description="may be empty when files come"),
    "channel": _schema(OpenAPIType.STRING, max_length=40, description="default: the last one used"),
}


@dataclass
class _ReplyOperation(Operation):
    """The reply's request body, documented by hand: the handler reads JSON or a multipart form
    itself (Litestar's ``data`` parameter can only be one of them)."""

    def __post_init__(self) -> None:
        files = _schema(
            OpenAPIType.ARRAY,
            items=_schema(OpenAPIType.STRING, format=OpenAPIFormat.BINARY),
            max_items=MAX_FILES,
        )
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(
                    schema=_schema(OpenAPIType.OBJECT, properties=_REPLY_FIELDS, required=["text"])
                ),
                "multipart/form-data": OpenAPIMediaType(
                    schema=_schema(OpenAPIType.OBJECT, properties={**_REPLY_FIELDS, "files": files})
                ),
            },
        )


async def _reply_fields(request: Request[Any, Any, Any]) -> tuple[str, str | None, list[UploadFile]]:
    """Text, channel and uploads from a JSON body or a ``multipart/form-data`` one."""
    if request.content_type[0] != "multipart/form-data":
        try:
            json_body = msgspec.json.decode(await request.body(), type=ReplyIn)
        except msgspec.MsgspecError as error:
            raise invalid_body(error) from None
        return json_body.text, json_body.channel, []
    form = await request.form()
    uploads = [item for item in form.getall("files", []) if isinstance(item, UploadFile)]
    values = {key: form.get(key) for key in ("text", "channel") if isinstance(form.get(key), str)}
    try:
        form_body = msgspec.convert(values, ReplyFormIn)
    except msgspec.MsgspecError as error:
        raise invalid_body(error) from None
    return form_body.text, form_body.channel or None, uploads


@get(
    "/api/v1/threads/{thread_id:int}/messages",
    guards=[requires_agent],
    tags=["threads"],
    summary="The unified timeline, oldest first within a page",
)
async def list_messages(
    db_session: NamedDependency[AsyncSession],
    thread_id: FromPath[int],
    before: FromQuery[int | None] = None,
    after: FromQuery[int | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
) -> Page:
    items, next_cursor = await queries.timeline_page(
        db_session, thread_id, before=before, after=after, limit=limit
    )
    return Page(items=items, next_cursor=next_cursor)


@post(
    "/api/v1/threads/{thread_id:int}/messages",
    status_code=202,
    guards=[requires_agent],
    tags=["threads"],
    summary="Reply on a channel (default: the last one used), with files as multipart/form-data",
    operation_class=_ReplyOperation,
)
async def reply(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    agent: NamedDependency[Agent],
    thread_id: FromPath[int],
) -> MessageOut:
    """JSON ``{"text", "channel"}``, or a multipart form with ``text``, ``channel`` and ``files``.

    Mounted by ``app.core`` under a body limit that leaves room for files (``upload_handlers``).
    """
    limit = services.settings.max_attachment_bytes
    text, channel, uploads = await _reply_fields(request)
    attachments = await read_uploads(uploads, limit=limit)
    message = await actions.do_send_reply(
        services.writer,
        services.registry,
        services.jobs.enqueue_delivery,
        agent=agent,
        thread_id=thread_id,
        text=text,
        channel=channel,
        attachments=attachments,
        files=services.files,
    )
    async with services.writer.sessionmaker() as session:
        shown = await queries.get_message(session, message.id or 0)
    return shown or message_out(message)


@post(
    "/api/v1/phone-notes",
    status_code=201,
    guards=[requires_agent],
    tags=["threads"],
    summary="Log a phone call in the caller's thread",
)
async def log_phone_note(
    writer: NamedDependency[Writer],
    settings: NamedDependency[Settings],
    agent: NamedDependency[Agent],
    data: JSONBody[PhoneNoteIn],
) -> MessageOut:
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
        duration_seconds=data.duration_seconds,
        contact_id=data.contact_id,
    )
    return message_out(message)


@get(
    "/api/v1/search",
    guards=[requires_agent],
    tags=["search"],
    summary="Full-text search over messages and contacts",
)
async def search(
    db_session: NamedDependency[AsyncSession], q: Annotated[str, QueryParameter(min_length=1, max_length=200)]
) -> SearchResult:
    messages = await queries.search_messages(db_session, q)
    contacts, _ = await search_contacts(db_session, q, limit=20)
    return SearchResult(messages=messages, contacts=contacts)


route_handlers: list[ControllerRouterHandler] = [ThreadController, log_phone_note, search]
upload_handlers: list[ControllerRouterHandler] = [list_messages, reply]
"""The timeline's routes, replies with files among them: ``app.core`` mounts them under
``upload_body_limit``, not the app's (one path's methods must be registered together)."""
