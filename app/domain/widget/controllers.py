"""The widget's JSON API (API.md "Widget"): sessions, messages, read marks, the email a visitor leaves.

Everything but the session call is authorized by the visitor token alone (``Authorization:
Bearer``): it names one visitor on one site, and every query here is scoped to what that visitor
may see (``visitors.visible``). A token that is forged, expired, or for a site that is gone gets a
401 the widget answers by starting a new session. Requests are counted per token and per client
address; past a limit the answer is 429 with ``Retry-After``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Attachment
from app.domain.accounts.auth import bearer_token
from app.domain.channels.accounts import cached_account
from app.domain.channels.deep_links import continue_links
from app.domain.inbox.actions import do_ingest
from app.domain.inbox.downloads import stored_file
from app.domain.inbox.uploads import invalid_body, read_uploads
from app.domain.realtime.controllers import latest_event_id
from app.domain.realtime.publisher import widget_channel
from app.domain.system.services import Services
from app.domain.widget import limits
from app.domain.widget.actions import SessionRequest, do_leave_email, do_open_session, do_visitor_read
from app.domain.widget.settings import WidgetSettings
from app.domain.widget.stream import visitor_key
from app.domain.widget.tokens import (
    VisitorToken,
    attachment_signature_valid,
    read_visitor_token,
    sign_visitor_token,
    user_hash_matches,
)
from app.domain.widget.visitors import (
    VisitorThread,
    WidgetMessage,
    find_visitor,
    message_page,
    own_new_message,
    visible_messages_by_id,
    visitor_may_download,
)
from app.lib.errors import (
    AuthenticationError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from integrations.types import AccountConfig, InboundAttachment
from integrations.webchat import VisitorMessageError, visitor_message
from integrations.webchat.inbound import clean_email, clean_name

MAX_USER_ID_CHARS = 128
PAGE_LIMIT = 100


class SessionIn(msgspec.Struct, forbid_unknown_fields=True):
    site: str
    visitor_token: str | None = None
    user_id: str | None = None
    user_hash: str | None = None
    name: str | None = None
    email: str | None = None


class SessionOut(msgspec.Struct):
    visitor_token: str
    contact_id: int | None
    """``None`` until the visitor's first message (a page view creates no customer)."""
    thread_id: int | None
    verified: bool
    name: str | None
    email: str | None
    last_event_id: int
    """Where the widget's socket resumes from: the log's end when this session began."""
    expires_at: str
    telegram_url: str | None = None
    """"Continue on Telegram": a deep link to the company's bot that joins the visitor's Telegram to
    this conversation (``None`` before their first message or without a bot)."""


class MessagesOut(msgspec.Struct):
    items: list[WidgetMessage]
    last_event_id: int
    has_more: bool


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    client_id: str
    button_payload: str | None = None
    """Set when the visitor pressed one of the bot's buttons; ``text`` is then its label."""


class ReadIn(msgspec.Struct):
    message_id: int


class EmailIn(msgspec.Struct):
    email: str


class EmailOut(msgspec.Struct):
    email: str


async def webchat_account(services: Services, site: str) -> AccountConfig:
    """The enabled webchat account ``site`` names, else 404."""
    account = await cached_account(services.writer, site)
    if account is None or account.channel != "webchat":
        raise NotFoundError("no chat widget is set up for this site", type_slug="site-not-found")
    return account


def check_origin(request: Request[Any, Any, Any], settings: WidgetSettings, public_url: str) -> None:
    """Browsers say which page calls: it must be one of the site's origins, or our own iframe.

    A call without ``Origin`` is not from a page (a script, a server) and could claim any origin
    anyway; the check keeps other sites' pages from opening sessions on this widget.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    origin = origin.rstrip("/").lower()
    public = urlsplit(public_url)
    if origin == f"{public.scheme}://{public.netloc}".lower():
        return
    if origin in {o.lower() for o in settings.origins}:
        return
    raise ForbiddenError(
        f"this widget may not be used from {origin[:200]}: it is not one of the site's allowed origins",
        type_slug="origin-not-allowed",
    )


async def current_visitor(request: Request[Any, Any, Any], services: Services) -> VisitorToken:
    """The visitor a request's token names, or 401 (the widget then starts a new session)."""
    token = read_visitor_token(services.settings.secret_key, bearer_token(request) or "")
    if token is None:
        raise AuthenticationError(
            "the visitor token is missing, expired or not genuine: open a new session",
            type_slug="bad-visitor-token",
        )
    await webchat_account(services, token.site)
    return token


