"""Telegram's webhook (API.md "Webhooks"): one update per POST, from the account's bot.

Telegram retries any non-2xx answer "a reasonable amount of times", so only requests that are not
Telegram's (a wrong secret, a body that is not JSON) get a 4xx. Everything Telegram may send is
acknowledged with 200: a message once stored (a retry of it is stored once, keyed by the bot and
``update_id``), an update the inbox has no use for (a group chat) after a log line,
and an update the parser cannot read after a log line with its ``update_id`` — answering that one
with an error would only bring the same poison update back until Telegram gives up.

A press on one of the bot's inline buttons is stored as the customer's message (keyed by the
callback query's id, so a retry is stored once) and then answered with ``answerCallbackQuery``,
which stops the spinner on the customer's button; that call failing is logged, never an error
for Telegram.
"""

from __future__ import annotations

import dataclasses
import logging

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from app.domain.channels.accounts import cached_account
from app.domain.channels.deep_links import do_link_deep_link, read_contact_token, start_parameter
from app.domain.inbox.actions import do_ingest
from app.domain.inbox.edits import do_edit_inbound
from app.domain.system.services import Services
from app.lib.errors import DomainError, ForbiddenError, NotFoundError
from app.lib.secrets import same_secret
from integrations.telegram import (
    BOT_TOKEN_KEY,
    CHANNEL,
    SECRET_HEADER,
    IgnoredUpdate,
    TelegramAdapter,
    UnreadableUpdateError,
    UpdateJSONError,
    bot_id_from_token,
    callback_query_id,
    parse_update,
    webhook_secret,
)
from integrations.types import AccountConfig, InboundEdit, InboundMessage

log = logging.getLogger(__name__)


class InvalidUpdateError(DomainError):
    """The body is not JSON (or not an object): no Telegram server sent it."""

    status_code = 400
    type_slug = "invalid-webhook-body"
    title = "Invalid webhook body"


class UpdateAck(msgspec.Struct, omit_defaults=True):
    """What we answer Telegram (which reads only the status); the fields help people debugging."""

    ok: bool
    message_id: int | None = None
    duplicate: bool | None = None
    """Set with ``message_id``: whether this update had been stored before (a retry)."""
    ignored: str | None = None
    """Why nothing was stored, when nothing was."""
    edited: bool | None = None
    """Set for an edit: whether it changed the stored message (a retry or a stale edit does not)."""


@post(
    "/webhooks/telegram/{account_id:str}",
    status_code=200,
    tags=["webhooks"],
    summary="An update from the account's Telegram bot; retries of an update_id are stored once",
)
async def telegram_webhook(
    request: Request,  # type: ignore[type-arg]
    services: NamedDependency[Services],
    account_id: FromPath[str],
) -> UpdateAck:
    writer, settings = services.writer, services.settings
    account = await cached_account(writer, account_id)
    if account is None or account.channel != CHANNEL:
        raise NotFoundError("no such Telegram account", type_slug="account-not-found")
    expected = webhook_secret(account.secrets)
    given = request.headers.get(SECRET_HEADER, "")
    if not given or not expected or not same_secret(given, expected):
        raise ForbiddenError(
            f"the {SECRET_HEADER} header is missing or wrong", type_slug="bad-webhook-secret"
        )
    body = await request.body()
    try:
        parsed = parse_update(
            account.id,
            body,
            bot_id=bot_id_from_token(account.secrets.get(BOT_TOKEN_KEY)),
            default_region=settings.default_phone_region,
            max_text_chars=settings.max_text_chars,
        )
    except UpdateJSONError as exc:
        raise InvalidUpdateError(str(exc)) from None
    except UnreadableUpdateError as exc:
        log.warning(
            "telegram account %s: update %s could not be read (%s); acknowledged and dropped",
            account.id,
            exc.update_id,
            exc.error,
        )
        return UpdateAck(ok=True, ignored="unreadable update")
    if isinstance(parsed, IgnoredUpdate):
        log.info("telegram account %s: update %s ignored (%s)", account.id, parsed.update_id, parsed.reason)
        return UpdateAck(ok=True, ignored=parsed.reason)
    if isinstance(parsed, InboundEdit):
        edit = await do_edit_inbound(writer, parsed, max_attachment_bytes=settings.max_attachment_bytes)
        if edit.pending_attachments and not edit.duplicate:
            await services.jobs.enqueue_fetch(edit.pending_attachments)
        return UpdateAck(ok=True, message_id=edit.message_id, duplicate=edit.duplicate, edited=edit.applied)
    parsed = await _follow_deep_link(services, parsed)
    result = await do_ingest(writer, parsed, max_attachment_bytes=settings.max_attachment_bytes)
    await services.jobs.after_ingest(result)
    await _answer_button_press(services, account, parsed)
    return UpdateAck(ok=True, message_id=result.message_id, duplicate=result.duplicate)


async def _answer_button_press(services: Services, account: AccountConfig, message: InboundMessage) -> None:
    """A stored button press (a retried one too: the first answer may not have arrived) is
    answered, so the customer's client stops showing progress on the button."""
    query_id = callback_query_id(message)
    if query_id is None or CHANNEL not in services.registry:
        return
    adapter = services.registry.get(CHANNEL)
    if isinstance(adapter, TelegramAdapter):
        await adapter.answer_callback_query(account, query_id)


async def _follow_deep_link(services: Services, message: InboundMessage) -> InboundMessage:
    """``/start <token>`` from a link an agent gave out: the sender joins the contact it names
    before the message is stored, so the message lands in that contact's thread, stored as a bare
    ``/start`` (the token is a credential, not words for the timeline). Any other payload (an
    invalid or expired token, a campaign tag) leaves an ordinary first message."""
    payload = start_parameter(message.text)
    if payload is None:
        return message
    contact_id = read_contact_token(services.settings.secret_key, payload)
    if contact_id is None:
        return message
    linked = await do_link_deep_link(
        services.writer,
        account_id=message.account_id,
        external_id=message.external_id,
        contact_id=contact_id,
        sender=message.sender,
    )
    if linked is not None:
        log.info(
            "telegram account %s: a deep link joined the sender to contact %s%s",
            message.account_id,
            linked.contact_id,
            f" (merge {linked.merge_id})" if linked.merge_id else "",
        )
    return dataclasses.replace(message, text="/start")


route_handlers = [telegram_webhook]
