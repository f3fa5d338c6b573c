"""The custom channel's inbound endpoint (API.md "Custom channel")."""

from __future__ import annotations

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from app.domain.accounts.auth import bearer_token
from app.domain.channels import email_webhook, messenger_webhook, telegram_webhook
from app.domain.channels.accounts import authenticate_inbound
from app.domain.inbox.actions import do_ingest
from app.domain.system.services import Services
from app.lib.errors import InvalidInputError
from integrations.custom import InboundPayloadError, parse_inbound


class InboundAccepted(msgspec.Struct):
    message_id: int
    thread_id: int
    contact_id: int
    duplicate: bool


@post(
    "/api/v1/channels/{account_id:str}/inbound",
    status_code=202,
    tags=["channels"],
    summary="A message from a custom source; retries with the same external_id are stored once",
)
async def custom_inbound(
    request: Request,  # type: ignore[type-arg]
    services: NamedDependency[Services],
    account_id: FromPath[str],
) -> InboundAccepted:
    writer, settings = services.writer, services.settings
    account = await authenticate_inbound(writer, account_id, "api", bearer_token(request))
    body = await request.body()
    try:
        inbound = parse_inbound(
            account.id,
            body,
            default_region=settings.default_phone_region,
            max_text_chars=settings.max_text_chars,
        )
    except InboundPayloadError as exc:
        raise InvalidInputError(str(exc), type_slug="invalid-inbound-message") from None
    result = await do_ingest(writer, inbound)
    await services.jobs.after_ingest(result)
    return InboundAccepted(
        message_id=result.message_id,
        thread_id=result.thread_id,
        contact_id=result.contact_id,
        duplicate=result.duplicate,
    )


route_handlers = [
    custom_inbound,
    *messenger_webhook.route_handlers,
    *telegram_webhook.route_handlers,
]
mail_handlers = email_webhook.route_handlers
"""Mounted under the raw-mail size limit (``Settings.max_mail_bytes``), not the general one."""