async def _visitor(
    request: Request[Any, Any, Any], services: Services, session: AsyncSession
) -> VisitorThread:
    token = await current_visitor(request, services)
    return await find_visitor(session, token)


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


@post(
    "/widget/v1/sessions", status_code=200, tags=["widget"], summary="Start or continue a visitor's session"
)
async def open_session(
    request: Request[Any, Any, Any],
    data: JSONBody[SessionIn],
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
) -> SessionOut:
    settings = services.settings
    await limits.check_session(services, client_address(request))
    account = await webchat_account(services, data.site)
    check_origin(request, WidgetSettings.from_config(account.config), settings.public_url)
    current = None
    if data.visitor_token:
        current = read_visitor_token(settings.secret_key, data.visitor_token)
        if current is None or current.site != account.id:
            raise AuthenticationError(
                "the visitor token is expired or not genuine: start again without it",
                type_slug="bad-visitor-token",
            )
    user_id = None
    if data.user_id is not None or data.user_hash is not None:
        user_id = (data.user_id or "").strip()
        if not user_id or len(user_id) > MAX_USER_ID_CHARS:
            raise InvalidInputError(
                f"user_id must be 1 to {MAX_USER_ID_CHARS} characters", type_slug="invalid-user-id"
            )
        if not data.user_hash or not user_hash_matches(
            account.secrets.get("signing_secret", ""), user_id, data.user_hash
        ):
            raise ForbiddenError(
                "user_hash does not match user_id: compute it on your server as the hex HMAC-SHA256 of "
                "the user id with the site's identity secret",
                type_slug="bad-user-hash",
            )
    try:
        name, email = clean_name(data.name), clean_email(data.email)
    except VisitorMessageError as exc:
        raise InvalidInputError(str(exc), type_slug="invalid-visitor") from None
    token = await do_open_session(
        services.writer,
        SessionRequest(site=account.id, current=current, user_id=user_id, name=name, email=email),
    )
    visitor = await find_visitor(db_session, token)
    telegram = (
        await continue_links(db_session, settings.secret_key, visitor.contact_id)
        if visitor.contact_id
        else []
    )
    return SessionOut(
        visitor_token=sign_visitor_token(settings.secret_key, token),
        contact_id=visitor.contact_id,
        thread_id=visitor.thread_id,
        verified=token.verified,
        name=token.name,
        email=token.email,
        last_event_id=await latest_event_id(db_session),
        expires_at=token.expires.astimezone(UTC).isoformat(),
        telegram_url=telegram[0].url if telegram else None,
    )


@get("/widget/v1/messages", tags=["widget"], summary="The visitor's conversation, oldest first")
async def list_messages(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
    after: FromQuery[int | None] = None,
    before: FromQuery[int | None] = None,
    limit: FromQuery[int] = 50,
) -> MessagesOut:
    visitor = await _visitor(request, services, db_session)
    await limits.check_read(services, visitor.token, client_address(request))
    if after is not None and before is not None:
        raise InvalidInputError(
            "ask for messages after one id or before one, not both", type_slug="invalid-cursor"
        )
    # The log's end first: a message committed while the page is read is then replayed, not lost.
    last_event_id = await latest_event_id(db_session)
    items, more = await message_page(
        db_session,
        visitor,
        secret_key=services.settings.secret_key,
        after=after,
        before=before,
        limit=max(1, min(limit, PAGE_LIMIT)),
    )
    return MessagesOut(items=items, last_event_id=last_event_id, has_more=more)


async def _message_fields(
    request: Request[Any, Any, Any], limit: int, max_json_bytes: int
) -> tuple[str, str, list[InboundAttachment], str | None]:
    """Text, client id, files and a pressed button's payload from a JSON body or a multipart form.

    The route takes bodies as large as a file; a JSON body (text only) gets the ordinary limit.
    """
    if request.content_type[0].startswith("multipart/"):
        form = await request.form()
        uploads: list[UploadFile] = [v for v in form.getall("file") if isinstance(v, UploadFile)]
        files = await read_uploads(uploads, limit=limit)
        attachments = [
            InboundAttachment(filename=f.filename, content_type=f.content_type, size=f.size, data=f.data)
            for f in files
        ]
        payload = form.get("button_payload")
        return (
            str(form.get("text") or ""),
            str(form.get("client_id") or ""),
            attachments,
            payload if isinstance(payload, str) else None,
        )
    raw = await request.body()
    if len(raw) > max_json_bytes:
        raise PayloadTooLargeError(f"a message body may be at most {max_json_bytes} bytes")
    try:
        body = msgspec.json.decode(raw, type=MessageIn)
    except msgspec.MsgspecError as exc:
        raise invalid_body(exc) from None
    return body.text, body.client_id, [], body.button_payload


@post("/widget/v1/messages", status_code=201, tags=["widget"], summary="The visitor sends a message")
async def send_message(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
) -> Response[WidgetMessage]:
    settings = services.settings
    token = await current_visitor(request, services)
    await limits.check_send(services, token, client_address(request))
    text, client_id, files, button_payload = await _message_fields(
        request, settings.max_attachment_bytes, settings.max_request_bytes
    )
    try:
        inbound = visitor_message(
            account_id=token.site,
            visitor_external_id=token.external_id,
            verified=token.verified,
            client_id=client_id,
            text=text,
            name=token.name,
            email=token.email,
            files=tuple(files),
            max_text_chars=settings.max_text_chars,
            button_payload=button_payload,
        )
    except VisitorMessageError as exc:
        raise InvalidInputError(str(exc), type_slug="invalid-message") from None
    result = await do_ingest(
        services.writer, inbound, max_attachment_bytes=settings.max_attachment_bytes, files=services.files
    )
    await services.jobs.after_ingest(result)
    if not result.duplicate:
        # A first message made the visitor's thread: their open socket joins it on this ring.
        await services.writer.publish_ephemeral(
            {"type": "started", "visitor": visitor_key(token)},
            [widget_channel(services.writer.channel_namespace)],
        )
    if not result.duplicate and not files and result.created_at is not None:
        own = own_new_message(
            result.message_id,
            result.created_at,
            text=inbound.text,
            channel=inbound.channel,
            client_id=client_id,
        )
        return Response(own, status_code=201)
    visitor = await find_visitor(db_session, token)
    shown = await visible_messages_by_id(
        db_session, visitor, [result.message_id], secret_key=settings.secret_key
    )
    return Response(shown[result.message_id], status_code=200 if result.duplicate else 201)


@post(
    "/widget/v1/read",
    status_code=204,
    tags=["widget"],
    summary="The visitor has seen our answers up to a message",
)
async def mark_read(
    request: Request[Any, Any, Any],
    data: JSONBody[ReadIn],
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
) -> None:
    visitor = await _visitor(request, services, db_session)
    await limits.check_read(services, visitor.token, client_address(request))
    await do_visitor_read(services.writer, visitor, up_to_message_id=data.message_id)


@post(
    "/widget/v1/email",
    status_code=200,
    tags=["widget"],
    summary="Reply by email: the visitor leaves an address",
)
async def leave_email(
    request: Request[Any, Any, Any],
    data: JSONBody[EmailIn],
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
) -> EmailOut:
    visitor = await _visitor(request, services, db_session)
    await limits.check_send(services, visitor.token, client_address(request))
    try:
        email = clean_email(data.email)
    except VisitorMessageError as exc:
        raise InvalidInputError(str(exc), type_slug="invalid-email") from None
    if email is None:
        raise InvalidInputError("an email address is needed", type_slug="invalid-email")
    await do_leave_email(services.writer, visitor, email=email)
    return EmailOut(email=email)


@get(
    "/widget/v1/attachments/{attachment_id:int}",
    tags=["widget"],
    summary="A file of the visitor's conversation (signed link)",
)
async def download(
    services: NamedDependency[Services],
    db_session: NamedDependency[AsyncSession],
    attachment_id: FromPath[int],
    exp: FromQuery[int] = 0,
    sig: FromQuery[str] = "",
) -> File:
    if not attachment_signature_valid(services.settings.secret_key, attachment_id, exp, sig):
        raise ForbiddenError("this file link is not genuine or has expired", type_slug="bad-file-link")
    attachment: Attachment | None = await visitor_may_download(db_session, attachment_id)
    return stored_file(services, attachment_id, attachment)


route_handlers = [open_session, mark_read, leave_email, download]
upload_handlers = [list_messages, send_message]
"""Mounted under the upload body limit (a visitor may attach a file; one path's methods together)."""
